"""Demo data for `seed_demo`: a small call center with two months of leads.

Leads go through the services, with historical times, so the demo timelines, stage
history and audit trail look exactly like the real thing. The admissions records of
the leads that got far (pre-screens, VOBs, admissions, consents) are then written
in bulk, timed by that stage history.
"""

import math
import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from leads import services as lead_services
from leads.models import (
    Activity,
    Admission,
    AsamLevel,
    CallerRelationship,
    Channel,
    CoveredLevel,
    InsuranceVerification,
    Lead,
    LeadSource,
    LevelOfCare,
    LevelOfCareBenefit,
    LostReason,
    Part2Consent,
    PartnerFacility,
    Payer,
    PlanType,
    PreScreen,
    Priority,
    Program,
    RoutingRule,
    Stage,
    StageChange,
    Substance,
    Urgency,
    VerificationEvent,
    YesNoUnknown,
)
from notifications import services as sms_services
from notifications.models import ConsentEvent

from .models import Team, User

CONSENT_TEXT = (
    "By checking this box I agree to receive calls and texts about my inquiry at the "
    "number provided, including by automated means. Consent is not a condition of "
    "treatment. Msg & data rates may apply. Reply STOP to opt out."
)

DEMO_USERS = [
    # username, first, last, role, team slugs (member), team slugs (supervisor)
    ("admin", "Alex", "Morgan", User.Role.ADMIN, [], []),
    (
        "supervisor1",
        "Dana",
        "Whitfield",
        User.Role.SUPERVISOR,
        [],
        ["outpatient", "residential"],
    ),
    ("counselor1", "Maya", "Torres", User.Role.COUNSELOR, ["outpatient"], []),
    ("counselor2", "Jordan", "Reyes", User.Role.COUNSELOR, ["outpatient"], []),
    ("counselor3", "Sam", "Okafor", User.Role.COUNSELOR, ["residential"], []),
    (
        "verifier1",
        "Priya",
        "Shah",
        User.Role.VERIFIER,
        ["outpatient", "residential"],
        [],
    ),
]
DEMO_MAIN_NUMBER = "+18885550142"
DEMO_TEAMS = [
    ("outpatient", "Outpatient admissions (IOP / PHP / OP)"),
    ("residential", "Residential & detox admissions"),
]


@dataclass(frozen=True)
class DemoSource:
    slug: str
    name: str
    kind: str
    channel: str
    attribution: dict


DEMO_SOURCES = [
    DemoSource(
        "iop-page-form",
        "IOP page – Request a call form",
        LeadSource.Kind.WEB_FORM,
        Channel.WEB_FORM,
        {
            "landing_page": "https://www.example-recovery.org/programs/intensive-outpatient-iop/",
            "referrer": "https://www.google.com/",
            "utm_source": "google",
            "utm_medium": "organic",
        },
    ),
    DemoSource(
        "google-ads-landing",
        "Google Ads – Rehab near me landing page",
        LeadSource.Kind.WEB_FORM,
        Channel.WEB_FORM,
        {
            "landing_page": "https://www.example-recovery.org/lp/rehab-that-takes-insurance/",
            "referrer": "https://www.google.com/",
            "utm_source": "google",
            "utm_medium": "cpc",
            "utm_campaign": "rehab-insurance-search",
            "campaign": "Rehab – insurance (search)",
        },
    ),
    DemoSource(
        "tracking-main",
        "Main tracking number (888) 555-0142",
        LeadSource.Kind.PHONE,
        Channel.PHONE,
        {"tracking_number": DEMO_MAIN_NUMBER, "campaign": "Website header number"},
    ),
    DemoSource(
        "referral-harbor",
        "Referral partner – Harbor Behavioral Health",
        LeadSource.Kind.REFERRAL,
        Channel.REFERRAL,
        {"campaign": "Harbor Behavioral Health referrals"},
    ),
]
SOURCE_WEIGHTS = [0.35, 0.30, 0.25, 0.10]

FIRST_NAMES = [
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Christopher",
    "Karen",
    "Daniel",
    "Lisa",
    "Matthew",
    "Nancy",
    "Anthony",
    "Betty",
    "Mark",
    "Sandra",
    "Steven",
    "Ashley",
    "Andrew",
    "Emily",
    "Joshua",
    "Michelle",
    "Kevin",
    "Amanda",
    "Brian",
    "Melissa",
    "Tyler",
    "Rebecca",
    "Luis",
    "Carmen",
    "Jose",
    "Rosa",
    "Marcus",
    "Tasha",
    "Cody",
    "Brittany",
]
LAST_NAMES = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
]
# Area codes by state; 555-0100..0199 is reserved for fiction in every one of them.
AREA_CODES = {
    "FL": ["305", "407", "561", "727", "904"],
    "CA": ["213", "415", "619", "714"],
    "TX": ["214", "512", "713"],
    "NY": ["212", "516", "718"],
    "PA": ["215", "412"],
    "OH": ["216", "614"],
    "IL": ["312", "773"],
    "NJ": ["201", "732"],
    "GA": ["404"],
    "AZ": ["602"],
    "MA": ["617"],
    "TN": ["615"],
    "CO": ["303"],
}
STATE_WEIGHTS = {
    "FL": 30,
    "CA": 12,
    "TX": 10,
    "NY": 8,
    "PA": 8,
    "OH": 6,
    "IL": 5,
    "NJ": 6,
    "GA": 4,
    "AZ": 4,
    "MA": 3,
    "TN": 2,
    "CO": 2,
}
PAYERS = [
    "Aetna",
    "Blue Cross Blue Shield",
    "Cigna",
    "UnitedHealthcare",
    "Humana",
    "Ambetter",
    "Optum",
    "Tricare",
    "Medicaid",
    "",
]
LEVEL_WEIGHTS = {
    LevelOfCare.DETOX: 18,
    LevelOfCare.RESIDENTIAL: 22,
    LevelOfCare.PHP: 12,
    LevelOfCare.IOP: 25,
    LevelOfCare.OUTPATIENT: 8,
    LevelOfCare.AFTERCARE: 3,
    LevelOfCare.UNSURE: 12,
}
RESIDENTIAL_LEVELS = {LevelOfCare.DETOX, LevelOfCare.RESIDENTIAL}

