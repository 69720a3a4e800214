"""Fill a dedicated PostgreSQL database with a call center's two years of leads.

`ensure_big_database()` is what the dashboard and queue benchmarks call; run as a
script it loads (or checks) the database and prints row counts:

    .venv/bin/python bench/bigdata.py                 # 1,000,000 leads
    .venv/bin/python bench/bigdata.py --rebuild       # drop and reload
    .venv/bin/python bench/bigdata.py --leads 200000  # smaller, for a quick look

The database is `crm_bench` on 127.0.0.1 unless `BENCH_DATABASE_URL` (or
`--database-url`) names another; its name must contain "bench", so the dev or CI
database is never touched, and DATABASE_URL is ignored on purpose. A missing
database is created and migrated. When it already holds the asked-for number of
leads and the benchmark users, nothing is loaded (a second run takes a second);
otherwise it is dropped, created, migrated and loaded again.

The load is bulk SQL (`INSERT ... SELECT ... FROM generate_series`), in one
transaction, with the big tables' secondary indexes dropped during the load and
rebuilt after it, then VACUUM ANALYZE (autovacuum may be off). What it holds:

- 4 teams, 40 counselors, 3 supervisors and an admin; 9 lead sources with their
  campaigns and landing pages; 12 tracking numbers;
- leads over two years, more of them lately and by day more than by night; about
  3% open (mostly recent ones), the rest admitted, referred out or lost with a
  reason; owner, team, first response (minutes after creation, seconds for
  callers), SLA deadline, priority, level of care, state and time zone, a phone
  number of its own (so `lead_one_open_per_phone` holds), a first touch;
- one stage change per stage reached (about 4.4 per lead), a "created" activity
  per lead and notes on some; calls (outbound attempts, answered inbound calls,
  missed calls, a few live now) with talk time; call-backs: past ones done or
  cancelled, open ones for open leads (new-lead calls, cadence attempts, scheduled
  call-backs); texts: auto-replies, replies from leads, counselors' answers;
- insurance verifications (VOBs) of the leads that reached insurance
  verification, requested when they moved there by their counselor and worked by
  one of 4 verifiers: turnaround of a median near 30 minutes with a tail of hours,
  verified / denied / unable as the lead's journey suggests, the newest ones still
  waiting; admissions of the leads that reached admission scheduled, into 5
  programs by level of care: admitted, scheduled, no-show or cancelled;
- `bench_counselor` (team 1) owns exactly 200 open leads: 25 new and unworked
  (some past their SLA), 15 whose text reply waits, 30 call-backs due or missed,
  20 due later today, 110 more across the pipeline; plus closed leads of their
  own. `bench_supervisor` supervises the four teams. Both sign in with
  `BENCH_PASSWORD` (printed).

Times are relative to the moment of the load: a database loaded days ago still
has its 200 open leads, but "new" ones are no longer new; `--rebuild` refreshes.
"""

import argparse
import os
import sys
import time
import warnings
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/crm_bench"
DEFAULT_LEADS = 1_000_000
# Only for the throwaway benchmark database; printed by the loader.
BENCH_PASSWORD = "bench-1M-leads"  # noqa: S105
BENCH_COUNSELOR = "bench_counselor"
BENCH_SUPERVISOR = "bench_supervisor"
BENCH_OPEN_LEADS = 200
SEED = 0.4242
CENTER_ZONE = "America/New_York"

# Tables whose secondary indexes are dropped while they fill, then rebuilt: one
# CREATE INDEX over a full table is several times faster than 1M index inserts.
BIG_TABLES = (
    "leads_lead",
    "leads_touch",
    "leads_stagechange",
    "leads_activity",
    "leads_callback",
    "telephony_call",
    "notifications_message",
    "leads_insuranceverification",
    "leads_admission",
)
COUNTED_TABLES = (*BIG_TABLES, "crm_user", "crm_team", "telephony_trackingnumber")
VERIFIERS = [
    ("Renata", "Silva"),
    ("Ahmed", "Karimi"),
    ("Joy", "Bautista"),
    ("Li", "Wen"),
]
# name, facility, city, state, levels of care (CoveredLevel), capacity, open beds
PROGRAMS = [
    ("Harbor Recovery – Detox", "Harbor Recovery", "Delray Beach", "FL",
     ["detox"], 30, 4),
    ("Harbor Recovery – Residential", "Harbor Recovery", "Delray Beach", "FL",
     ["residential", "detox"], 80, 9),
    ("Harbor Recovery – Day Programs", "Harbor Recovery", "Boca Raton", "FL",
     ["php", "iop"], 90, 22),
    ("Harbor Recovery Outpatient – Austin", "Harbor Recovery", "Austin", "TX",
     ["iop", "outpatient"], 60, 15),
    ("Harbor Recovery Outpatient – Phoenix", "Harbor Recovery", "Phoenix", "AZ",
     ["php", "iop", "outpatient"], 60, 12),
]  # fmt: skip
# The lead's level of care → the level admitted to, and two programs offering it
# (indexes into PROGRAMS), one picked at random.
ADMISSION_LEVELS = {
    "detox": ("detox", (0, 1)),
    "residential": ("residential", (1, 1)),
    "php": ("php", (2, 4)),
    "iop": ("iop", (2, 3)),
    "outpatient": ("outpatient", (3, 4)),
    "aftercare": ("outpatient", (3, 4)),
    "unsure": ("iop", (2, 4)),
}
# What leads call their insurance → the payer list's name (migration 0006).
PAYER_ON_LIST = {
    "Aetna": "Aetna",
    "Cigna": "Cigna",
    "UnitedHealthcare": "UnitedHealthcare",
    "Blue Cross Blue Shield": "Anthem Blue Cross Blue Shield",
    "Humana": "Humana",
    "Medicaid": "State Medicaid (fee for service)",
    "Tricare": "TRICARE East",
}

FUNNEL = (
    "new",
    "attempting_contact",
    "contacted",
    "assessment",
    "insurance_verification",
    "clinical_review",
    "admission_scheduled",
    "admitted",
)

TEAMS = [
    # slug, name, time zone, share of the leads
    ("east", "Admissions East", "America/New_York", 0.35),
    ("central", "Admissions Central", "America/Chicago", 0.25),
    ("residential", "Residential & Detox", "America/New_York", 0.25),
    ("espanol", "Línea en español", "America/New_York", 0.15),
]
COUNSELORS_PER_TEAM = 10
STAFF_FIRST = [
    "Maya", "Daniel", "Priya", "Marcus", "Elena", "Tyler", "Aisha", "Noah",
    "Grace", "Luis", "Hannah", "Omar", "Sofia", "Caleb", "Nina", "Jamal",
    "Rachel", "Diego", "Megan", "Andre", "Lauren", "Victor", "Chloe", "Isaac",
    "Tessa", "Jorge", "Brooke", "Kevin", "Alana", "Derek", "Paula", "Mateo",
    "Keisha", "Ryan", "Yesenia", "Colin", "Dana", "Hector", "Monica", "Trevor",
]  # fmt: skip
STAFF_LAST = [
    "Okafor", "Brennan", "Shah", "Whitfield", "Marquez", "Lindqvist", "Bello",
    "Harper", "Kowalski", "Ortega", "Fischer", "Haddad", "Russo", "Dempsey",
    "Novak", "Carter", "Stein", "Alvarez", "Quinn", "Baptiste", "Moreau", "Petrov",
    "Lam", "Goldberg", "Ruiz", "Castillo", "Ward", "Nguyen", "Keane", "Walsh",
    "Duarte", "Herrera", "Price", "O'Neil", "Salas", "Murphy", "Reyes", "Vargas",
    "Sandoval", "Hughes",
]  # fmt: skip
PRESENCE_CYCLE = ["available", "available", "busy", "available", "away", "offline"]

