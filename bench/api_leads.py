"""Benchmark the lead list and detail endpoints against a running server.

Seeds up to N leads in a few benchmark teams (bulk inserts, idempotent), then drives
`--clients` threads, each with its own keep-alive connection, at the list endpoint
(page 1, filtered by stage and team) and then at the detail endpoint, and prints
requests/s and latency percentiles. The figures are printed, never asserted.

Target from the issue: list p99 under 50 ms at 100,000 leads, 8 concurrent clients,
2 gunicorn workers, PostgreSQL:

    createdb -h 127.0.0.1 -U postgres crm_bench
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crm_bench \\
        .venv/bin/python bench/api_leads.py --start-server

The script creates a missing PostgreSQL database and migrates it. The script and
the server it starts use the same environment: DATABASE_URL, and
DJANGO_SETTINGS_MODULE (default crm.settings.local). DEBUG is forced off in both,
since with DEBUG on Django records every query and the figures mean nothing.
Client, server and database share this machine's CPUs; the report says how many.
"""

import argparse
import contextlib
import functools
import http.client
import json
import math
import multiprocessing
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

# bench/ is on sys.path when a script here runs.
from benchlib import database_description, ensure_database, log

BASE_DIR = Path(__file__).resolve().parent.parent
TARGET_LIST_P99_MS = 50.0
BATCH_SIZE = 2_000
DETAIL_ID_SAMPLE = 5_000
SEED_DAYS = 60
TRANSACTION_CONTROL = {"BEGIN", "COMMIT", "ROLLBACK"}

BENCH_USERNAME = "bench-supervisor"
# slug, name, counselors
BENCH_TEAMS = [
    ("bench-outpatient", "Bench: outpatient admissions", 5),
    ("bench-residential", "Bench: residential admissions", 4),
    ("bench-detox", "Bench: detox admissions", 3),
]


@dataclass(frozen=True)
class SourceSpec:
    slug: str
    name: str
    kind: str
    channel: str
    share: int
    campaign: str = ""
    utm_source: str = ""
    utm_medium: str = ""


BENCH_SOURCES = [
    SourceSpec("bench-web-form", "Bench: web form", "web_form", "web_form", 35),
    SourceSpec(
        "bench-google-ads",
        "Bench: Google Ads landing page",
        "web_form",
        "web_form",
        30,
        campaign="Rehab - insurance (search)",
        utm_source="google",
        utm_medium="cpc",
    ),
    SourceSpec("bench-tracking", "Bench: tracking number", "phone", "phone", 20),
    SourceSpec("bench-sms", "Bench: SMS keyword", "sms", "sms", 5, campaign="HELP"),
    SourceSpec("bench-referral", "Bench: referral partner", "referral", "referral", 10),
]
# Where leads sit after two months: most closed, a queue of open ones.
STAGE_WEIGHTS = {
    "new": 4,
    "attempting_contact": 8,
    "contacted": 8,
    "assessment": 6,
    "insurance_verification": 5,
    "clinical_review": 3,
    "admission_scheduled": 3,
    "admitted": 15,
    "lost": 45,
    "referred_out": 3,
}
FUNNEL = [
    "new",
    "attempting_contact",
    "contacted",
    "assessment",
    "insurance_verification",
    "clinical_review",
    "admission_scheduled",
    "admitted",
]
EARLY_STAGES = FUNNEL[:3]
LOST_REASONS = ["unreachable", "not_ready", "chose_other_provider", "no_show"]
LEVELS = {
    "detox": ("bench-detox", 18),
    "residential": ("bench-residential", 22),
    "php": ("bench-outpatient", 12),
    "iop": ("bench-outpatient", 25),
    "outpatient": ("bench-outpatient", 8),
    "aftercare": ("bench-outpatient", 3),
    "unsure": ("bench-outpatient", 12),
}
STATES = {"FL": 30, "CA": 12, "TX": 10, "NY": 8, "PA": 8, "OH": 6, "NJ": 6, "IL": 5}
AREA_CODES = {
    "FL": "305",
    "CA": "213",
    "TX": "512",
    "NY": "212",
    "PA": "215",
    "OH": "614",
    "NJ": "201",
    "IL": "312",
}
FIRST_NAMES = ["James", "Mary", "Robert", "Linda", "Luis", "Carmen", "Tasha", "Cody"]
LAST_NAMES = ["Smith", "Garcia", "Nguyen", "Brown", "Torres", "Okafor", "Lee", "King"]
PAYERS = ["Aetna", "Cigna", "UnitedHealthcare", "Humana", "Medicaid", ""]
SUBSTANCES = ["alcohol", "opioids", "fentanyl", "benzodiazepines", "stimulants"]
# The list pages the benchmark asks for, in every benchmark team: the open queue a
# counselor works (small to medium pages of results) and the big closed pile.
LIST_STAGES = ["new", "attempting_contact", "contacted", "lost"]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=100_000, help="seed up to N")
    parser.add_argument("--url", default="http://127.0.0.1:8001")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20.0, help="per endpoint")
    parser.add_argument("--warmup", type=float, default=2.0, help="per endpoint")
    parser.add_argument(
        "--start-server", action="store_true", help="run gunicorn on --url's port"
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help=">1 means gthread")
    parser.add_argument("--worker-class", default="sync")
    parser.add_argument("--skip-seed", action="store_true")
    parser.add_argument(
        "--explain",
        action="store_true",
        help="print EXPLAIN ANALYZE of each request's queries (PostgreSQL)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON only")
    return parser.parse_args()