# Where a lead's journey stops, with roughly what share of leads stop there.
FUNNEL_PATH = [
    Stage.NEW,
    Stage.ATTEMPTING_CONTACT,
    Stage.CONTACTED,
    Stage.ASSESSMENT,
    Stage.INSURANCE_VERIFICATION,
    Stage.CLINICAL_REVIEW,
    Stage.ADMISSION_SCHEDULED,
    Stage.ADMITTED,
]
LOST_REASONS_BY_STAGE = {
    Stage.NEW: [LostReason.SPAM, LostReason.DUPLICATE],
    Stage.ATTEMPTING_CONTACT: [LostReason.UNREACHABLE],
    Stage.CONTACTED: [LostReason.NOT_READY, LostReason.CHOSE_OTHER_PROVIDER],
    Stage.ASSESSMENT: [LostReason.CLINICAL_MISMATCH, LostReason.NOT_READY],
    Stage.INSURANCE_VERIFICATION: [LostReason.NO_USABLE_COVERAGE],
    Stage.CLINICAL_REVIEW: [LostReason.CLINICAL_MISMATCH],
    Stage.ADMISSION_SCHEDULED: [LostReason.NO_SHOW, LostReason.CHOSE_OTHER_PROVIDER],
}
NOTES = [
    "Left voicemail, will try again this afternoon.",
    "Spoke with caller; wants to start as soon as possible. Sent our address.",
    "Caller asked about family visiting hours and phone policy.",
    "Prefers a call after 5pm on weekdays.",
    "Asked whether we accept their plan; requested card photos by secure link.",
    "Discussed program schedule (3 h/day, 3 days/week) and transportation.",
]


def _fresh_phone(state: str, used: set[str]) -> str:
    """A fictional number (555-01xx), in the state's area codes when one is left,
    that no other demo lead has: one open lead per phone is a database rule."""
    preferred = AREA_CODES[state]
    others = [code for codes in AREA_CODES.values() for code in codes]
    for code in [*preferred, *others]:
        for line in range(100):
            phone = f"+1{code}55501{line:02d}"
            if phone not in used:
                used.add(phone)
                return phone
    raise RuntimeError("no fictional demo phone numbers left")


def seed_users(*, password: str) -> dict[str, User]:
    teams = {
        slug: Team.objects.get_or_create(slug=slug, defaults={"name": name})[0]
        for slug, name in DEMO_TEAMS
    }
    users = {}
    for username, first, last, role, member_of, supervises in DEMO_USERS:
        user, _ = User.objects.get_or_create(
            username=username,
            defaults={
                "first_name": first,
                "last_name": last,
                "email": f"{username}@example-recovery.org",
                "role": role,
                "is_staff": role in (User.Role.SUPERVISOR, User.Role.ADMIN),
                "is_superuser": role == User.Role.ADMIN,
                "presence": User.Presence.AVAILABLE
                if role == User.Role.COUNSELOR
                else User.Presence.OFFLINE,
                # The demo's history already gives each counselor a full book;
                # room is left so that new inquiries still route to them.
                "max_open_leads": 400,
                # Fictional numbers, so that `simulate_call` has phones to ring.
                "phone": f"+1888555{len(users) + 150:04d}"
                if role == User.Role.COUNSELOR
                else "",
            },
        )
        user.set_password(password)
        user.save(update_fields=["password"])
        for slug in member_of:
            teams[slug].members.add(user)
        for slug in supervises:
            teams[slug].supervisors.add(user)
        users[username] = user
    return users


def seed_sources() -> dict[str, LeadSource]:
    outpatient = Team.objects.filter(slug="outpatient").first()
    return {
        source.slug: LeadSource.objects.get_or_create(
            slug=source.slug,
            defaults={"name": source.name, "kind": source.kind, "team": outpatient},
        )[0]
        for source in DEMO_SOURCES
    }


def seed_tracking_numbers() -> int:
    """The demo's main number, so that `simulate_call --to +18885550142` rings."""
    from telephony.models import TrackingNumber

    source = LeadSource.objects.filter(slug="tracking-main").first()
    team = Team.objects.filter(slug="outpatient").first()
    if (
        source is None
        or TrackingNumber.objects.filter(number=DEMO_MAIN_NUMBER).exists()
    ):
        return 0
    TrackingNumber.objects.create(
        number=DEMO_MAIN_NUMBER,
        name="Website header number",
        source=source,
        campaign="Website header number",
        landing_page="https://www.example-recovery.org/",
        team=team,
        greeting="Thank you for calling Example Recovery admissions.",
    )
    return 1


def seed_routing() -> int:
    """Residential and detox inquiries to the residential team, the rest to
    outpatient: the two rules most centers start with."""
    if RoutingRule.objects.exists():
        return 0
    teams = {
        team.slug: team
        for team in Team.objects.filter(slug__in=["outpatient", "residential"])
    }
    if len(teams) < 2:
        return 0
    RoutingRule.objects.create(
        position=10,
        name="Residential and detox",
        team=teams["residential"],
        levels_of_care=[LevelOfCare.RESIDENTIAL, LevelOfCare.DETOX],
    )
    RoutingRule.objects.create(
        position=100, name="Everything else", team=teams["outpatient"]
    )
    return 2


def _final_stage(rng: random.Random, age_days: float) -> tuple[str, bool]:
    """Pick how far a lead got; young leads have not had time to go far."""
    reach = rng.choices(
        range(len(FUNNEL_PATH)), weights=[6, 14, 16, 16, 14, 10, 8, 16]
    )[0]
    if age_days < 1:
        reach = min(reach, 2)
    elif age_days < 4:
        reach = min(reach, 5)
    final = FUNNEL_PATH[reach]
    lost = final != Stage.ADMITTED and age_days > 3 and rng.random() < 0.45
    return final, lost