SOURCES = [
    # slug, name, kind, share, campaigns (4), landing pages (3)
    (
        "website-form",
        "Website form",
        "web_form",
        0.24,
        ["", "", "", ""],
        [
            "https://harborrecovery.example/contact",
            "https://harborrecovery.example/insurance-check",
            "https://harborrecovery.example/",
        ],
    ),
    (
        "google-ads-calls",
        "Google Ads (call extensions)",
        "phone",
        0.15,
        ["Detox – Search", "Rehab Near Me", "Alcohol Rehab", "Brand"],
        ["", "", ""],
    ),
    (
        "google-ads-forms",
        "Google Ads (landing pages)",
        "web_form",
        0.17,
        ["Detox – Search", "Rehab Near Me", "Alcohol Rehab", "Insurance Rehab"],
        [
            "https://go.harborrecovery.example/detox",
            "https://go.harborrecovery.example/rehab-near-me",
            "https://go.harborrecovery.example/insurance",
        ],
    ),
    (
        "facebook-lead-ads",
        "Facebook lead ads",
        "web_form",
        0.08,
        ["Family – Lookalike", "Retargeting", "Spring Push", "Video – Stories"],
        [
            "https://go.harborrecovery.example/family",
            "https://go.harborrecovery.example/help-a-loved-one",
            "https://go.harborrecovery.example/family",
        ],
    ),
    (
        "website-phone",
        "Website phone number",
        "phone",
        0.12,
        ["", "", "", ""],
        ["https://harborrecovery.example/", "", ""],
    ),
    ("inbound-sms", "Text line", "sms", 0.04, ["", "", "", ""], ["", "", ""]),
    (
        "referral-partners",
        "Referral partners",
        "referral",
        0.07,
        ["Hospital ED", "Therapist network", "Alumni", "EAP"],
        ["", "", ""],
    ),
    (
        "live-chat",
        "Live chat",
        "chat",
        0.05,
        ["", "", "", ""],
        [
            "https://harborrecovery.example/",
            "https://harborrecovery.example/programs",
            "https://harborrecovery.example/insurance-check",
        ],
    ),
    (
        "directory-listings",
        "Directory listings",
        "phone",
        0.08,
        ["Psychology Today", "Rehabs.com", "FindTreatment", "Yelp"],
        ["", "", ""],
    ),
]
TOUCH_CHANNEL = {
    "web_form": "web_form",
    "phone": "phone",
    "sms": "sms",
    "chat": "chat",
    "referral": "referral",
}
TRACKING_AREA = {
    "google-ads-calls": "305",
    "website-phone": "561",
    "directory-listings": "954",
}

FIRST_NAMES = [
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda",
    "David", "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph",
    "Jessica", "Thomas", "Sarah", "Christopher", "Karen", "Charles", "Lisa", "Matthew",
    "Nancy", "Anthony", "Betty", "Mark", "Sandra", "Donald", "Ashley", "Steven",
    "Kimberly", "Andrew", "Emily", "Joshua", "Donna", "Kenneth", "Michelle", "Kevin",
    "Carol", "Brian", "Amanda", "Timothy", "Melissa", "Ronald", "Deborah", "Jason",
    "Stephanie", "Jeffrey", "Rebecca", "Ryan", "Laura", "Jacob", "Cynthia", "Gary",
    "Amy", "Nicholas", "Angela", "Eric", "Shirley", "Jonathan", "Brenda", "Carlos",
    "Rosa",
]  # fmt: skip
LAST_NAMES = [
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis",
    "Rodriguez", "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson",
    "Thomas", "Taylor", "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson",
    "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson", "Walker",
    "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill",
    "Flores", "Green", "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell",
    "Mitchell", "Carter", "Roberts", "Gomez", "Phillips", "Evans", "Turner", "Diaz",
    "Parker", "Cruz", "Edwards", "Collins", "Reyes", "Stewart", "Morris", "Morales",
    "Murphy",
]  # fmt: skip
# state, city, time zone, share
STATES = [
    ("FL", "Miami", "America/New_York", 0.16),
    ("CA", "Los Angeles", "America/Los_Angeles", 0.12),
    ("TX", "Houston", "America/Chicago", 0.11),
    ("NY", "Brooklyn", "America/New_York", 0.08),
    ("PA", "Philadelphia", "America/New_York", 0.06),
    ("OH", "Columbus", "America/New_York", 0.05),
    ("GA", "Atlanta", "America/New_York", 0.05),
    ("NC", "Charlotte", "America/New_York", 0.05),
    ("NJ", "Newark", "America/New_York", 0.05),
    ("IL", "Chicago", "America/Chicago", 0.05),
    ("AZ", "Phoenix", "America/Phoenix", 0.04),
    ("TN", "Nashville", "America/Chicago", 0.04),
    ("MA", "Boston", "America/New_York", 0.04),
    ("CO", "Denver", "America/Denver", 0.03),
    ("WA", "Seattle", "America/Los_Angeles", 0.03),
    ("MI", "Detroit", "America/Detroit", 0.03),
    ("", "", "", 0.01),
]
AREA_CODES = [
    "212", "213", "214", "215", "305", "312", "404", "415", "503", "512", "602",
    "614", "617", "702", "713", "720", "813", "832", "901", "919", "954", "973",
    "480", "561",
]  # fmt: skip
LEVELS = [
    ("detox", 0.18),
    ("residential", 0.22),
    ("php", 0.10),
    ("iop", 0.18),
    ("outpatient", 0.14),
    ("aftercare", 0.03),
    ("unsure", 0.15),
]
URGENCIES = [("routine", 0.45), ("soon", 0.30), ("urgent", 0.20), ("crisis", 0.05)]
PRIORITIES = [(0, 0.10), (1, 0.62), (2, 0.22), (3, 0.06)]
RELATIONSHIPS = [
    ("self", 0.60),
    ("parent", 0.12),
    ("spouse", 0.10),
    ("loved_one", 0.06),
    ("sibling", 0.04),
    ("child", 0.04),
    ("friend", 0.03),
    ("professional", 0.01),
]
SUBSTANCES = [
    ('["alcohol"]', 0.30),
    ('["opioids"]', 0.12),
    ('["fentanyl", "opioids"]', 0.14),
    ('["alcohol", "benzodiazepines"]', 0.08),
    ('["stimulants"]', 0.12),
    ('["cannabis"]', 0.05),
    ('["alcohol", "stimulants"]', 0.07),
    ("[]", 0.12),
]
PAYERS = [
    ("Aetna", 0.14),
    ("Cigna", 0.12),
    ("UnitedHealthcare", 0.13),
    ("Blue Cross Blue Shield", 0.18),
    ("Humana", 0.05),
    ("Medicaid", 0.14),
    ("Tricare", 0.03),
    ("", 0.21),
]
LOST_REASONS = [
    ("unreachable", 0.35),
    ("not_ready", 0.15),
    ("chose_other_provider", 0.10),
    ("no_usable_coverage", 0.18),
    ("clinical_mismatch", 0.07),
    ("no_show", 0.05),
    ("duplicate", 0.05),
    ("spam", 0.05),
]
PARTNERS = ["Serenity Springs", "Blue Ridge Detox", "Coastal Behavioral Health"]
# How far an open lead (answered) got: ranks 1..6 of FUNNEL.
OPEN_RANKS = [(1, 0.38), (2, 0.22), (3, 0.14), (4, 0.11), (5, 0.08), (6, 0.07)]
# How far a lost lead got before it closed: ranks 1..6.
LOST_RANKS = [(1, 0.30), (2, 0.25), (3, 0.15), (4, 0.12), (5, 0.10), (6, 0.08)]


# --- SQL text helpers ----------------------------------------------------------------
# Every value spliced into the SQL below is a constant of this file or a number it
# computed, never outside input: hence the S608 exemptions.


