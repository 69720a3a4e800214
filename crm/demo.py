"""Demo data for `seed_demo`: a small call center with two months of leads.

Everything goes through the services, with historical times, so the demo timelines,
stage history and audit trail look exactly like the real thing.
"""

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from leads import services as lead_services
from leads.models import (
    CallerRelationship,
    Channel,
    Lead,
    LeadSource,
    LevelOfCare,
    LostReason,
    Priority,
    RoutingRule,
    Stage,
    Substance,
    Urgency,
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
                "is_staff": role != User.Role.COUNSELOR,
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