@transaction.atomic
def seed_leads(
    *,
    users: dict[str, User],
    sources: dict[str, LeadSource],
    count: int,
    now: datetime | None = None,
    seed: int = 2026,
) -> int:
    rng = random.Random(seed)
    now = now or timezone.now()
    teams = {team.slug: team for team in Team.objects.all()}
    team_counselors = {
        "outpatient": [users["counselor1"], users["counselor2"]],
        "residential": [users["counselor3"]],
    }
    supervisor = users["supervisor1"]
    demo_sources = {source.slug: source for source in DEMO_SOURCES}
    states = list(STATE_WEIGHTS)
    phones_used = {str(phone) for phone in Lead.objects.values_list("phone", flat=True)}
    created = 0
    for index in range(count):
        age_days = rng.uniform(0, 60) ** 1.1 / 60**0.1
        created_at = now - timedelta(days=age_days, minutes=rng.randint(0, 90))
        created_at = created_at.replace(hour=rng.choice(range(7, 23)))
        if created_at > now:
            created_at = now - timedelta(minutes=rng.randint(1, 59))
        spec = rng.choices(DEMO_SOURCES, weights=SOURCE_WEIGHTS)[0]
        level = rng.choices(list(LEVEL_WEIGHTS), weights=list(LEVEL_WEIGHTS.values()))[
            0
        ]
        team_slug = "residential" if level in RESIDENTIAL_LEVELS else "outpatient"
        owner = rng.choice(team_counselors[team_slug])
        state = rng.choices(states, weights=list(STATE_WEIGHTS.values()))[0]
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        for_loved_one = rng.random() < 0.35
        caller = {}
        if for_loved_one:
            caller = {
                "caller_relationship": rng.choice(
                    [
                        CallerRelationship.PARENT,
                        CallerRelationship.SPOUSE,
                        CallerRelationship.SIBLING,
                        CallerRelationship.CHILD,
                    ]
                ),
                "caller_first_name": rng.choice(FIRST_NAMES),
                "caller_last_name": last,
                "caller_phone": _fresh_phone(state, phones_used),
                "patient_consents_to_caller": rng.choice(
                    [YesNoUnknown.YES, YesNoUnknown.UNKNOWN]
                ),
            }
        payer = rng.choice(PAYERS)
        attribution = {"source": sources[spec.slug], **spec.attribution}
        if spec.attribution.get("utm_medium") == "cpc":
            attribution["gclid"] = f"Cj0KCQiA{rng.getrandbits(64):016x}"
        lead = lead_services.lead_create(
            by=None,
            channel=spec.channel,
            team=teams[team_slug],
            owner=owner,
            attribution=attribution,
            touch_summary="Requested a call about " + LevelOfCare(level).label.lower(),
            at=created_at,
            first_name=first,
            last_name=last,
            phone=_fresh_phone(state, phones_used),
            email=f"{first}.{last}{index}@example.com".lower()
            if rng.random() < 0.6
            else "",
            state=state,
            level_of_care=level,
            substances=rng.sample(list(Substance.values), k=rng.choice([1, 1, 2])),
            co_occurring_mental_health=rng.choice(YesNoUnknown.values),
            urgency=rng.choices(Urgency.values, weights=[50, 30, 17, 3])[0],
            priority=Priority.HIGH if level in RESIDENTIAL_LEVELS else Priority.NORMAL,
            insurance_payer=payer,
            insurance_member_id=f"{rng.choice('ABCHMUW')}{rng.randint(10**8, 10**9)}"
            if payer
            else "",
            **caller,
        )
        created += 1
        _seed_consent(rng=rng, lead=lead, channel=spec.channel, at=created_at, now=now)
        _walk_funnel(
            rng=rng,
            lead=lead,
            owner=owner,
            supervisor=supervisor,
            created_at=created_at,
            age_days=age_days,
            now=now,
        )
        if rng.random() < 0.12:
            repeat_at = created_at + timedelta(hours=rng.uniform(2, 48))
            if repeat_at < now:
                lead_services.touch_record(
                    lead=lead,
                    channel=Channel.PHONE,
                    attribution={
                        "source": sources["tracking-main"],
                        **demo_sources["tracking-main"].attribution,
                    },
                    summary="Called back the main number",
                    at=repeat_at,
                )
    # Assigning history's leads alerted their owners; none of it is news today.
    for user in users.values():
        sms_services.alerts_mark_read(user=user)
    return created


def _seed_consent(
    *, rng: random.Random, lead, channel: str, at: datetime, now: datetime
) -> None:
    """Most people tick the texting box or agree on the call; a few later say STOP."""
    if rng.random() > 0.75:
        return
    web = channel == Channel.WEB_FORM
    sms_services.consent_record(
        phone=str(lead.phone),
        kind=ConsentEvent.Kind.OPT_IN,
        source=ConsentEvent.Source.WEB_FORM if web else ConsentEvent.Source.COUNSELOR,
        lead=lead,
        text=CONSENT_TEXT if web else "Agreed to texts on the first call.",
        text_version="2026-01" if web else "",
        at=at,
    )
    opt_out_at = at + timedelta(hours=rng.uniform(1, 72))
    if rng.random() < 0.05 and opt_out_at < now:
        sms_services.consent_record(
            phone=str(lead.phone),
            kind=ConsentEvent.Kind.OPT_OUT,
            source=ConsentEvent.Source.KEYWORD,
            lead=lead,
            text="STOP",
            at=opt_out_at,
        )


def _walk_funnel(
    *,
    rng: random.Random,
    lead: Lead,
    owner: User,
    supervisor: User,
    created_at: datetime,
    age_days: float,
    now: datetime,
) -> None:
    final, lost = _final_stage(rng, age_days)
    at = created_at
    # Speed to lead: most first responses within minutes, a tail of hours.
    step = timedelta(minutes=rng.choice([1, 2, 3, 4, 6, 9, 15, 40, 180]))
    path = FUNNEL_PATH[1 : FUNNEL_PATH.index(final) + 1]
    if len(path) > 1 and rng.random() < 0.4:
        path = path[1:]  # answered on the first attempt: straight to contacted
    for stage in path:
        at = at + step
        if at >= now:
            return
        lead = lead_services.lead_transition(lead=lead, to=stage, by=owner, at=at)
        if rng.random() < 0.3:
            lead_services.lead_add_note(
                lead=lead,
                by=owner,
                body=rng.choice(NOTES),
                at=at + timedelta(minutes=3),
            )
        step = timedelta(hours=rng.uniform(2, 30))
    if lost and lead.stage in LOST_REASONS_BY_STAGE:
        at = at + timedelta(days=rng.uniform(0.5, 3))
        if at < now:
            lead_services.lead_transition(
                lead=lead,
                to=Stage.LOST,
                by=owner,
                at=at,
                reason=rng.choice(LOST_REASONS_BY_STAGE[lead.stage]),
            )
    elif lead.stage == Stage.CLINICAL_REVIEW and rng.random() < 0.1:
        at = at + timedelta(hours=6)
        if at < now:
            lead_services.lead_transition(
                lead=lead,
                to=Stage.REFERRED_OUT,
                by=supervisor,
                at=at,
                reason="Needs medically managed inpatient care we do not offer.",
                referred_to="St. Vincent Medical Detox",
            )