def q(value) -> str:
    """A SQL literal of a constant."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def array(values, sql_type: str) -> str:
    return f"ARRAY[{', '.join(q(v) for v in values)}]::{sql_type}[]"


def matrix(rows, sql_type: str) -> str:
    inner = ", ".join("[" + ", ".join(q(v) for v in row) + "]" for row in rows)
    return f"ARRAY[{inner}]::{sql_type}[]"


def pick(u: str, weighted) -> str:
    """The 1-based index of a weighted choice by the uniform `u` (width_bucket)."""
    total = sum(w for _, w in weighted)
    bounds, acc = [], 0.0
    for _, weight in weighted:
        bounds.append(round(acc / total, 6))
        acc += weight
    return f"width_bucket({u}, {array(bounds, 'float8')})"


def pick_value(u: str, weighted, sql_type: str) -> str:
    return f"({array([v for v, _ in weighted], sql_type)})[{pick(u, weighted)}]"


# --- Django and the database ---------------------------------------------------------


def database_url(cli_value: str | None = None) -> str:
    url = cli_value or os.environ.get("BENCH_DATABASE_URL") or DEFAULT_DATABASE_URL
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not parts.scheme.startswith("postgres"):
        raise SystemExit(f"the benchmark database must be PostgreSQL, not {url}")
    if "bench" not in name:
        raise SystemExit(
            f"refusing database {name!r}: a benchmark database's name contains "
            "'bench', so a dev or CI database is never filled or dropped"
        )
    return url


def setup_django(url: str) -> None:
    """Point Django at the benchmark database, DEBUG off, and set it up."""
    sys.path.insert(0, str(BASE_DIR))
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings.local")
    # With DEBUG on Django keeps every query, and the figures mean nothing.
    os.environ["DEBUG"] = "0"
    warnings.filterwarnings("ignore", message="No directory at")
    import django

    django.setup()


def _admin_connection():
    import psycopg
    from django.db import connection

    params = connection.settings_dict
    return psycopg.connect(
        dbname="postgres",
        host=params["HOST"] or None,
        port=params["PORT"] or None,
        user=params["USER"] or None,
        password=params["PASSWORD"] or None,
        autocommit=True,
    )


def _sessions(admin, name: str) -> int:
    return admin.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [name]
    ).fetchone()[0]


def _use_database(name: str) -> None:
    from django.db import connection

    connection.close()
    connection.settings_dict["NAME"] = name


def _drop(admin, name: str) -> None:
    from psycopg import sql

    admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))


def _swap_in(staging: str, target: str, log, wait_seconds: int = 300) -> None:
    """Replace `target` by the loaded `staging` database, once nobody uses it.

    Others keep working on the old data during the load; the swap itself is a
    drop and a rename, done when their sessions have closed.
    """
    from psycopg import sql

    _use_database(target)
    with _admin_connection() as admin:
        deadline = time.monotonic() + wait_seconds
        while (others := _sessions(admin, target)) and time.monotonic() < deadline:
            log(f"  waiting for {others} session(s) on {target} to close")
            time.sleep(10)
        if _sessions(admin, target):
            raise SystemExit(
                f"{target} is still in use; the new data waits in {staging}: "
                f"close the sessions, then DROP DATABASE {target} and "
                f"ALTER DATABASE {staging} RENAME TO {target}"
            )
        _drop(admin, target)
        admin.execute(
            sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                sql.Identifier(staging), sql.Identifier(target)
            )
        )
    log(f"  {staging} renamed to {target}")


def table_counts() -> dict[str, int]:
    from django.db import connection

    counts = {}
    with connection.cursor() as cursor:
        for table in COUNTED_TABLES:
            cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608
            counts[table] = cursor.fetchone()[0]
    return counts


def _loaded(leads: int, log) -> bool:
    """Whether the database holds `leads` leads and the benchmark users."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM leads_lead")
        if cursor.fetchone()[0] != leads:
            return False
        cursor.execute(
            "SELECT count(*) FILTER (WHERE l.stage = ANY(%s)), count(DISTINCT u.id) "
            "FROM crm_user u LEFT JOIN leads_lead l ON l.owner_id = u.id "
            "WHERE u.username = %s",
            [list(FUNNEL[:7]), BENCH_COUNSELOR],
        )
        open_leads, users = cursor.fetchone()
        cursor.execute("SELECT EXISTS (SELECT 1 FROM leads_insuranceverification)")
        with_vobs = cursor.fetchone()[0]
    if not users:
        return False
    if not with_vobs:
        log("the database was loaded before VOBs and admissions were: reloading")
        return False
    if open_leads != BENCH_OPEN_LEADS:
        # Someone worked the queue by hand: the figures shift a little, which is
        # no reason to throw four minutes of loading away.
        log(
            f"note: {BENCH_COUNSELOR} owns {open_leads} open leads, not "
            f"{BENCH_OPEN_LEADS}; --rebuild restores the loaded state"
        )
    return True


def ensure_big_database(
    leads: int = DEFAULT_LEADS, *, rebuild: bool = False, log=print
) -> dict:
    """Make sure the (already configured) benchmark database holds `leads` leads.

    Returns {"loaded": bool, "seconds": float, "counts": {...}}. Call
    `setup_django(database_url())` first.
    """
    from benchlib import ensure_database
    from django.db import connection

    if leads < 10_000:
        raise SystemExit("load at least 10,000 leads")
    if connection.vendor != "postgresql":
        raise SystemExit("the benchmark database must be PostgreSQL")
    args = argparse.Namespace(json=False)
    target = connection.settings_dict["NAME"]
    if not rebuild:
        ensure_database(args)
        if _loaded(leads, log):
            return {"loaded": False, "seconds": 0.0, "counts": table_counts()}
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM leads_lead")
            present = cursor.fetchone()[0]
        if present:
            log(f"{target} holds {present:,} leads, not {leads:,}: reloading")
    # Load next to the database in use, then swap: whoever is reading it (an
    # EXPLAIN in psql, a benchmark) is not cut off for the minutes of the load.
    staging = f"{target}_next"
    started = time.monotonic()
    _use_database(staging)
    with _admin_connection() as admin:
        _drop(admin, staging)
    ensure_database(args)
    load(leads, log=log)
    _swap_in(staging, target, log)
    seconds = time.monotonic() - started
    return {"loaded": True, "seconds": seconds, "counts": table_counts()}


# --- The load ------------------------------------------------------------------------