# --- Django -------------------------------------------------------------------


def setup_django() -> None:
    sys.path.insert(0, str(BASE_DIR))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings.local")
    os.environ["DEBUG"] = "0"
    # WhiteNoise warns once per process when collectstatic has not run; the API
    # serves no static files.
    warnings.filterwarnings("ignore", message="No directory at")
    import django

    django.setup()


def ensure_fixture_rows():
    """Teams, counselors, sources and the benchmark user with its API token."""
    from rest_framework.authtoken.models import Token

    from crm.models import Team, User
    from leads.models import LeadSource

    teams, counselors = {}, {}
    for slug, name, headcount in BENCH_TEAMS:
        team, _ = Team.objects.get_or_create(slug=slug, defaults={"name": name})
        teams[slug] = team
        counselors[slug] = []
        for number in range(1, headcount + 1):
            user, created = User.objects.get_or_create(
                username=f"{slug}-counselor{number}",
                defaults={"first_name": "Counselor", "last_name": f"{slug} {number}"},
            )
            if created:
                user.set_unusable_password()
                user.save(update_fields=["password"])
            team.members.add(user)
            counselors[slug].append(user)
    sources = {}
    for spec in BENCH_SOURCES:
        sources[spec.slug], _ = LeadSource.objects.get_or_create(
            slug=spec.slug, defaults={"name": spec.name, "kind": spec.kind}
        )
    # A supervisor of every benchmark team: sees their leads through the same
    # team-visibility path as the people who use the list all day.
    user, created = User.objects.get_or_create(
        username=BENCH_USERNAME,
        defaults={"role": User.Role.SUPERVISOR, "first_name": "Bench"},
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    for team in teams.values():
        team.supervisors.add(user)
    token, _ = Token.objects.get_or_create(user=user)
    refs = SeedRefs(
        teams={slug: team.pk for slug, team in teams.items()},
        counselors={slug: [u.pk for u in users] for slug, users in counselors.items()},
        sources={slug: source.pk for slug, source in sources.items()},
    )
    return user, token.key, teams, refs


def _stage_path(rng: random.Random, stage: str) -> tuple[list[str], str]:
    """Return the stages a lead went through to reach `stage`, and where it closed."""
    if stage in FUNNEL:
        return FUNNEL[: FUNNEL.index(stage) + 1], ""
    if stage == "referred_out":
        return [*FUNNEL[:6], stage], "clinical_review"
    reached = rng.choices(range(7), weights=[5, 30, 25, 15, 10, 8, 7])[0]
    return [*FUNNEL[: reached + 1], stage], FUNNEL[reached]


@dataclass(frozen=True)
class SeedRefs:
    """Primary keys the seeding processes point new rows at."""

    teams: dict[str, int]
    counselors: dict[str, list[int]]
    sources: dict[str, int]


@functools.cache
def _phone(number: str):
    # Parsing a number costs more than building the rest of the row; there are
    # only a few hundred distinct fictional ones.
    from phonenumber_field.phonenumber import PhoneNumber

    return PhoneNumber.from_string(number)


def _build_lead(rng: random.Random, *, index: int, now, refs: SeedRefs):
    from leads.geo import time_zone_for_state
    from leads.models import Lead

    age = timedelta(days=rng.uniform(0, SEED_DAYS))
    created_at = now - age
    stage = rng.choices(list(STAGE_WEIGHTS), weights=list(STAGE_WEIGHTS.values()))[0]
    if age < timedelta(days=2) and stage not in EARLY_STAGES:
        stage = rng.choice(EARLY_STAGES)
    path, stage_before_close = _stage_path(rng, stage)
    changes, at = [], created_at
    for step, to_stage in enumerate(path):
        if step:
            at = min(at + timedelta(hours=rng.uniform(0.05, 30)), now)
        changes.append((path[step - 1] if step else "", to_stage, at))

    level = rng.choices(list(LEVELS), weights=[w for _t, w in LEVELS.values()])[0]
    team_slug = LEVELS[level][0]
    spec = rng.choices(BENCH_SOURCES, weights=[s.share for s in BENCH_SOURCES])[0]
    state = rng.choices(list(STATES), weights=list(STATES.values()))[0]
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    unassigned = (stage == "new" and rng.random() < 0.5) or rng.random() < 0.05
    payer = rng.choice(PAYERS)
    lead = Lead(
        first_name=first,
        last_name=last,
        phone=_phone(f"+1{AREA_CODES[state]}55501{index % 100:02d}"),
        email=f"{first}.{last}.{index}@example.com".lower()
        if rng.random() < 0.6
        else "",
        state=state,
        time_zone=time_zone_for_state(state),
        preferred_language="es" if rng.random() < 0.1 else "en",
        substances=rng.sample(SUBSTANCES, k=rng.choice([1, 1, 2])),
        level_of_care=level,
        urgency=rng.choices(["routine", "soon", "urgent", "crisis"], [50, 30, 17, 3])[
            0
        ],
        priority=2 if team_slug != "bench-outpatient" else 1,
        insurance_payer=payer,
        # Encrypted at rest, which costs a Fernet call per row: only some rows.
        insurance_member_id=f"W{rng.randint(10**8, 10**9)}"
        if payer and rng.random() < 0.1
        else "",
        owner_id=None if unassigned else rng.choice(refs.counselors[team_slug]),
        team_id=refs.teams[team_slug],
        source_id=refs.sources[spec.slug],
        campaign=spec.campaign,
        utm_source=spec.utm_source,
        utm_medium=spec.utm_medium,
        stage=stage,
        stage_changed_at=changes[-1][2],
        stage_before_close=stage_before_close,
        lost_reason=rng.choice(LOST_REASONS) if stage == "lost" else "",
        referred_to="Bench Medical Detox" if stage == "referred_out" else "",
        created_at=created_at,
        first_response_at=changes[1][2] if len(changes) > 1 else None,
        last_activity_at=changes[-1][2],
    )
    return lead, spec.channel, changes


def _seed_batch(first_index: int, size: int, now, refs: SeedRefs) -> int:
    """Insert leads `first_index`.. with their first touch and stage history."""
    from django.db import transaction

    from leads.models import Lead, StageChange, Touch

    # Seeded by position, so a rerun after an interruption makes the same rows.
    rng = random.Random(f"api-leads-{first_index}")
    built = [
        _build_lead(rng, index=first_index + n, now=now, refs=refs) for n in range(size)
    ]
    with transaction.atomic():
        Lead.objects.bulk_create([lead for lead, _channel, _changes in built])
        Touch.objects.bulk_create(
            Touch(
                lead_id=lead.pk,
                channel=channel,
                occurred_at=lead.created_at,
                summary="Asked for a call back",
                source_id=lead.source_id,
                campaign=lead.campaign,
                utm_source=lead.utm_source,
                utm_medium=lead.utm_medium,
            )
            for lead, channel, _changes in built
        )
        StageChange.objects.bulk_create(
            StageChange(
                lead_id=lead.pk,
                from_stage=from_stage,
                to_stage=to_stage,
                by_id=lead.owner_id,
                at=at,
            )
            for lead, _channel, changes in built
            for from_stage, to_stage, at in changes
        )
    return size


def seed_leads(args, *, refs: SeedRefs) -> int:
    """Top the benchmark teams up to `args.leads` leads; return how many were added."""
    from django.db import connections
    from django.db.models import OuterRef, Subquery
    from django.utils import timezone

    from leads.models import Lead, Touch

    bench_leads = Lead.objects.filter(team_id__in=refs.teams.values())
    existing = bench_leads.count()
    missing = args.leads - existing
    if missing <= 0:
        log(args, f"seed: {existing:,} leads already there, nothing to add")
        return 0
    processes = max(1, min(os.cpu_count() or 1, 4))
    log(args, f"seed: {existing:,} leads there, adding {missing:,} ({processes} procs)")
    now = timezone.now()
    started = time.perf_counter()
    batches = [
        (existing + offset, min(BATCH_SIZE, missing - offset))
        for offset in range(0, missing, BATCH_SIZE)
    ]
    # Planner statistics before the bulk of the rows: on a never-analyzed lead
    # table PostgreSQL checks each new row's foreign key by scanning a whole index
    # instead of the primary key, and seeding slows down as the table grows.
    done = _seed_batch(*batches.pop(0), now, refs)
    analyze(vacuum=False)
    # Building rows and preparing their values is Python work; a process per CPU
    # keeps the cores and PostgreSQL busy. Forked children open their own
    # connections, so the parent's must not be inherited open.
    connections.close_all()
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(processes, mp_context=context) as pool:
        futures = [pool.submit(_seed_batch, *batch, now, refs) for batch in batches]
        for future in as_completed(futures):
            done += future.result()
            if done % 20_000 < BATCH_SIZE or done == missing:
                rate = done / (time.perf_counter() - started)
                log(args, f"seed: {existing + done:,} leads ({rate:,.0f}/s)")
    # One statement for all the new leads' touch pointers; it also mends the rows
    # of an earlier run that was stopped before this line.
    first_touch = Touch.objects.filter(lead=OuterRef("pk")).order_by("id").values("id")
    bench_leads.filter(first_touch__isnull=True).update(
        first_touch=Subquery(first_touch[:1]), last_touch=Subquery(first_touch[:1])
    )
    log(args, f"seed: done in {time.perf_counter() - started:,.0f} s")
    return missing


def analyze(*, vacuum: bool = True) -> None:
    """Refresh planner statistics (and the visibility map), as autovacuum would."""
    from django.db import connection

    if connection.vendor == "postgresql":
        # VACUUM cannot run in a transaction; Django's autocommit is outside one.
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE" if vacuum else "ANALYZE")
    elif connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


def list_paths(teams) -> tuple[list[str], dict[str, int]]:
    from leads.models import Lead

    paths, rows = [], {}
    for team in teams.values():
        for stage in LIST_STAGES:
            path = f"/api/v1/leads/?stage={stage}&team={team.pk}"
            paths.append(path)
            rows[path] = Lead.objects.filter(team=team, stage=stage).count()
    return paths, rows


def detail_paths(user) -> list[str]:
    from leads.models import Lead

    ids = (
        Lead.objects.visible_to(user)
        .order_by("?")
        .values_list("id", flat=True)[:DETAIL_ID_SAMPLE]
    )
    return [f"/api/v1/leads/{pk}/" for pk in ids]


def count_queries(path: str, token: str, host: str, explain: bool) -> dict:
    """Serve `path` in this process and report the queries it runs."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(headers={"authorization": f"Token {token}", "host": host})
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    if response.status_code != 200:
        raise SystemExit(f"{path} answered {response.status_code} in-process")
    statements = [query["sql"] for query in captured.captured_queries]
    # Django 5.2 also records BEGIN/COMMIT; they are round trips, but not queries.
    control = [s for s in statements if s.strip().upper() in TRANSACTION_CONTROL]
    report = {
        "path": path,
        "queries": len(statements) - len(control),
        "transaction_statements": len(control),
        "sql": statements,
    }
    if explain and connection.vendor == "postgresql":
        plans = []
        with connection.cursor() as cursor:
            for statement in statements:
                if not statement.lstrip().upper().startswith("SELECT"):
                    continue
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement)
                plan = "\n".join(row[0] for row in cursor.fetchall())
                plans.append({"sql": statement, "plan": plan})
        report["plans"] = plans
    return report


# --- Server -------------------------------------------------------------------


def _port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def start_server(args, host: str, port: int, log_file) -> subprocess.Popen:
    if _port_open(host, port):
        raise SystemExit(f"{host}:{port} is already in use; pick another --url port")
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "crm.wsgi:application",
        "--chdir",
        str(BASE_DIR),
        "--bind",
        f"{host}:{port}",
        "--workers",
        str(args.workers),
        "--worker-class",
        args.worker_class,
        "--threads",
        str(args.threads),
        "--log-level",
        "warning",
        "--error-logfile",
        "-",
    ]
    log(args, "server: " + " ".join(command[2:]))
    # A session of its own: Ctrl-C reaches this script, which then stops gunicorn.
    server = subprocess.Popen(
        command,
        cwd=BASE_DIR,
        env=os.environ.copy(),
        stdout=log_file,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            break
        with contextlib.suppress(OSError, http.client.HTTPException):
            connection = http.client.HTTPConnection(host, port, timeout=5)
            connection.request("GET", "/healthz/")
            if connection.getresponse().status == 200:
                connection.close()
                return server
        time.sleep(0.2)
    stop_server(server)
    log_file.seek(0)
    tail = log_file.read().decode(errors="replace")[-3000:]
    raise SystemExit(f"gunicorn did not become healthy:\n{tail}")


def stop_server(server: subprocess.Popen) -> None:
    if server.poll() is not None:
        return
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


# --- Load ---------------------------------------------------------------------


@dataclass
class ClientResult:
    latencies: list[float] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)
    reconnects: int = 0
    finished_at: float = 0.0


def _client(host, port, headers, paths, seed, barrier, seconds, result) -> None:
    rng = random.Random(seed)
    connection = http.client.HTTPConnection(host, port, timeout=30)
    latencies, errors = result.latencies, result.errors
    count = len(paths)
    barrier.wait()
    deadline = time.perf_counter() + seconds
    now = time.perf_counter()
    while now < deadline:
        path = paths[rng.randrange(count)]
        try:
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            response.read()
            status = response.status
            # A sync gunicorn worker closes after every answer; http.client then
            # opens a new connection on the next request.
            result.reconnects += response.will_close
        except (OSError, http.client.HTTPException) as exc:
            status = type(exc).__name__
            connection.close()
        end = time.perf_counter()
        if status == 200:
            latencies.append(end - now)
        else:
            errors[str(status)] += 1
        now = end
    result.finished_at = now
    connection.close()


def run_load(args, host: str, port: int, token: str, paths: list[str]) -> dict:
    headers = {"Authorization": f"Token {token}", "Accept": "application/json"}

    def phase(seconds: float, seed: int) -> tuple[list[ClientResult], float]:
        results = [ClientResult() for _ in range(args.clients)]
        barrier = threading.Barrier(args.clients + 1)
        threads = [
            threading.Thread(
                target=_client,
                args=(host, port, headers, paths, seed + n, barrier, seconds, result),
                daemon=True,
            )
            for n, result in enumerate(results)
        ]
        for thread in threads:
            thread.start()
        barrier.wait()
        started = time.perf_counter()
        for thread in threads:
            thread.join()
        return results, started

    if args.warmup > 0:
        phase(args.warmup, seed=1_000)
    results, started = phase(args.seconds, seed=2_000)
    elapsed = max(result.finished_at for result in results) - started
    latencies = sorted(value for result in results for value in result.latencies)
    errors = sum((result.errors for result in results), Counter())
    requests = len(latencies) + sum(errors.values())

    def pct(q: float) -> float:
        if not latencies:
            return float("nan")
        return latencies[max(0, math.ceil(q * len(latencies)) - 1)] * 1000

    return {
        "requests": requests,
        "errors": sum(errors.values()),
        "error_kinds": dict(errors),
        "requests_per_s": requests / elapsed if elapsed else 0.0,
        "p50_ms": pct(0.50),
        "p90_ms": pct(0.90),
        "p99_ms": pct(0.99),
        "max_ms": latencies[-1] * 1000 if latencies else float("nan"),
        "mean_ms": sum(latencies) / len(latencies) * 1000 if latencies else 0.0,
        "server_closed_connections": sum(result.reconnects for result in results),
        "seconds": elapsed,
    }


# --- Report -------------------------------------------------------------------


def print_report(report: dict) -> None:
    setup = report["setup"]
    db = setup["database"]
    cpus = setup["cpus"]
    print()
    print("Lead API benchmark")
    print(f"  server    {setup['url']}  {setup['server']}")
    print(f"  settings  {setup['settings']}  DEBUG off")
    print(f"  database  {db['vendor']} {db['version']}  ({db['name']})")
    print(
        f"  leads     {setup['leads_visible']:,} visible to {setup['user']} "
        f"({setup['leads_total']:,} in the database)"
    )
    print(
        f"  load      {setup['clients']} client threads, one keep-alive http.client "
        f"connection each, {setup['seconds']:g} s per endpoint after "
        f"{setup['warmup']:g} s warm-up"
    )
    print(
        f"  machine   {cpus} CPU(s) shared by this client, gunicorn and the database: "
        "the figures are for the whole box, not for a dedicated server"
    )
    rows = setup["list_rows"]
    print(
        f"  list      {len(rows)} stage/team pages ({', '.join(LIST_STAGES)}), "
        f"{min(rows.values()):,}-{max(rows.values()):,} matching rows each, page 1"
    )
    print(f"  detail    {setup['detail_ids']:,} random visible leads")
    queries = report["queries"]
    print(
        "  queries   "
        + ", ".join(
            f"{name} {queries[name]['queries']} per request"
            f" (+{queries[name]['transaction_statements']} BEGIN/COMMIT)"
            for name in ("list", "detail")
        )
    )
    print()
    header = ("endpoint", "requests", "errors", "req/s", "p50", "p90", "p99", "max")
    print("{:<8} {:>9} {:>7} {:>8} {:>7} {:>7} {:>7} {:>8}  (ms)".format(*header))
    rows_of = ("list", "detail")
    for name in rows_of:
        row = report["results"][name]
        print(
            f"{name:<8} {row['requests']:>9,} {row['errors']:>7,} "
            f"{row['requests_per_s']:>8.1f} {row['p50_ms']:>7.1f} "
            f"{row['p90_ms']:>7.1f} {row['p99_ms']:>7.1f} {row['max_ms']:>8.1f}"
        )
        if row["errors"]:
            print(f"         errors by kind: {row['error_kinds']}")
    closed = sum(report["results"][n]["server_closed_connections"] for n in rows_of)
    answered = sum(report["results"][n]["requests"] for n in rows_of)
    if closed:
        print(
            f"  the server closed the connection after {closed:,} of {answered:,} "
            "answers (sync gunicorn workers do not keep connections alive); the "
            "client reconnected each time"
        )
    p99 = report["results"]["list"]["p99_ms"]
    verdict = "met" if p99 < TARGET_LIST_P99_MS else "NOT met"
    print()
    print(f"target: list p99 < {TARGET_LIST_P99_MS:g} ms -> {verdict} ({p99:.1f} ms)")
    for name in ("list", "detail"):
        plans = queries[name].get("plans")
        if plans:
            print(f"\nEXPLAIN ANALYZE, {name} request ({queries[name]['path']}):")
            for item in plans:
                print(f"\n{item['sql']}\n{item['plan']}")


def main() -> None:
    args = parse_args()
    url = urlsplit(args.url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    setup_django()
    ensure_database(args)
    user, token, teams, refs = ensure_fixture_rows()
    if not args.skip_seed and seed_leads(args, refs=refs):
        analyze()

    from django.conf import settings

    from leads.models import Lead

    paths, rows = list_paths(teams)
    details = detail_paths(user)
    if not details:
        raise SystemExit(
            "no leads visible to the benchmark user: run without --skip-seed"
        )
    host_header = url.netloc
    queries = {
        "list": count_queries(paths[0], token, host_header, args.explain),
        "detail": count_queries(details[0], token, host_header, args.explain),
    }
    if args.start_server:
        kind = "gthread" if args.threads > 1 else args.worker_class
        server_text = (
            f"gunicorn, {args.workers} {kind} worker(s) x {args.threads} thread(s), "
            "started by this script"
        )
    else:
        server_text = "already running (not started here; its setup is not known)"
    report = {
        "setup": {
            "url": args.url,
            "server": server_text,
            "workers": args.workers if args.start_server else None,
            "threads": args.threads if args.start_server else None,
            "settings": os.environ["DJANGO_SETTINGS_MODULE"],
            "debug": settings.DEBUG,
            "database": database_description(),
            "user": user.username,
            "leads_visible": Lead.objects.visible_to(user).count(),
            "leads_total": Lead.objects.count(),
            "clients": args.clients,
            "seconds": args.seconds,
            "warmup": args.warmup,
            "cpus": os.cpu_count(),
            "list_rows": rows,
            "detail_ids": len(details),
        },
        "queries": queries,
        "results": {},
    }
    # Close this process's connection so it holds no locks or snapshot during load.
    from django.db import connection

    connection.close()
    with tempfile.TemporaryFile() as server_log:
        if args.start_server:
            server = start_server(args, host, port, server_log)
        elif _port_open(host, port):
            server = None
        else:
            raise SystemExit(f"nothing listens on {host}:{port}; try --start-server")
        try:
            log(args, f"load: list, {args.clients} clients, {args.seconds:g} s")
            report["results"]["list"] = run_load(args, host, port, token, paths)
            log(args, f"load: detail, {args.clients} clients, {args.seconds:g} s")
            report["results"]["detail"] = run_load(args, host, port, token, details)
        finally:
            if server is not None:
                stop_server(server)
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        print_report(report)


if __name__ == "__main__":
    main()