# --- Programs, partner facilities, and the second half of the funnel ----------------


@dataclass(frozen=True)
class DemoProgram:
    name: str
    facility_name: str
    street: str
    city: str
    state: str
    postal_code: str
    phone: str
    levels_of_care: list[str]
    payers: list[str]  # names from the payer list (migration 0006_payer_list)
    states_served: list[str]
    capacity: int
    open_beds: int
    accepts_self_pay: bool = True


# Fictional facilities; phone numbers in the 555-01xx range kept for fiction.
DEMO_PROGRAMS = [
    DemoProgram(
        "Palm Harbor Recovery – Detox & Residential",
        "Palm Harbor Recovery Center",
        "2150 Gulf Breeze Pkwy",
        "Clearwater",
        "FL",
        "33755",
        "+17275550110",
        [CoveredLevel.DETOX, CoveredLevel.RESIDENTIAL],
        [
            "Aetna",
            "Anthem Blue Cross Blue Shield",
            "Blue Cross Blue Shield (other plans)",
            "Cigna",
            "UnitedHealthcare",
            "Humana",
            "TRICARE East",
        ],
        [],
        48,
        6,
    ),
    DemoProgram(
        "Palm Harbor Recovery – PHP & IOP",
        "Palm Harbor Recovery Center",
        "2150 Gulf Breeze Pkwy",
        "Clearwater",
        "FL",
        "33755",
        "+17275550111",
        [CoveredLevel.PHP, CoveredLevel.IOP, CoveredLevel.OUTPATIENT],
        [
            "Aetna",
            "Anthem Blue Cross Blue Shield",
            "Blue Cross Blue Shield (other plans)",
            "Cigna",
            "UnitedHealthcare",
            "Ambetter",
            "Oscar Health",
        ],
        ["FL"],
        60,
        14,
    ),
    DemoProgram(
        "Cedar Hollow Treatment Center",
        "Cedar Hollow Treatment Center",
        "88 Laurel Ridge Rd",
        "Asheville",
        "NC",
        "28803",
        "+18285550120",
        [CoveredLevel.DETOX, CoveredLevel.RESIDENTIAL, CoveredLevel.PHP],
        [
            "Aetna",
            "Cigna",
            "UnitedHealthcare",
            "Blue Cross Blue Shield (other plans)",
            "Magellan Health",
            "TRICARE East",
        ],
        ["NC", "SC", "TN", "GA", "VA", "FL", "OH", "PA"],
        36,
        3,
    ),
    DemoProgram(
        "Desert Bloom Outpatient",
        "Desert Bloom Behavioral Health",
        "7400 E Camelback Rd, Suite 210",
        "Scottsdale",
        "AZ",
        "85251",
        "+14805550130",
        [CoveredLevel.PHP, CoveredLevel.IOP, CoveredLevel.OUTPATIENT],
        [
            "UnitedHealthcare",
            "Cigna",
            "Aetna",
            "Molina Healthcare",
            "Centene / state Medicaid plans",
        ],
        ["AZ", "CA", "CO", "TX"],
        40,
        11,
    ),
    DemoProgram(
        "Lakeshore Women's Residential",
        "Lakeshore Recovery for Women",
        "1320 Sheridan Rd",
        "Evanston",
        "IL",
        "60201",
        "+18475550140",
        [CoveredLevel.RESIDENTIAL],
        [
            "Blue Cross Blue Shield (other plans)",
            "Aetna",
            "Cigna",
            "UnitedHealthcare",
        ],
        ["IL", "WI", "IN", "MI", "OH", "NY", "NJ", "MA"],
        24,
        0,
        accepts_self_pay=False,
    ),
]
DEMO_PARTNERS = [
    # name, city, state, phone, levels, notes
    (
        "St. Vincent Medical Detox",
        "Jacksonville",
        "FL",
        "+19045550150",
        [CoveredLevel.DETOX],
        "Medically managed inpatient withdrawal (ASAM 4-WM): seizures, DTs history.",
    ),
    (
        "Gulf Coast Dual Diagnosis Center",
        "Sarasota",
        "FL",
        "+19415550160",
        [CoveredLevel.RESIDENTIAL, CoveredLevel.PHP],
        "Psychiatric stabilization with SUD care for acute co-occurring disorders.",
    ),
    (
        "Sunrise Adolescent Recovery",
        "Orlando",
        "FL",
        "+14075550170",
        [CoveredLevel.RESIDENTIAL, CoveredLevel.IOP],
        "Ages 13–17; family program on weekends.",
    ),
]


def seed_programs() -> int:
    """The programs counselors admit into and the partners they refer out to.

    Idempotent: rows are found by name; a program's payers are set only when it
    is created, so an admin's changes stay.
    """
    payers = {payer.name: payer for payer in Payer.objects.filter(is_active=True)}
    created = 0
    for spec in DEMO_PROGRAMS:
        program, made = Program.objects.get_or_create(
            name=spec.name,
            defaults={
                "facility_name": spec.facility_name,
                "street": spec.street,
                "city": spec.city,
                "state": spec.state,
                "postal_code": spec.postal_code,
                "phone": spec.phone,
                "levels_of_care": list(spec.levels_of_care),
                "accepts_self_pay": spec.accepts_self_pay,
                "states_served": spec.states_served,
                "capacity": spec.capacity,
                "open_beds": spec.open_beds,
            },
        )
        if made:
            program.payers.set([payers[name] for name in spec.payers if name in payers])
            created += 1
    for name, city, state, phone, levels, notes in DEMO_PARTNERS:
        created += PartnerFacility.objects.get_or_create(
            name=name,
            defaults={
                "city": city,
                "state": state,
                "phone": phone,
                "levels_of_care": list(levels),
                "notes": notes,
            },
        )[1]
    return created