def _reference_rows(now: datetime) -> dict:
    """Teams, staff, sources and tracking numbers, through the ORM (a few rows)."""
    from django.contrib.auth.hashers import make_password
    from phonenumber_field.phonenumber import PhoneNumber

    from crm.models import Team, User
    from leads.models import LeadSource, Payer, Program
    from telephony.models import TrackingNumber

    teams = [
        Team.objects.create(slug=slug, name=name, time_zone=zone, created_at=now)
        for slug, name, zone, _ in TEAMS
    ]
    password = make_password(BENCH_PASSWORD)
    unusable = make_password(None)
    counselors: list[list[int]] = []
    index = 0
    for team in teams:
        ids = []
        for _ in range(COUNSELORS_PER_TEAM):
            first, last = STAFF_FIRST[index], STAFF_LAST[index]
            user = User.objects.create(
                username=f"{first.lower()}.{last.lower().replace(chr(39), '')}",
                first_name=first,
                last_name=last,
                email=f"{first.lower()}@harborrecovery.example",
                role=User.Role.COUNSELOR,
                presence=PRESENCE_CYCLE[index % len(PRESENCE_CYCLE)],
                password=unusable,
            )
            team.members.add(user)
            ids.append(user.pk)
            index += 1
        counselors.append(ids)
    bench = User.objects.create(
        username=BENCH_COUNSELOR,
        first_name="Jordan",
        last_name="Bench",
        role=User.Role.COUNSELOR,
        presence=User.Presence.AVAILABLE,
        max_open_leads=250,
        password=password,
    )
    teams[0].members.add(bench)
    supervisor = User.objects.create(
        username=BENCH_SUPERVISOR,
        first_name="Sam",
        last_name="Supervisor",
        role=User.Role.SUPERVISOR,
        presence=User.Presence.AVAILABLE,
        password=password,
    )
    for position, team in enumerate(teams):
        team.supervisors.add(supervisor)
        other = User.objects.get_or_create(
            username=f"supervisor{position // 2 + 1}",
            defaults={
                "first_name": ["Renee", "Malik"][position // 2],
                "last_name": "Lead",
                "role": User.Role.SUPERVISOR,
                "password": unusable,
            },
        )[0]
        team.supervisors.add(other)
    User.objects.create(
        username="bench_admin",
        role=User.Role.ADMIN,
        is_staff=True,
        is_superuser=True,
        password=password,
    )
    verifiers = []
    for position, (first, last) in enumerate(VERIFIERS):
        user = User.objects.create(
            username=f"{first.lower()}.{last.lower()}",
            first_name=first,
            last_name=last,
            role=User.Role.VERIFIER,
            presence=User.Presence.AVAILABLE,
            password=unusable,
        )
        for team in teams[position % 2 :: 2]:
            team.members.add(user)
        verifiers.append(user.pk)
    payers = dict(Payer.objects.values_list("name", "id"))
    programs = []
    for name, facility, city, state, levels, capacity, open_beds in PROGRAMS:
        program = Program.objects.create(
            name=name,
            facility_name=facility,
            city=city,
            state=state,
            levels_of_care=levels,
            capacity=capacity,
            open_beds=open_beds,
        )
        program.payers.set(payers.values())
        programs.append(program.pk)
    sources, tracking_ids, tracking_numbers = [], [], []
    for slug, name, kind, _share, campaigns, _pages in SOURCES:
        source = LeadSource.objects.create(slug=slug, name=name, kind=kind)
        sources.append(source.pk)
        ids, numbers = [], []
        area = TRACKING_AREA.get(slug)
        for line in range(4 if area else 0):
            number = f"+1{area}{555 - len(sources)}{1200 + line:04d}"
            tracking = TrackingNumber.objects.create(
                number=PhoneNumber.from_string(number),
                name=f"{name} {campaigns[line] or 'main'}".strip(),
                source=source,
                campaign=campaigns[line],
                team=teams[line % len(teams)],
            )
            ids.append(tracking.pk)
            numbers.append(number)
        tracking_ids.append(ids or [None] * 4)
        tracking_numbers.append(numbers or [""] * 4)
    return {
        "teams": [team.pk for team in teams],
        "counselors": counselors,
        "bench": bench.pk,
        "supervisor": supervisor.pk,
        "verifiers": verifiers,
        "programs": programs,
        "payers": {said: payers.get(name) for said, name in PAYER_ON_LIST.items()},
        "sources": sources,
        "tracking_ids": tracking_ids,
        "tracking_numbers": tracking_numbers,
    }


def _seed_sql(n: int, now: str, refs: dict) -> str:
    """One row per lead with every decision made once: the rest is derived from it."""
    center = q(CENTER_ZONE)
    team_zone = array([zone for _, _, zone, _ in TEAMS], "text")
    owners = matrix(refs["counselors"], "bigint")
    open_rank = pick_value("u_rank", OPEN_RANKS, "int")
    lost_rank = pick_value("u_rank", LOST_RANKS, "int")
    lost_reason = pick_value("u_reason", LOST_REASONS, "text")
    phone_sources = array(
        [i + 1 for i, s in enumerate(SOURCES) if s[2] == "phone"], "int"
    )
    return f"""
CREATE UNLOGGED TABLE bench_seed AS
WITH a AS (
    SELECT g AS id,
        random() AS u_age, random() AS u_hour, random() AS u_team, random() AS u_src,
        random() AS u_open, random() AS u_stage, random() AS u_rank,
        random() AS u_reason, random() AS u_close, random() AS u_r1, random() AS u_r2,
        random() AS u_owner, random() AS u_bench, random() AS u_unowned,
        random() AS u_sms, random() AS u_cb, random() AS u_calls, random() AS u_x,
        random() AS u_state
    FROM generate_series(1, {n}) g
), b AS MATERIALIZED (
    SELECT a.*,
        {pick("u_team", [(i, t[3]) for i, t in enumerate(TEAMS)])} AS team_idx,
        {pick("u_src", [(i, s[3]) for i, s in enumerate(SOURCES)])} AS source_idx,
        730.0 * (1 - power(u_age, 0.75)) AS age_days,
        CASE WHEN u_hour < 0.8 THEN 8 * 3600 + u_hour / 0.8 * 14 * 3600
             ELSE (u_hour - 0.8) / 0.2 * 86400 END AS day_seconds
    FROM a
), c AS MATERIALIZED (
    SELECT b.*,
        (((({now} AT TIME ZONE {center})::date - floor(age_days)::int)
          + make_interval(secs => day_seconds)) AT TIME ZONE {center}) AS raw_created
    FROM b
), d AS MATERIALIZED (
    SELECT c.*,
        CASE WHEN raw_created > {now} - interval '1 minute'
             THEN raw_created - interval '1 day' ELSE raw_created END AS created_at
    FROM c
), e AS MATERIALIZED (
    SELECT d.*,
        extract(epoch FROM {now} - created_at) / 86400.0 AS age,
        source_idx = ANY({phone_sources}) AS by_phone
    FROM d
), f AS MATERIALIZED (
    SELECT e.*,
        u_open < CASE WHEN age < 1 THEN 0.85 WHEN age < 7 THEN 0.55
                      WHEN age < 30 THEN 0.35 WHEN age < 90 THEN 0.05
                      ELSE 0.003 END AS is_open
    FROM e
), g AS MATERIALIZED (
    SELECT f.*,
        CASE WHEN NOT is_open THEN
                 CASE WHEN u_stage < 0.09 THEN 'admitted'
                      WHEN u_stage < 0.13 THEN 'referred_out'
                      ELSE 'lost' END
             ELSE '' END AS exit_stage,
        CASE WHEN NOT is_open AND u_stage >= 0.13 THEN {lost_reason} ELSE '' END
            AS lost_reason
    FROM f
), h AS MATERIALIZED (
    SELECT g.*,
        CASE
            WHEN is_open THEN
                CASE WHEN (age * 24 < 2 AND u_reason < 0.6) OR u_x < 0.02 THEN 0
                     ELSE {open_rank} END
            WHEN exit_stage = 'admitted' THEN 7
            WHEN exit_stage = 'referred_out' THEN 5
            WHEN lost_reason IN ('spam', 'duplicate') THEN 0
            WHEN lost_reason = 'unreachable' THEN 1
            WHEN lost_reason = 'no_show' THEN 6
            ELSE {lost_rank}
        END AS rank
    FROM g
), i AS MATERIALIZED (
    SELECT h.*,
        CASE WHEN rank = 0 THEN NULL
             ELSE created_at + LEAST(
                 make_interval(secs => CASE
                     WHEN by_phone THEN 3 + u_r1 * 25
                     ELSE LEAST(
                         20 + exp(ln(170) + 1.2 * sqrt(-2 * ln(1 - u_r1))
                                  * cos(2 * pi() * u_r2)),
                         172800)
                     END),
                 ({now} - created_at) * 0.5)
        END AS first_response_at,
        CASE
            WHEN team_idx = 1 AND NOT is_open AND u_bench < 0.09
                THEN {refs["bench"]}::bigint
            ELSE ({owners})[team_idx][1 + floor(u_owner * {COUNSELORS_PER_TEAM})::int]
        END AS worker_id,
        CASE WHEN rank = 0 THEN u_unowned < 0.5 ELSE u_unowned < 0.005 END
            AS unowned
    FROM h
)
SELECT row_number() OVER (ORDER BY created_at, id) AS id,
    NULL::int AS slot, created_at, team_idx, source_idx, by_phone,
    is_open, exit_stage, lost_reason, rank,
    CASE WHEN exit_stage <> '' THEN exit_stage
         ELSE ({array(FUNNEL, "text")})[rank + 1] END AS stage,
    first_response_at,
    CASE WHEN rank = 0 THEN NULL ELSE worker_id END AS first_response_by_id,
    CASE WHEN unowned THEN NULL ELSE worker_id END AS owner_id,
    worker_id,
    CASE
        WHEN is_open THEN
            CASE WHEN rank = 0 THEN created_at
                 ELSE first_response_at + ({now} - first_response_at) * u_close END
        ELSE GREATEST(
            COALESCE(first_response_at, created_at) + interval '1 minute',
            LEAST(
                created_at + interval '1 day' * CASE
                    WHEN exit_stage = 'admitted' THEN 1 + u_close * 13
                    WHEN exit_stage = 'referred_out' THEN 1 + u_close * 10
                    WHEN lost_reason = 'unreachable' THEN 7 + u_close * 14
                    WHEN lost_reason IN ('spam', 'duplicate') THEN u_close * 0.5
                    ELSE u_close * 10 END,
                {now} - make_interval(secs => 60 + u_close * 3600)))
    END AS stage_changed_at,
    created_at + CASE
        WHEN extract(hour FROM created_at AT TIME ZONE ({team_zone})[team_idx])
             BETWEEN 8 AND 19 THEN interval '5 minutes'
        ELSE interval '30 minutes' END AS sla_due_at,
    CASE WHEN u_sms < 0.20 THEN 1 WHEN u_sms < 0.26 THEN 2 WHEN u_sms < 0.30 THEN 3
         ELSE 0 END AS sms_kind,
    CASE
        WHEN NOT is_open THEN CASE WHEN rank > 0 AND u_cb < 0.5 THEN 'history'
                                   ELSE '' END
        WHEN rank = 0 THEN 'new_lead'
        WHEN rank = 1 THEN 'cadence'
        WHEN u_cb < 0.35 THEN 'scheduled'
        ELSE '' END AS cb_kind,
    CASE WHEN rank = 0 THEN 0
         WHEN rank = 1 THEN 1 + floor(u_calls * 3)::int
         ELSE 1 + floor(u_calls * 2)::int + (rank >= 4)::int END AS ncalls,
    u_x, u_r1, u_r2, u_cb, u_calls, u_rank, u_reason, u_owner, u_hour, u_state
FROM i
ORDER BY 1
"""  # noqa: S608


def _bench_slots_sql(n: int, now: str, refs: dict) -> str:
    """Give the 200 newest leads to `bench_counselor`, each in a chosen state."""
    first = n - BENCH_OPEN_LEADS
    return f"""
UPDATE bench_seed SET slot = id - {first} - 1 WHERE id > {first};
UPDATE bench_seed SET
    team_idx = 1, is_open = TRUE, exit_stage = '', lost_reason = '',
    owner_id = {refs["bench"]}, worker_id = {refs["bench"]},
    rank = CASE WHEN slot < 25 THEN 0
                WHEN slot < 40 THEN 1 + slot % 2
                WHEN slot < 90 THEN 1
                ELSE 1 + slot % 6 END,
    created_at = CASE
        WHEN slot < 25 THEN {now} - make_interval(mins => slot * 4 + 1)
        ELSE {now} - make_interval(days => 1 + slot % 20, hours => slot % 9) END,
    cb_kind = CASE WHEN slot < 25 THEN 'new_lead'
                   WHEN slot < 40 THEN ''
                   WHEN slot < 65 THEN 'due'
                   WHEN slot < 70 THEN 'missed'
                   WHEN slot < 90 THEN 'today'
                   WHEN slot % 2 = 0 THEN 'later'
                   ELSE '' END,
    sms_kind = CASE WHEN slot < 25 THEN 1
                    WHEN slot < 40 THEN 2
                    WHEN slot % 3 = 0 THEN 3
                    WHEN slot % 3 = 1 THEN 1
                    ELSE 0 END
WHERE slot IS NOT NULL;
UPDATE bench_seed SET
    stage = ({array(FUNNEL, "text")})[rank + 1],
    ncalls = CASE WHEN rank = 0 THEN 0 ELSE 1 + rank / 3 END,
    sla_due_at = created_at + interval '5 minutes',
    first_response_at = CASE WHEN rank = 0 THEN NULL
                             ELSE created_at + interval '3 minutes' END,
    first_response_by_id = CASE WHEN rank = 0 THEN NULL ELSE {refs["bench"]} END
WHERE slot IS NOT NULL;
UPDATE bench_seed SET
    stage_changed_at = CASE WHEN rank = 0 THEN created_at
        ELSE first_response_at + (({now} - first_response_at) * (0.2 + u_x * 0.6))
        END
WHERE slot IS NOT NULL;
"""  # noqa: S608


def _lead_sql(now: str, refs: dict) -> str:
    sources = array(refs["sources"], "bigint")
    teams = array(refs["teams"], "bigint")
    campaigns = matrix([s[4] for s in SOURCES], "text")
    pages = matrix([s[5] for s in SOURCES], "text")
    tracking = matrix(refs["tracking_numbers"], "text")
    utm_source = array(
        [
            {"google": "google", "facebook": "facebook"}.get(s[0].split("-")[0], "")
            for s in SOURCES
        ],
        "text",
    )
    first_names = array(FIRST_NAMES, "text")
    last_names = array(LAST_NAMES, "text")
    states = array([s[0] for s in STATES], "text")
    cities = array([s[1] for s in STATES], "text")
    zones = array([s[2] for s in STATES], "text")
    state_idx = pick("s.u_state", [(i, s[3]) for i, s in enumerate(STATES)])
    areas = array(AREA_CODES, "text")
    na, nf, nl = len(AREA_CODES), len(FIRST_NAMES), len(LAST_NAMES)
    relationship = pick_value("s.u_reason", RELATIONSHIPS, "text")
    return f"""
INSERT INTO leads_lead (
    id, campaign, tracking_number, landing_page, referrer, utm_source, utm_medium,
    utm_campaign, utm_term, utm_content, gclid, gbraid, wbraid, fbclid, msclkid,
    first_name, last_name, phone, email, date_of_birth, state, city, time_zone,
    preferred_language, caller_relationship, caller_first_name, caller_last_name,
    caller_phone, caller_email, patient_consents_to_caller, substances,
    level_of_care, co_occurring_mental_health, urgency, intake_notes,
    insurance_payer, insurance_member_id, insurance_group_number,
    insurance_subscriber_name, priority, stage, stage_changed_at,
    stage_before_close, lost_reason, referred_to, closed_reason_note, created_at,
    updated_at, first_response_at, last_activity_at, owner_id, team_id, source_id,
    first_touch_id, last_touch_id, cadence_attempt, cadence_close_at,
    cadence_started_at, first_response_by_id, inquiry_count, last_inquiry_at,
    sla_due_at, sla_escalated_at, sla_reassigned_at
)
SELECT s.id,
    ({campaigns})[s.source_idx][1 + floor(s.u_cb * 4)::int],
    CASE WHEN s.by_phone
         THEN ({tracking})[s.source_idx][1 + floor(s.u_cb * 4)::int] ELSE '' END,
    ({pages})[s.source_idx][1 + floor(s.u_calls * 3)::int],
    '',
    ({utm_source})[s.source_idx],
    CASE WHEN ({utm_source})[s.source_idx] <> '' THEN 'cpc' ELSE '' END,
    ({campaigns})[s.source_idx][1 + floor(s.u_cb * 4)::int],
    '', '',
    CASE WHEN ({utm_source})[s.source_idx] = 'google'
         THEN 'Cj0KCQ' || substr(md5(s.id::text), 1, 20) ELSE '' END,
    '', '',
    CASE WHEN ({utm_source})[s.source_idx] = 'facebook'
         THEN 'IwAR' || substr(md5(s.id::text), 1, 24) ELSE '' END,
    '',
    ({first_names})[1 + mod(s.id * 7, {nf})],
    ({last_names})[1 + mod(s.id * 13 / 5, {nl})],
    '+1' || ({areas})[1 + mod(s.id, {na})] || (200 + mod(s.id / {na}, 800))::text
        || lpad(mod(s.id / {na * 800}, 10000)::text, 4, '0'),
    CASE WHEN s.u_r1 < 0.6 THEN lower(({first_names})[1 + mod(s.id * 7, {nf})])
        || '.' || lower(({last_names})[1 + mod(s.id * 13 / 5, {nl})])
        || s.id::text || '@example.com' ELSE '' END,
    NULL,
    ({states})[{state_idx}], ({cities})[{state_idx}], ({zones})[{state_idx}],
    CASE WHEN s.team_idx = 4 AND s.u_x < 0.8 THEN 'es' ELSE 'en' END,
    {relationship},
    CASE WHEN {relationship} = 'self' THEN ''
         ELSE ({first_names})[1 + mod(s.id * 11, {nf})] END,
    CASE WHEN {relationship} = 'self' THEN ''
         ELSE ({last_names})[1 + mod(s.id * 13 / 5, {nl})] END,
    '', '',
    CASE WHEN {relationship} = 'self' THEN 'unknown' ELSE 'yes' END,
    ({pick_value("s.u_calls", SUBSTANCES, "text")})::jsonb,
    {pick_value("s.u_owner", LEVELS, "text")},
    CASE WHEN s.u_hour < 0.4 THEN 'yes' WHEN s.u_hour < 0.7 THEN 'no'
         ELSE 'unknown' END,
    {pick_value("s.u_rank", URGENCIES, "text")},
    CASE WHEN s.u_x < 0.1 THEN 'Caller asked about visiting hours and phone policy.'
         ELSE '' END,
    {pick_value("s.u_r1", PAYERS, "text")},
    '', '', '',
    {pick_value("s.u_cb", PRIORITIES, "int")},
    s.stage,
    s.stage_changed_at,
    CASE WHEN s.exit_stage IN ('lost', 'referred_out')
         THEN ({array(FUNNEL, "text")})[s.rank + 1] ELSE '' END,
    s.lost_reason,
    CASE WHEN s.exit_stage = 'referred_out'
         THEN ({array(PARTNERS, "text")})[1 + mod(s.id, {len(PARTNERS)})] ELSE '' END,
    '',
    s.created_at,
    s.stage_changed_at,
    s.first_response_at,
    s.stage_changed_at,
    s.owner_id,
    ({teams})[s.team_idx],
    ({sources})[s.source_idx],
    s.id, s.id,
    CASE WHEN s.is_open AND s.rank = 1 THEN 1 + floor(s.u_x * 4)::int ELSE 0 END,
    NULL,
    CASE WHEN s.rank >= 1 AND s.is_open THEN s.first_response_at END,
    s.first_response_by_id,
    1,
    s.created_at,
    s.sla_due_at,
    CASE WHEN COALESCE(s.first_response_at, {now}) > s.sla_due_at
         THEN s.sla_due_at END,
    NULL
FROM bench_seed s
ORDER BY s.id
"""  # noqa: S608


def _touch_sql() -> str:
    channels = array([TOUCH_CHANNEL.get(s[2], "manual") for s in SOURCES], "text")
    return f"""
INSERT INTO leads_touch (
    id, campaign, tracking_number, landing_page, referrer, utm_source, utm_medium,
    utm_campaign, utm_term, utm_content, gclid, gbraid, wbraid, fbclid, msclkid,
    channel, occurred_at, summary, lead_id, source_id
)
SELECT l.id, l.campaign, l.tracking_number, l.landing_page, l.referrer, l.utm_source,
    l.utm_medium, l.utm_campaign, l.utm_term, l.utm_content, l.gclid, l.gbraid,
    l.wbraid, l.fbclid, l.msclkid, ({channels})[s.source_idx], l.created_at,
    'First inquiry', l.id, l.source_id
FROM leads_lead l JOIN bench_seed s ON s.id = l.id
ORDER BY l.id
"""  # noqa: S608


def _stage_change_sql() -> str:
    funnel = array(FUNNEL, "text")
    return f"""
INSERT INTO leads_stagechange (from_stage, to_stage, lost_reason, reason, at, by_id,
                               lead_id)
SELECT * FROM (
SELECT
    CASE WHEN k = 0 THEN '' ELSE ({funnel})[k] END,
    ({funnel})[k + 1],
    '', '',
    CASE WHEN k = 0 THEN s.created_at
         WHEN k = 1 THEN s.first_response_at
         ELSE s.first_response_at + (s.stage_changed_at - s.first_response_at)
              * ((k - 1)::float8 / GREATEST(s.rank - 1 + (s.exit_stage <> '')::int, 1))
    END,
    CASE WHEN k = 0 THEN NULL ELSE s.worker_id END,
    s.id
FROM bench_seed s, generate_series(0, s.rank) k
UNION ALL
SELECT ({funnel})[s.rank + 1], s.exit_stage, s.lost_reason,
    CASE WHEN s.lost_reason = 'unreachable' THEN 'Cadence ended without an answer.'
         ELSE '' END,
    s.stage_changed_at,
    CASE WHEN s.lost_reason = 'unreachable' THEN NULL ELSE s.worker_id END,
    s.id
FROM bench_seed s
WHERE s.exit_stage IN ('lost', 'referred_out')
) changes
ORDER BY 5
"""  # noqa: S608


def _activity_sql() -> str:
    return """
INSERT INTO leads_activity (kind, at, summary, body, data, actor_id, lead_id)
SELECT * FROM (
SELECT 'created', s.created_at, 'Lead created', '', '{}'::jsonb, NULL::bigint, s.id
FROM bench_seed s
UNION ALL
SELECT 'note', s.stage_changed_at, 'Note',
    'Spoke with the caller; they want to talk it over with family first.',
    '{}'::jsonb, s.worker_id, s.id
FROM bench_seed s
WHERE s.rank >= 2 AND s.u_x < 0.15
) activities
ORDER BY 2
"""


def _call_sql(now: str, refs: dict) -> str:
    """Calls: the outbound attempts and answered inbound calls of each worked lead,
    missed inbound calls, and a few calls live right now."""
    tracking_ids = matrix(refs["tracking_ids"], "bigint")
    tracking = matrix(refs["tracking_numbers"], "text")
    normal = "sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random())"
    columns = """
    sid, direction, status, from_number, to_number, caller_city, caller_state,
    ring_list, ring_index, dial_status, started_at, answered_at, ended_at,
    duration_seconds, talk_seconds, answered_by, recording_sid, recording_url,
    recording_duration, is_voicemail, transcription, missed_at,
    quiet_hours_override, disposition, disposition_at, error_message, updated_at,
    counselor_id, disposition_by_id, lead_id, tracking_number_id"""
    return f"""
INSERT INTO telephony_call ({columns})
SELECT * FROM (
SELECT NULL, x.direction, x.status,
    CASE WHEN x.direction = 'inbound' THEN x.phone ELSE '+13055550100' END,
    CASE WHEN x.direction = 'inbound' THEN x.tracking_number ELSE x.phone END,
    '', '', '[]'::jsonb, 0,
    CASE WHEN x.talk IS NOT NULL THEN 'completed' ELSE 'no-answer' END,
    x.at,
    CASE WHEN x.talk IS NOT NULL THEN x.at + interval '12 seconds' END,
    x.at + make_interval(secs => 12 + COALESCE(x.talk, 18)),
    12 + COALESCE(x.talk, 18),
    x.talk,
    '', '', '',
    NULL::int, FALSE, '', NULL::timestamptz, FALSE,
    CASE WHEN x.talk IS NOT NULL THEN 'reached'
         WHEN x.voicemail THEN 'left_voicemail' ELSE 'no_answer' END,
    x.at + make_interval(secs => 40 + COALESCE(x.talk, 0)),
    '', x.at,
    x.counselor_id, x.counselor_id, x.id, x.tracking_number_id
FROM (
    SELECT y.*,
        CASE WHEN y.status = 'completed'
             THEN (45 + LEAST(exp(ln(300) + 0.8 * {normal}), 5400))::int END AS talk
    FROM (
        SELECT s.id, l.phone,
            CASE WHEN j = 1 AND s.by_phone THEN 'inbound' ELSE 'outbound' END
                AS direction,
            CASE WHEN j = 1 AND s.by_phone THEN 'completed'
                 WHEN s.rank >= 2 AND (j = 1 OR random() < 0.7) THEN 'completed'
                 ELSE 'no-answer' END AS status,
            random() < 0.5 AS voicemail,
            CASE WHEN j = 1 THEN s.first_response_at
                 ELSE s.first_response_at
                      + (s.stage_changed_at - s.first_response_at)
                      * ((j - 1)::float8 / s.ncalls) END AS at,
            s.worker_id AS counselor_id,
            CASE WHEN j = 1 AND s.by_phone
                 THEN ({tracking_ids})[s.source_idx][1 + floor(s.u_cb * 4)::int]
                 END AS tracking_number_id,
            ({tracking})[s.source_idx][1 + floor(s.u_cb * 4)::int]
                AS tracking_number
        FROM bench_seed s
        JOIN leads_lead l ON l.id = s.id
        CROSS JOIN generate_series(1, s.ncalls) j
    ) y
) x
UNION ALL
-- Missed inbound calls: nobody picked up (no counselor), some of them today.
SELECT NULL, 'inbound', 'no-answer', l.phone,
    ({tracking})[s.source_idx][1 + floor(s.u_cb * 4)::int],
    '', '', '[]'::jsonb, 0, 'no-answer', m.at, NULL,
    m.at + interval '40 seconds', 40, NULL, '', '', '', NULL, FALSE, '', m.at,
    FALSE, '', NULL, '', m.at, NULL, NULL, s.id,
    ({tracking_ids})[s.source_idx][1 + floor(s.u_cb * 4)::int]
FROM bench_seed s
JOIN leads_lead l ON l.id = s.id
CROSS JOIN LATERAL (
    SELECT s.created_at + (s.stage_changed_at - s.created_at) * s.u_r2 AS at
) m
WHERE s.by_phone AND s.u_r1 > 0.94
) calls
ORDER BY 11;

-- Calls live now: ringing or talking, on the newest open leads.
INSERT INTO telephony_call ({columns})
SELECT NULL, 'outbound', CASE WHEN r <= 7 THEN 'in-progress' ELSE 'ringing' END,
    '+13055550100', l.phone, '', '', '[]'::jsonb, 0, '',
    {now} - make_interval(secs => r * 37), CASE WHEN r <= 7
    THEN {now} - make_interval(secs => r * 30) END, NULL, NULL, NULL, '', '', '',
    NULL, FALSE, '', NULL, FALSE, '', NULL, '', {now}, l.owner_id, NULL, l.id, NULL
FROM (
    SELECT id, owner_id, phone, row_number() OVER (ORDER BY created_at DESC) AS r
    FROM leads_lead
    WHERE stage IN ('attempting_contact', 'contacted') AND owner_id IS NOT NULL
    ORDER BY created_at DESC
    LIMIT 9
) l
"""  # noqa: S608


def _callback_sql(now: str, refs: dict) -> str:
    columns = """
    due_at, status, reason, attempt, leave_voicemail, send_text, note, created_at,
    dispatched_at, closed_at, outcome, closed_by_id, created_by_id, lead_id,
    owner_id"""
    center = q(CENTER_ZONE)
    return f"""
INSERT INTO leads_callback ({columns})
SELECT * FROM (
-- Past call-backs of closed leads: made, or cancelled when the lead closed.
SELECT d.due, CASE WHEN s.u_calls < 0.8 THEN 'done' ELSE 'cancelled' END,
    CASE WHEN s.rank = 1 THEN 'cadence' ELSE 'scheduled' END,
    CASE WHEN s.rank = 1 THEN 2 ELSE 0 END, FALSE, FALSE, '',
    s.first_response_at, d.due, d.due + interval '7 minutes',
    CASE WHEN s.u_calls < 0.8 THEN
        CASE WHEN s.rank >= 2 THEN 'reached' ELSE 'no_answer' END ELSE '' END,
    s.worker_id, s.worker_id, s.id, s.worker_id
FROM bench_seed s
CROSS JOIN LATERAL (
    SELECT s.first_response_at
           + (s.stage_changed_at - s.first_response_at) * 0.5 AS due
) d
WHERE s.cb_kind = 'history'
UNION ALL
-- Open call-backs of open leads.
SELECT d.due, d.status, d.reason, d.attempt, FALSE, d.reason = 'cadence', d.note,
    d.created, CASE WHEN d.status IN ('due', 'missed') THEN d.due END,
    NULL, '', NULL,
    CASE WHEN d.reason = 'scheduled' THEN s.owner_id END,
    s.id,
    s.owner_id
FROM bench_seed s
CROSS JOIN LATERAL (
    SELECT due,
        CASE WHEN s.cb_kind = 'missed' OR (due < {now} - interval '2 hours'
                                           AND s.cb_kind <> 'new_lead') THEN 'missed'
             WHEN due <= {now} THEN 'due'
             ELSE 'pending' END AS status,
        CASE WHEN s.cb_kind IN ('new_lead', 'cadence', 'scheduled') THEN s.cb_kind
             WHEN s.cb_kind IN ('due', 'missed') THEN 'cadence'
             ELSE 'scheduled' END AS reason,
        CASE WHEN s.cb_kind = 'cadence' THEN 1 + floor(s.u_x * 4)::int
             WHEN s.cb_kind IN ('due', 'missed') THEN 2 ELSE 0 END AS attempt,
        CASE WHEN s.cb_kind IN ('scheduled', 'today', 'later')
             THEN 'Asked for a call after work.' ELSE '' END AS note,
        LEAST(s.stage_changed_at, {now}) AS created
    FROM (SELECT CASE s.cb_kind
        WHEN 'new_lead' THEN s.created_at
        WHEN 'cadence' THEN {now} + make_interval(mins => (s.u_cb * 2880 - 720)::int)
        WHEN 'scheduled' THEN (((({now} AT TIME ZONE {center})::date
                                  + 1 + floor(s.u_cb * 5)::int)
                                 + make_interval(hours => 9 + floor(s.u_x * 9)::int))
                                AT TIME ZONE {center})
        WHEN 'due' THEN {now} - make_interval(mins => (s.slot - 40) * 7 + 1)
        WHEN 'missed' THEN {now} - make_interval(hours => 2 + s.slot - 65)
        WHEN 'today' THEN {now} + make_interval(mins => (s.slot - 69) * 12)
        WHEN 'later' THEN {now} + make_interval(days => 1 + s.slot % 4)
        END AS due) t
) d
WHERE s.is_open AND s.cb_kind <> ''
UNION ALL
-- A few leads of the team queue reached out again: unowned call-backs.
SELECT {now} - make_interval(mins => (s.u_x * 90)::int), 'due', 'repeat_inquiry', 0,
    FALSE, FALSE, '', {now} - make_interval(mins => 95), {now}, NULL, '', NULL, NULL,
    s.id, NULL
FROM bench_seed s
WHERE s.is_open AND s.owner_id IS NULL AND s.rank > 0
) callbacks
ORDER BY 8
"""  # noqa: S608


def _message_sql(now: str) -> str:
    columns = """
    direction, kind, status, "to", from_number, messaging_service_sid, body,
    twilio_sid, error_code, error_message, blocked_reason, quiet_hours_override,
    attempts, created_at, scheduled_for, next_attempt_at, enqueued_at,
    sending_started_at, handed_off_at, processed_at, status_changed_at, lead_id,
    recipient_user_id, sent_by_id, template_id"""
    sender = q("+15615550123")
    return f"""
WITH texted AS (
    SELECT s.id, s.slot, s.sms_kind, s.created_at, s.worker_id, s.u_r2, l.phone,
        CASE WHEN s.slot IS NOT NULL AND s.sms_kind = 2
             THEN {now} - make_interval(mins => s.slot - 24)
             ELSE GREATEST(s.created_at + interval '10 seconds', LEAST(
                 s.created_at + (s.stage_changed_at - s.created_at)
                 * (0.2 + 0.6 * s.u_r2) + interval '1 minute',
                 {now} - interval '5 minutes')) END AS reply_at
    FROM bench_seed s JOIN leads_lead l ON l.id = s.id
    WHERE s.sms_kind > 0 AND l.phone <> ''
)
INSERT INTO notifications_message ({columns})
SELECT m.direction, m.kind, m.status,
    CASE WHEN m.direction = 'outbound' THEN t.phone ELSE {sender} END,
    CASE WHEN m.direction = 'outbound' THEN {sender} ELSE t.phone END,
    '', m.body, NULL, NULL, '', '', FALSE, m.attempts, m.at, NULL, NULL,
    m.handed, m.handed, m.handed,
    CASE WHEN m.direction = 'inbound' THEN m.at END,
    m.at, t.id, NULL, m.sent_by, NULL
FROM texted t
CROSS JOIN LATERAL (VALUES
    ('outbound', 'automated', 'delivered',
     'Thanks for reaching out to Harbor Recovery. An admissions counselor will '
     || 'call you shortly. Reply STOP to opt out.',
     1, t.created_at + interval '5 seconds', t.created_at + interval '6 seconds',
     NULL::bigint, 1),
    ('inbound', 'inbound', 'received', 'Can you call me after 5? At work now.',
     0, t.reply_at, NULL, NULL, 2),
    ('outbound', 'manual', 'delivered', 'Of course, I will call you at 5:15.',
     1, t.reply_at + interval '4 minutes', t.reply_at + interval '4 minutes',
     t.worker_id, 3)
) AS m(direction, kind, status, body, attempts, at, handed, sent_by, step)
WHERE m.step <= t.sms_kind
ORDER BY m.at
"""  # noqa: S608


def _stage_time(k: int) -> str:
    """When a lead of `bench_seed s` moved into FUNNEL[k] (k >= 2): as in
    `_stage_change_sql`, its moves after the first response are spread evenly."""
    return (
        f"(s.first_response_at + (s.stage_changed_at - s.first_response_at) * "
        f"({k - 1}::float8 / GREATEST(s.rank - 1 + (s.exit_stage <> '')::int, 1)))"
    )


def _verification_sql(now: str, refs: dict) -> str:
    """One VOB per lead that reached insurance verification, requested when it
    moved there and done before its next move; the newest open ones still wait."""
    verifiers = array(refs["verifiers"], "bigint")
    payer_id = (
        "CASE l.insurance_payer "
        + " ".join(
            f"WHEN {q(said)} THEN {q(pk)}::bigint"
            for said, pk in refs["payers"].items()
            if pk is not None
        )
        + " END"
    )
    normal = "sqrt(-2 * ln(1 - w.u_t1)) * cos(2 * pi() * w.u_t2)"
    requested = _stage_time(4)
    following = _stage_time(5)
    return f"""
INSERT INTO leads_insuranceverification (
    lead_id, is_current, status, requested_at, requested_by_id, request_note,
    verifier_id, started_at, completed_at, completed_by_id, payer_id, payer_name,
    plan_type, member_id, group_number, subscriber_name, subscriber_relationship,
    secondary_payer_name, secondary_member_id, method, payer_rep_name,
    call_reference, eligibility_trace, coverage_active, network_status,
    behavioral_health_carve_out, utilization_review_contact, not_a_guarantee,
    result_notes, eligibility_response
)
SELECT v.id, TRUE, v.status, v.requested_at, v.worker_id, '',
    CASE WHEN v.status <> 'requested' THEN v.verifier_id END,
    CASE WHEN v.status <> 'requested' THEN v.requested_at
        + (COALESCE(v.completed_at, {now}) - v.requested_at) * 0.25 END,
    v.completed_at,
    CASE WHEN v.completed_at IS NOT NULL THEN v.verifier_id END,
    {payer_id},
    CASE WHEN ({payer_id}) IS NULL THEN l.insurance_payer ELSE '' END,
    CASE l.insurance_payer WHEN 'Medicaid' THEN 'medicaid'
        WHEN 'Tricare' THEN 'tricare'
        ELSE (ARRAY['ppo', 'hmo', 'epo'])[1 + floor(v.u_x * 3)::int] END,
    '', '', l.first_name || ' ' || l.last_name, 'self', '', '',
    (ARRAY['portal', 'portal', 'phone', 'electronic'])[1 + floor(v.u_t2 * 4)::int],
    '', '', '',
    CASE v.status WHEN 'verified' THEN 'yes' WHEN 'denied' THEN 'no'
        ELSE 'unknown' END,
    CASE WHEN v.status <> 'verified' THEN 'unknown'
        WHEN v.u_x < 0.65 THEN 'in' ELSE 'out' END,
    '', '', TRUE, '', ''
FROM (
    SELECT w.*,
        CASE WHEN w.status IN ('requested', 'in_progress') THEN NULL
             ELSE w.requested_at + LEAST(
                 make_interval(secs => 60 * LEAST(GREATEST(
                     exp(ln(28) + {normal}), 3), 2160)),
                 GREATEST((w.next_at - w.requested_at) * 0.9, interval '1 minute'))
        END AS completed_at
    FROM (
        SELECT x.*,
            CASE
                WHEN x.is_open AND x.rank = 4
                     AND {now} - x.requested_at < interval '4 hours'
                    THEN CASE WHEN x.u_s < 0.5 THEN 'requested' ELSE 'in_progress' END
                WHEN x.is_open AND x.rank = 4
                    THEN CASE WHEN x.u_s < 0.70 THEN 'verified'
                              WHEN x.u_s < 0.82 THEN 'denied' ELSE 'unable' END
                WHEN x.rank = 4 AND x.lost_reason = 'no_usable_coverage'
                    THEN CASE WHEN x.u_s < 0.65 THEN 'denied' ELSE 'unable' END
                WHEN x.rank >= 5
                    THEN CASE WHEN x.u_s < 0.92 THEN 'verified' ELSE 'unable' END
                ELSE CASE WHEN x.u_s < 0.60 THEN 'verified'
                          WHEN x.u_s < 0.80 THEN 'denied' ELSE 'unable' END
            END AS status
        FROM (
            SELECT s.id, s.worker_id, s.is_open, s.rank, s.lost_reason, s.u_x,
                {requested} AS requested_at,
                CASE WHEN s.is_open AND s.rank = 4 THEN {now}
                     ELSE {following} END AS next_at,
                ({verifiers})[1 + floor(random() * {len(refs["verifiers"])})::int]
                    AS verifier_id,
                random() AS u_s, random() AS u_t1, random() AS u_t2
            FROM bench_seed s
            WHERE s.rank >= 4
        ) x
    ) w
) v
JOIN leads_lead l ON l.id = v.id
ORDER BY v.requested_at
"""  # noqa: S608


def _admission_sql(now: str, refs: dict) -> str:
    """The admission of each lead that reached admission scheduled: admitted when
    it moved to admitted, still scheduled for an open one, else no-show or
    cancelled when it was lost."""
    programs = refs["programs"]
    level = (
        "CASE l.level_of_care "
        + " ".join(
            f"WHEN {q(lead_level)} THEN {q(admitted_level)}"
            for lead_level, (admitted_level, _) in ADMISSION_LEVELS.items()
        )
        + " ELSE 'iop' END"
    )
    program = (
        "CASE l.level_of_care "
        + " ".join(
            f"WHEN {q(lead_level)} THEN (ARRAY[{programs[a]}, {programs[b]}]::bigint[])"
            "[1 + floor(a.u_p * 2)::int]"
            for lead_level, (_, (a, b)) in ADMISSION_LEVELS.items()
        )
        + f" ELSE {programs[2]}::bigint END"
    )
    return f"""
INSERT INTO leads_admission (
    lead_id, program_id, level_of_care, scheduled_for, travel_arranged,
    travel_notes, status, status_changed_at, status_changed_by_id, admitted_at,
    cancel_reason, created_at, created_by_id
)
SELECT a.id, {program}, {level},
    CASE a.status
        WHEN 'admitted' THEN a.admitted_move - make_interval(mins => (a.u_p * 90)::int)
        WHEN 'scheduled' THEN {now} + make_interval(hours => 3 + (a.u_p * 96)::int)
        ELSE a.scheduled_move + (a.stage_changed_at - a.scheduled_move) * 0.5 END,
    l.level_of_care IN ('detox', 'residential') AND a.u_p < 0.5, '',
    a.status,
    CASE a.status WHEN 'admitted' THEN a.admitted_move
                  WHEN 'scheduled' THEN a.scheduled_move
                  ELSE a.stage_changed_at END,
    a.worker_id,
    CASE WHEN a.status = 'admitted' THEN a.admitted_move END,
    CASE WHEN a.status = 'cancelled' THEN 'Chose another program.' ELSE '' END,
    a.scheduled_move, a.worker_id
FROM (
    SELECT s.id, s.worker_id, s.stage_changed_at,
        CASE WHEN s.exit_stage = 'admitted' THEN 'admitted'
             WHEN s.is_open THEN 'scheduled'
             WHEN s.lost_reason = 'no_show' THEN 'no_show'
             ELSE 'cancelled' END AS status,
        {_stage_time(6)} AS scheduled_move,
        {_stage_time(7)} AS admitted_move,
        random() AS u_p
    FROM bench_seed s
    WHERE s.rank >= 6
) a
JOIN leads_lead l ON l.id = a.id
ORDER BY a.scheduled_move
"""  # noqa: S608


def _drop_indexes(cursor, log) -> list[tuple[str, str]]:
    cursor.execute(
        """
        SELECT i.indexname, i.indexdef
        FROM pg_indexes i
        WHERE i.schemaname = 'public' AND i.tablename = ANY(%s)
          AND NOT EXISTS (
              SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname
          )
        """,
        [list(BIG_TABLES)],
    )
    indexes = cursor.fetchall()
    for name, _ in indexes:
        cursor.execute(f'DROP INDEX "{name}"')
    log(f"  dropped {len(indexes)} secondary indexes for the load")
    return indexes


def load(n: int, *, log=print) -> None:
    """Fill an empty, migrated database with `n` leads and everything around them."""
    from django.db import connection, transaction
    from django.utils import timezone

    now_value = timezone.now()
    now = f"{q(now_value.isoformat())}::timestamptz"
    log(f"loading {n:,} leads into {connection.settings_dict['NAME']} (bulk SQL)")
    steps_started = time.monotonic()

    def step(label: str, sql: str) -> None:
        started = time.monotonic()
        rows = 0
        with connection.cursor() as cursor:
            for statement in sql.split(";\n"):
                if statement.strip():
                    cursor.execute(statement)
                    rows += max(cursor.rowcount, 0)
        rows_text = f"{rows:,} rows, " if rows else ""
        log(f"  {label}: {rows_text}{time.monotonic() - started:.1f} s")

    with transaction.atomic():
        refs = _reference_rows(now_value)
        with connection.cursor() as cursor:
            # Referential integrity is ours to keep here: skip the FK triggers,
            # and give the index builds memory and both cores.
            cursor.execute("SET LOCAL session_replication_role = replica")
            cursor.execute("SET LOCAL maintenance_work_mem = '1GB'")
            cursor.execute("SET LOCAL work_mem = '256MB'")
            cursor.execute("SET LOCAL max_parallel_maintenance_workers = 2")
            # Compiling these wide expressions costs more than running them.
            cursor.execute("SET LOCAL jit = off")
            cursor.execute(f"SELECT setseed({SEED})")
            indexes = _drop_indexes(cursor, log)
        step("seed decisions", _seed_sql(n, now, refs))
        step("bench counselor's 200 open leads", _bench_slots_sql(n, now, refs))
        step("leads", _lead_sql(now, refs))
        step("touches", _touch_sql())
        step("stage changes", _stage_change_sql())
        step("activities", _activity_sql())
        step("calls", _call_sql(now, refs))
        step("call-backs", _callback_sql(now, refs))
        step("texts", _message_sql(now))
        step("insurance verifications", _verification_sql(now, refs))
        step("admissions", _admission_sql(now, refs))
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE bench_seed")
            for table in ("leads_lead", "leads_touch"):
                sequence = f"pg_get_serial_sequence('{table}', 'id')"
                maximum = f"(SELECT max(id) FROM {table})"  # noqa: S608
                cursor.execute(f"SELECT setval({sequence}, {maximum})")
        started = time.monotonic()
        with connection.cursor() as cursor:
            for _, definition in indexes:
                cursor.execute(definition)
        log(f"  rebuilt {len(indexes)} indexes: {time.monotonic() - started:.1f} s")
    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    log(f"  VACUUM ANALYZE: {time.monotonic() - started:.1f} s")
    log(f"loaded in {time.monotonic() - steps_started:.1f} s")


# --- Script ------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=DEFAULT_LEADS)
    parser.add_argument(
        "--database-url",
        help="default: $BENCH_DATABASE_URL or " + DEFAULT_DATABASE_URL,
    )
    parser.add_argument("--rebuild", action="store_true", help="drop and reload")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    url = database_url(args.database_url)
    setup_django(url)
    result = ensure_big_database(args.leads, rebuild=args.rebuild)
    if not result["loaded"]:
        print(f"{urlsplit(url).path.lstrip('/')} already holds {args.leads:,} leads")
    else:
        print(f"load took {result['seconds']:.1f} s")
    for table, count in result["counts"].items():
        print(f"  {table:28} {count:>12,}")
    print(
        f"sign in as {BENCH_COUNSELOR} or {BENCH_SUPERVISOR}, password {BENCH_PASSWORD}"
    )


if __name__ == "__main__":
    main()