# The payer list's name for what callers say their insurance is.
PAYER_ON_LIST = {
    "Aetna": "Aetna",
    "Blue Cross Blue Shield": "Anthem Blue Cross Blue Shield",
    "Cigna": "Cigna",
    "UnitedHealthcare": "UnitedHealthcare",
    "Humana": "Humana",
    "Ambetter": "Ambetter",
    "Tricare": "TRICARE East",
    "Medicaid": "State Medicaid (fee for service)",
}
PLAN_TYPES = {
    "State Medicaid (fee for service)": [PlanType.MEDICAID],
    "TRICARE East": [PlanType.TRICARE],
    "Humana": [PlanType.MEDICARE_ADVANTAGE, PlanType.PPO, PlanType.HMO],
    "Ambetter": [PlanType.EPO, PlanType.HMO],
}
LEAD_TO_COVERED = {
    LevelOfCare.DETOX: CoveredLevel.DETOX,
    LevelOfCare.RESIDENTIAL: CoveredLevel.RESIDENTIAL,
    LevelOfCare.PHP: CoveredLevel.PHP,
    LevelOfCare.IOP: CoveredLevel.IOP,
    LevelOfCare.OUTPATIENT: CoveredLevel.OUTPATIENT,
    LevelOfCare.AFTERCARE: CoveredLevel.OUTPATIENT,
    LevelOfCare.UNSURE: CoveredLevel.IOP,
}
LEAD_TO_ASAM = {
    LevelOfCare.DETOX: [AsamLevel.WITHDRAWAL_MANAGEMENT],
    LevelOfCare.RESIDENTIAL: [AsamLevel.LEVEL_3_5, AsamLevel.LEVEL_3_7],
    LevelOfCare.PHP: [AsamLevel.LEVEL_2_5],
    LevelOfCare.IOP: [AsamLevel.LEVEL_2_1],
    LevelOfCare.OUTPATIENT: [AsamLevel.LEVEL_1],
    LevelOfCare.AFTERCARE: [AsamLevel.LEVEL_1],
    LevelOfCare.UNSURE: [AsamLevel.LEVEL_2_1, AsamLevel.LEVEL_3_5],
}
# Where an ASAM level sits, 0 (outpatient) to 3 (withdrawal management): the
# dimension scores of the demo pre-screens grow with it.
ASAM_SEVERITY = {
    AsamLevel.WITHDRAWAL_MANAGEMENT: 3,
    AsamLevel.LEVEL_3_7: 3,
    AsamLevel.LEVEL_3_5: 2,
    AsamLevel.LEVEL_2_5: 1,
    AsamLevel.LEVEL_2_1: 1,
    AsamLevel.LEVEL_1: 0,
}
ROUTES = {
    Substance.ALCOHOL: PreScreen.Route.ORAL,
    Substance.OPIOIDS: PreScreen.Route.SNORTED,
    Substance.FENTANYL: PreScreen.Route.SMOKED,
    Substance.BENZODIAZEPINES: PreScreen.Route.ORAL,
    Substance.STIMULANTS: PreScreen.Route.SMOKED,
    Substance.CANNABIS: PreScreen.Route.SMOKED,
    Substance.KRATOM: PreScreen.Route.ORAL,
    Substance.OTHER: PreScreen.Route.OTHER,
}
MEDICATIONS = [
    "None reported.",
    "Sertraline 50 mg daily.",
    "Lisinopril for blood pressure.",
    "Prescribed buprenorphine, stopped two weeks ago.",
    "Gabapentin, not prescribed.",
    "",
]
UNABLE_NOTES = [
    "Portal could not find the member with this id and date of birth; "
    "asked the counselor for a new card photo.",
    "Payer's provider line on hold over 45 minutes; will retry in the morning.",
    "Behavioral health carve-out not listed on the card; payer could not say who "
    "manages SUD benefits.",
]
DENIED_NOTES = [
    "Coverage terminated at the end of last month (missed premium).",
    "Plan is a short-term medical policy: substance use treatment excluded.",
    "No active coverage found under this member id or the subscriber's.",
]
VERIFIED_NOTES = [
    "Benefits quoted by the payer are not a guarantee of payment.",
    "Pre-authorization needed for residential; UR review every 7 days.",
    "Deductible mostly met this year; family deductible applies.",
]
TRAVEL_NOTES = [
    "Ride arranged from home the morning of admission.",
    "Flight booked; our driver meets the patient at arrivals.",
    "Family member driving; arrival window 10–11 am.",
]
WAITING_WINDOW = timedelta(hours=5)
# Stages whose move times place the admissions records on a lead's timeline.
LATER_STAGES = (
    Stage.ASSESSMENT,
    Stage.INSURANCE_VERIFICATION,
    Stage.CLINICAL_REVIEW,
    Stage.ADMISSION_SCHEDULED,
    Stage.ADMITTED,
    Stage.LOST,
    Stage.REFERRED_OUT,
)


@dataclass
class _AdmissionsRows:
    """Rows to write in bulk, and each VOB's children until the VOBs have ids."""

    prescreens: list = field(default_factory=list)
    vobs: list = field(default_factory=list)
    vob_children: list = field(default_factory=list)
    admissions: list = field(default_factory=list)
    consents: list = field(default_factory=list)
    activities: list = field(default_factory=list)

    def activity(self, lead: Lead, kind: str, actor: User | None, at, summary: str):
        self.activities.append(
            Activity(lead=lead, kind=kind, actor=actor, at=at, summary=summary)
        )


@transaction.atomic
def seed_admissions(
    *, users: dict[str, User], now: datetime | None = None, seed: int = 2026
) -> dict[str, int]:
    """Pre-screens, VOBs, admissions and Part 2 consents for the leads that got
    that far, timed by their stage history (a VOB requested when the lead moved to
    insurance verification, an admission admitted when it moved to admitted).

    Written in bulk straight to the tables, with the timeline lines the services
    would add: the demo's few hundred leads seed in a second.
    """
    rng = random.Random(seed)
    now = now or timezone.now()
    verifier = users["verifier1"]
    people = {user.pk: user for user in users.values()}
    programs = list(Program.objects.filter(is_active=True).prefetch_related("payers"))
    payers = {payer.name: payer for payer in Payer.objects.filter(is_active=True)}
    history: dict[int, list[tuple[str, datetime, int | None]]] = {}
    for lead_id, stage, at, by_id in (
        StageChange.objects.filter(to_stage__in=LATER_STAGES)
        .order_by("lead_id", "at", "id")
        .values_list("lead_id", "to_stage", "at", "by_id")
    ):
        history.setdefault(lead_id, []).append((stage, at, by_id))
    rows = _AdmissionsRows()
    leads = Lead.objects.filter(pk__in=history).select_related("owner").order_by("pk")
    for lead in leads:
        moves = history[lead.pk]
        reached = {}
        for stage, at, by_id in moves:
            reached.setdefault(stage, (at, people.get(by_id) or lead.owner))
        if Stage.ASSESSMENT in reached:
            _demo_prescreens(rng=rng, rows=rows, lead=lead, reached=reached, now=now)
        if Stage.INSURANCE_VERIFICATION in reached:
            _demo_verifications(
                rng=rng,
                rows=rows,
                lead=lead,
                moves=moves,
                reached=reached,
                payers=payers,
                verifier=verifier,
                now=now,
            )
        if Stage.ADMISSION_SCHEDULED in reached and programs:
            _demo_admission(
                rng=rng,
                rows=rows,
                lead=lead,
                reached=reached,
                programs=programs,
                now=now,
            )
    PreScreen.objects.bulk_create(rows.prescreens)
    InsuranceVerification.objects.bulk_create(rows.vobs)
    benefits, events = [], []
    for verification, (level_benefits, steps) in zip(
        rows.vobs, rows.vob_children, strict=True
    ):
        for benefit in level_benefits:
            benefit.verification = verification
            benefits.append(benefit)
        for event in steps:
            event.verification = verification
            events.append(event)
    LevelOfCareBenefit.objects.bulk_create(benefits)
    VerificationEvent.objects.bulk_create(events)
    Admission.objects.bulk_create(rows.admissions)
    Part2Consent.objects.bulk_create(rows.consents)
    Activity.objects.bulk_create(rows.activities)
    return {
        "prescreens": len(rows.prescreens),
        "verifications": len(rows.vobs),
        "admissions": len(rows.admissions),
        "consents": len(rows.consents),
    }


def _demo_prescreens(
    *, rng: random.Random, rows: _AdmissionsRows, lead: Lead, reached: dict, now
) -> None:
    """Version 1 on the assessment call; some leads get a second a day later."""
    at, counselor = reached[Stage.ASSESSMENT]
    at = min(at + timedelta(minutes=rng.randint(8, 25)), now)
    level = rng.choice(LEAD_TO_ASAM[lead.level_of_care])
    severity = ASAM_SEVERITY[level]
    last_use = (at - timedelta(days=rng.choice([0, 1, 1, 2, 3, 6]))).date()
    detox = level == AsamLevel.WITHDRAWAL_MANAGEMENT or (
        severity >= 2 and rng.random() < 0.5
    )
    went_on = Stage.INSURANCE_VERIFICATION in reached

    def score(base: int) -> int:
        return max(0, min(4, base + rng.choice([-1, 0, 0, 1])))

    fields = {
        "lead": lead,
        "created_by": counselor,
        "patient_is": PreScreen.PatientIs.CALLER
        if lead.caller_relationship == CallerRelationship.SELF
        else PreScreen.PatientIs.LOVED_ONE,
        "patient_name": f"{lead.first_name} {lead.last_name}",
        "patient_age": rng.randint(19, 63),
        "patient_gender": rng.choice(["Female", "Male", "Male", "Female", ""]),
        "substances": [
            {
                "substance": substance,
                "route": ROUTES.get(substance, PreScreen.Route.OTHER),
                "frequency": rng.choice(["daily", "daily", "most days", "weekends"]),
                "amount": "",
                "last_use": last_use.isoformat(),
            }
            for substance in lead.substances
        ],
        "last_use_on": last_use,
        "withdrawal_risk": PreScreen.WithdrawalRisk.SEVERE
        if level == AsamLevel.WITHDRAWAL_MANAGEMENT
        else rng.choice(
            [PreScreen.WithdrawalRisk.MODERATE, PreScreen.WithdrawalRisk.MILD]
            if detox
            else [PreScreen.WithdrawalRisk.NONE, PreScreen.WithdrawalRisk.MILD]
        ),
        "detox_needed": YesNoUnknown.YES if detox else YesNoUnknown.NO,
        "co_occurring_mental_health": lead.co_occurring_mental_health,
        "medications": rng.choice(MEDICATIONS),
        "suicidal_thoughts": YesNoUnknown.NO,
        "overdose_last_30_days": YesNoUnknown.NO,
        "legal_issues": rng.choice([YesNoUnknown.NO] * 4 + [YesNoUnknown.YES]),
        "asam_intoxication_withdrawal": score(severity + (1 if detox else 0)),
        "asam_biomedical": score(max(0, severity - 1)),
        "asam_emotional_behavioral": score(
            2 if lead.co_occurring_mental_health == YesNoUnknown.YES else 1
        ),
        "asam_readiness_to_change": score(1),
        "asam_relapse_potential": score(severity + 1),
        "asam_recovery_environment": score(severity),
        "level_of_care_indicated": level,
        "readiness": PreScreen.Readiness.PREPARATION
        if went_on
        else rng.choice(
            [PreScreen.Readiness.CONTEMPLATION, PreScreen.Readiness.PREPARATION]
        ),
    }
    rows.prescreens.append(PreScreen(version=1, created_at=at, **fields))
    rows.activity(lead, Activity.Kind.PRESCREEN, counselor, at, "Pre-screen saved")
    later = at + timedelta(hours=rng.uniform(3, 26))
    if went_on and rng.random() < 0.25 and later < now:
        fields.update(
            readiness=PreScreen.Readiness.ACTION,
            notes="Updated after a family call: ready to start this week.",
        )
        rows.prescreens.append(PreScreen(version=2, created_at=later, **fields))
        rows.activity(
            lead, Activity.Kind.PRESCREEN, counselor, later, "Pre-screen updated"
        )


def _demo_verifications(
    *,
    rng: random.Random,
    rows: _AdmissionsRows,
    lead: Lead,
    moves: list,
    reached: dict,
    payers: dict[str, Payer],
    verifier: User,
    now: datetime,
) -> None:
    """The lead's VOBs: one, or a first that could not be verified and a second."""
    Status = InsuranceVerification.Status
    requested_at, counselor = reached[Stage.INSURANCE_VERIFICATION]
    # The VOB's result comes before the lead's next move.
    next_at = next((at for _, at, _ in moves if at > requested_at), None)
    deadline = min(next_at or now, now) - timedelta(minutes=2)
    went_further = any(
        stage in reached
        for stage in (Stage.CLINICAL_REVIEW, Stage.ADMISSION_SCHEDULED, Stage.ADMITTED)
    )
    waiting_now = None
    if lead.stage == Stage.INSURANCE_VERIFICATION:
        if now - requested_at < WAITING_WINDOW:
            outcomes = [None]
        elif rng.random() < 0.4:
            # Not verified the first time; the counselor asked again just now.
            outcomes = [Status.UNABLE, None]
            waiting_now = now - timedelta(minutes=rng.randint(6, 95))
        else:
            outcomes = [rng.choices(Status.values[2:], weights=[70, 12, 18])[0]]
    elif lead.stage == Stage.LOST and lead.lost_reason == LostReason.NO_USABLE_COVERAGE:
        outcomes = [rng.choices([Status.DENIED, Status.UNABLE], weights=[65, 35])[0]]
    elif went_further:
        outcomes = [rng.choices([Status.VERIFIED, Status.UNABLE], weights=[92, 8])[0]]
        if outcomes == [Status.VERIFIED] and rng.random() < 0.12:
            outcomes = [Status.UNABLE, Status.VERIFIED]
    else:
        outcomes = [rng.choices(Status.values[2:], weights=[60, 20, 20])[0]]
    payer_said = lead.insurance_payer or rng.choice(list(PAYER_ON_LIST))
    payer = payers.get(PAYER_ON_LIST.get(payer_said, ""))
    for number, status in enumerate(outcomes):
        current = number == len(outcomes) - 1
        if number:
            # Asked again some time after the first result, before the next move.
            requested_at = waiting_now or requested_at + (
                deadline - requested_at
            ) * rng.uniform(0.05, 0.3)
        # Turnaround: a median near the 30-minute target and a tail of hours.
        minutes = min(max(rng.lognormvariate(math.log(28), 1.0), 3), 36 * 60)
        completed_at = None
        if status is not None:
            room = deadline - requested_at
            if not current:
                room = room / 3
            completed_at = requested_at + max(
                min(timedelta(minutes=minutes), room), timedelta(minutes=2)
            )
        _demo_vob(
            rng=rng,
            rows=rows,
            lead=lead,
            status=status,
            current=current,
            requested_at=requested_at,
            completed_at=completed_at,
            counselor=counselor,
            verifier=verifier,
            payer=payer,
            payer_said=payer_said,
            now=now,
        )
        if completed_at is not None:
            requested_at = completed_at


def _demo_vob(
    *,
    rng: random.Random,
    rows: _AdmissionsRows,
    lead: Lead,
    status: str | None,
    current: bool,
    requested_at: datetime,
    completed_at: datetime | None,
    counselor: User,
    verifier: User,
    payer: Payer | None,
    payer_said: str,
    now: datetime,
) -> None:
    Status = InsuranceVerification.Status
    started = status is not None or rng.random() < 0.5
    started_at = None
    if started:
        end = completed_at or now
        started_at = requested_at + (end - requested_at) * rng.uniform(0.1, 0.4)
    vob = InsuranceVerification(
        lead=lead,
        is_current=current,
        status=status or (Status.IN_PROGRESS if started else Status.REQUESTED),
        requested_at=requested_at,
        requested_by=counselor,
        request_note=rng.choice(
            ["", "", "Card photos attached.", "Caller is the subscriber's spouse."]
        ),
        verifier=verifier if started else None,
        started_at=started_at,
        completed_at=completed_at,
        completed_by=verifier if completed_at else None,
        payer=payer,
        payer_name="" if payer else payer_said,
        plan_type=rng.choice(
            PLAN_TYPES.get(payer.name if payer else "", [PlanType.PPO, PlanType.HMO])
        ),
        member_id=lead.insurance_member_id
        or f"{rng.choice('HMUWX')}{rng.randint(10**8, 10**9 - 1)}",
        group_number=f"{rng.randint(100000, 999999)}",
        subscriber_name=f"{lead.first_name} {lead.last_name}",
        subscriber_date_of_birth=date(rng.randint(1962, 2004), rng.randint(1, 12), 15),
        method=rng.choices(InsuranceVerification.Method.values, weights=[50, 35, 15])[
            0
        ],
        not_a_guarantee=True,
        behavioral_health_carve_out=payer.behavioral_health_vendor if payer else "",
    )
    vob.patient_date_of_birth = vob.subscriber_date_of_birth
    if vob.method == InsuranceVerification.Method.PHONE:
        vob.payer_rep_name = rng.choice(["Tanya", "Marcus R.", "Denise", "Paul"])
        vob.call_reference = f"REF{rng.randint(10**7, 10**8 - 1)}"
    elif vob.method == InsuranceVerification.Method.ELECTRONIC:
        vob.eligibility_trace = f"DEMO{rng.randint(10**9, 10**10 - 1)}"
    benefits = []
    if status == Status.VERIFIED:
        _demo_benefits(rng=rng, vob=vob, benefits=benefits)
    elif status == Status.DENIED:
        vob.coverage_active = YesNoUnknown.NO
        vob.result_notes = rng.choice(DENIED_NOTES)
    elif status == Status.UNABLE:
        vob.result_notes = rng.choice(UNABLE_NOTES)
    events = [VerificationEvent(status=Status.REQUESTED, at=requested_at, by=counselor)]
    rows.activity(
        lead, Activity.Kind.VERIFICATION, counselor, requested_at, "VOB requested"
    )
    if started_at:
        events.append(
            VerificationEvent(status=Status.IN_PROGRESS, at=started_at, by=verifier)
        )
    if status is not None:
        events.append(VerificationEvent(status=status, at=completed_at, by=verifier))
        summary = {
            Status.VERIFIED: "Benefits verified",
            Status.DENIED: "VOB denied: no usable coverage",
            Status.UNABLE: "Unable to verify benefits",
        }[status]
        rows.activity(lead, Activity.Kind.VERIFICATION, verifier, completed_at, summary)
    rows.vobs.append(vob)
    rows.vob_children.append((benefits, events))


def _demo_benefits(*, rng: random.Random, vob: InsuranceVerification, benefits: list):
    """A verified result: active, network, deductible, out-of-pocket, per level."""
    in_network = rng.random() < 0.65
    deductible = Decimal(rng.choice([500, 1000, 1500, 2500, 3500, 5000, 6500]))
    oop = deductible + Decimal(rng.choice([2000, 3500, 5000]))
    met = Decimal(rng.choice([0, 0.25, 0.5, 0.9])).quantize(Decimal("0.01"))
    coinsurance = Decimal(rng.choice([10, 20, 20, 30, 40]))
    vob.coverage_active = YesNoUnknown.YES
    vob.network_status = (
        InsuranceVerification.Network.IN_NETWORK
        if in_network
        else InsuranceVerification.Network.OUT_OF_NETWORK
    )
    vob.policy_effective_on = date(vob.requested_at.year, 1, 1)
    vob.deductible_individual_in_network = deductible
    vob.deductible_individual_in_network_remaining = (deductible * (1 - met)).quantize(
        Decimal("0.01")
    )
    vob.deductible_family_in_network = deductible * 2
    vob.deductible_individual_out_of_network = deductible * 2
    vob.oop_max_individual_in_network = oop
    vob.oop_max_individual_in_network_remaining = (oop * (1 - met / 2)).quantize(
        Decimal("0.01")
    )
    vob.oop_max_individual_out_of_network = oop * 2
    vob.coinsurance_in_network_percent = coinsurance
    vob.coinsurance_out_of_network_percent = coinsurance + 20
    vob.utilization_review_contact = vob.behavioral_health_carve_out
    vob.result_notes = rng.choice(VERIFIED_NOTES)
    # (level, prior authorization needed, day limit, visit limit)
    for level, auth, days, visits in (
        (CoveredLevel.DETOX, True, rng.choice([5, 7, None]), None),
        (CoveredLevel.RESIDENTIAL, True, rng.choice([21, 30, None]), None),
        (CoveredLevel.PHP, True, rng.choice([20, None]), None),
        (CoveredLevel.IOP, rng.random() < 0.4, None, rng.choice([24, 36, None])),
        (CoveredLevel.OUTPATIENT, False, None, rng.choice([30, 52, None])),
    ):
        benefits.append(
            LevelOfCareBenefit(
                level_of_care=level,
                covered=YesNoUnknown.YES
                if rng.random() < 0.92
                else YesNoUnknown.UNKNOWN,
                prior_auth_required=YesNoUnknown.YES if auth else YesNoUnknown.NO,
                in_network=YesNoUnknown.YES if in_network else YesNoUnknown.NO,
                day_limit=days,
                visit_limit=visits,
                coinsurance_percent=coinsurance if in_network else coinsurance + 20,
                copay=Decimal(35) if level == CoveredLevel.OUTPATIENT else None,
            )
        )


def _demo_admission(
    *,
    rng: random.Random,
    rows: _AdmissionsRows,
    lead: Lead,
    reached: dict,
    programs: list[Program],
    now: datetime,
) -> None:
    """The admission the lead was scheduled for, and what became of it."""
    scheduled_at, counselor = reached[Stage.ADMISSION_SCHEDULED]
    level = LEAD_TO_COVERED[lead.level_of_care]
    offering = [p for p in programs if level in p.levels_of_care] or programs
    nearby = [
        p for p in offering if not p.states_served or lead.state in p.states_served
    ]
    program = rng.choice(nearby or offering)
    if level not in program.levels_of_care:
        level = program.levels_of_care[0]
    admission = Admission(
        lead=lead,
        program=program,
        level_of_care=level,
        travel_arranged=level in (CoveredLevel.DETOX, CoveredLevel.RESIDENTIAL)
        and rng.random() < 0.6,
        created_at=scheduled_at,
        created_by=counselor,
        status_changed_at=scheduled_at,
        status_changed_by=counselor,
    )
    if admission.travel_arranged:
        admission.travel_notes = rng.choice(TRAVEL_NOTES)
    rows.activity(
        lead,
        Activity.Kind.ADMISSION,
        counselor,
        scheduled_at,
        f"Admission scheduled at {program.facility_name}",
    )
    if Stage.ADMITTED in reached:
        admitted_at, by = reached[Stage.ADMITTED]
        admission.scheduled_for = admitted_at - timedelta(minutes=rng.randint(0, 90))
        admission.status = Admission.Status.ADMITTED
        admission.admitted_at = admitted_at
        admission.status_changed_at = admitted_at
        admission.status_changed_by = by
        rows.activity(
            lead,
            Activity.Kind.ADMISSION,
            by,
            admitted_at,
            f"Admitted to {program.facility_name}",
        )
        _demo_consent(rng=rng, rows=rows, lead=lead, program=program, at=scheduled_at)
    elif lead.stage == Stage.LOST:
        lost_at, by = reached[Stage.LOST]
        admission.scheduled_for = max(
            scheduled_at + timedelta(hours=2),
            lost_at - timedelta(hours=rng.uniform(4, 20)),
        )
        admission.status_changed_at = lost_at
        admission.status_changed_by = by
        if lead.lost_reason == LostReason.NO_SHOW:
            admission.status = Admission.Status.NO_SHOW
            summary = "No-show for admission"
        else:
            admission.status = Admission.Status.CANCELLED
            admission.cancel_reason = "Chose a program closer to home."
            summary = "Admission cancelled"
        rows.activity(lead, Activity.Kind.ADMISSION, by, lost_at, summary)
    else:
        day = now + timedelta(days=rng.randint(0, 4))
        admission.scheduled_for = day.replace(
            hour=rng.choice([13, 14, 15, 16, 18]), minute=0, second=0, microsecond=0
        )
        if admission.scheduled_for <= now:
            admission.scheduled_for += timedelta(days=1)
    rows.admissions.append(admission)


def _demo_consent(
    *, rng: random.Random, rows: _AdmissionsRows, lead: Lead, program: Program, at
) -> None:
    """The single TPO consent (42 CFR §2.31) signed when the admission was set."""
    signed_at = at + timedelta(minutes=rng.randint(10, 90))
    patient = f"{lead.first_name} {lead.last_name}"
    rows.consents.append(
        Part2Consent(
            lead=lead,
            patient_name=patient,
            disclosing_party="Example Recovery admissions center",
            information_described=(
                "Intake pre-screen, insurance verification and admission records, "
                "including substance use history and level of care."
            ),
            recipients=(
                f"My treating providers at {program.facility_name}, my health plans "
                "and third-party payers, and people helping to operate this program."
            ),
            purpose="Treatment, payment and health care operations",
            for_treatment_payment_operations=True,
            expires_on_event="end of treatment",
            signed_by_name=patient,
            signed_at=signed_at,
            signature_method=Part2Consent.SignatureMethod.ELECTRONIC,
            recorded_at=signed_at,
            recorded_by=lead.owner,
        )
    )
    rows.activity(
        lead,
        Activity.Kind.CONSENT,
        lead.owner,
        signed_at,
        "Part 2 consent signed (treatment, payment and operations)",
    )
