"""Benchmark the incoming-call webhook: signed POSTs, each a new caller and lead.

Drives `--clients` client threads, each with its own keep-alive http.client
connection, posting Twilio-signed `POST /twilio/voice/incoming/` requests to a
running server for `--seconds` after `--warmup`. Every request is a new call from a
new caller (a valid US number from a pool made up front), so each one creates a lead
and its call, and answers TwiML that rings the bench team's available counselors.

Printed: requests/s, latency p50/p90/p99/max, status-code counts, the queries of one
webhook (counted in-process), and the CPU each party used. The figures are printed,
never asserted.

Target from the issue: p99 < 100 ms at 16 concurrent calls on 2 gunicorn sync
workers with PostgreSQL:

    .venv/bin/python bench/voice_webhook.py --start-server

DATABASE_URL defaults to postgres://postgres@127.0.0.1:5432/crm_bench_voice (created
and migrated when missing). The script and the server it starts share one
environment: PUBLIC_BASE_URL is set to --url (the signatures are over it) and
TWILIO_AUTH_TOKEN is the settings' one (crm.settings.local has a default); DEBUG is
forced off, since with DEBUG on Django records every query. Without --start-server
the running server must have that PUBLIC_BASE_URL and token. The bench's leads and
calls are deleted afterwards unless --keep; VACUUM ANALYZE follows every bulk
change, as autovacuum may be off. Clients, server and database share this machine's
CPUs; the report says who used what.
"""

import argparse
import http.client
import json
import os
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from urllib.parse import urlencode, urlsplit

# bench/ is on sys.path when a script here runs. These modules only define things.
import intake
from api_leads import _port_open, start_server, stop_server
from benchlib import (
    database_description,
    ensure_database,
    log,
    percentile,
    timed_post,
    vacuum,
)

BASE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/crm_bench_voice"
INCOMING_PATH = "/twilio/voice/incoming/"
TARGET_P99_MS = 100.0
BENCH_TEAM = ("bench-voice", "Bench: inbound calls")
BENCH_SOURCE = ("bench-voice-number", "Bench: tracking number")
COUNSELOR_PREFIX = "bench-voice-counselor"
# Tried in order; the first that phonenumbers calls valid is the tracking number.
TRACKING_CANDIDATES = ["+18882300190", "+18772300190", "+18662300190"]
# Real US area codes; a caller's number is used only when phonenumbers calls it
# valid. Counselors' phones come from the first one.
AREA_CODES = [
    "212", "213", "214", "215", "305", "312", "404", "415", "503", "512",
    "602", "614", "617", "702", "713", "808", "813", "901", "919", "954",
]  # fmt: skip
CITIES = [("MIAMI", "FL"), ("AUSTIN", "TX"), ("COLUMBUS", "OH"), ("", "")]
TRANSACTION_CONTROL = {"BEGIN", "COMMIT", "ROLLBACK"}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8003")
    parser.add_argument("--clients", type=int, default=16, help="client threads")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured time")
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured start")
    parser.add_argument(
        "--start-server", action="store_true", help="run gunicorn on --url's port"
    )
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument(
        "--counselors", type=int, default=6, help="available counselors to ring"
    )
    parser.add_argument(
        "--callers",
        type=int,
        default=0,
        help="size of the caller-number pool (default: enough for 800 calls/s)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the bench's leads")
    parser.add_argument("--json", action="store_true", help="print JSON only")
    args = parser.parse_args()
    for name in ("clients", "workers", "counselors"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.seconds <= 0 or args.warmup < 0:
        parser.error("--seconds must be positive and --warmup not negative")
    if not args.callers:
        args.callers = int(800 * (args.seconds + args.warmup)) + 1_000
    # What start_server() borrowed from api_leads.py reads.
    args.worker_class, args.threads = "sync", 1
    return args


# --- Environment ----------------------------------------------------------------------


def configure_environment(args: argparse.Namespace) -> None:
    """Settings shared by this process and gunicorn: read once, at django.setup()."""
    database_url = os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    if urlsplit(database_url).scheme not in {"postgres", "postgresql", "pgsql"}:
        raise SystemExit("DATABASE_URL must point at PostgreSQL (postgres://...)")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings.local")
    os.environ["DEBUG"] = "0"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    # Twilio signs the URL it calls; the server checks PUBLIC_BASE_URL + path.
    os.environ["PUBLIC_BASE_URL"] = args.url.rstrip("/")


def setup_django() -> None:
    sys.path.insert(0, str(BASE_DIR))
    import warnings

    # WhiteNoise warns once per process when collectstatic has not run.
    warnings.filterwarnings("ignore", message="No directory at")
    import django

    django.setup()


def _valid(number: str) -> bool:
    import phonenumbers

    return phonenumbers.is_valid_number(phonenumbers.parse(number))


def caller_pool(size: int, *, avoid: set[str]) -> list[str]:
    """`size` distinct valid US numbers, spread over area codes and exchanges."""
    start = uuid.uuid4().int % 10_000
    numbers: list[str] = []
    for line_step in range(10_000):
        line = (start + line_step * 7_919) % 10_000
        for area in AREA_CODES:
            for exchange in range(201, 1000):
                if exchange % 100 == 11 or exchange == 555:
                    continue
                number = f"+1{area}{exchange:03d}{line:04d}"
                if number not in avoid and _valid(number):
                    numbers.append(number)
                    if len(numbers) == size:
                        return numbers
    return numbers


def ensure_fixture(args: argparse.Namespace):
    """The bench team of available counselors with phones, and its number."""
    from crm.models import Team, User
    from leads.models import LeadSource
    from telephony.models import TrackingNumber

    team, _ = Team.objects.get_or_create(
        slug=BENCH_TEAM[0], defaults={"name": BENCH_TEAM[1]}
    )
    phones = [
        number
        for exchange in range(230, 300)
        if _valid(number := f"+1{AREA_CODES[0]}{exchange}0100")
    ]
    for n in range(1, args.counselors + 1):
        user, created = User.objects.get_or_create(
            username=f"{COUNSELOR_PREFIX}{n}",
            defaults={"first_name": f"Counselor{n}", "last_name": "Bench"},
        )
        if created:
            user.set_unusable_password()
        # Every run starts from the same state: all free, capacity never the limit.
        user.role = User.Role.COUNSELOR
        user.presence = User.Presence.AVAILABLE
        user.phone = phones[n - 1]
        user.max_open_leads = 1_000_000
        user.is_active = True
        user.save()
        team.members.add(user)
    source, _ = LeadSource.objects.get_or_create(
        slug=BENCH_SOURCE[0],
        defaults={"name": BENCH_SOURCE[1], "kind": LeadSource.Kind.PHONE},
    )
    number = next(n for n in TRACKING_CANDIDATES if _valid(n))
    tracking, _ = TrackingNumber.objects.update_or_create(
        number=number,
        defaults={
            "name": "Bench: inbound calls",
            "source": source,
            "team": team,
            "campaign": "Bench",
            "greeting": "Thank you for calling the benchmark.",
            "is_active": True,
        },
    )
    return team, tracking


def delete_bench_rows(team, tracking) -> tuple[int, int]:
    """Delete the bench's calls and leads (with their timeline), then VACUUM."""
    from leads.models import Lead
    from telephony.models import Call

    calls = Call.objects.filter(tracking_number=tracking)
    deleted_calls = calls.count()
    calls.delete()
    leads = Lead.objects.filter(team=team)
    deleted_leads = leads.count()
    leads.delete()
    vacuum()
    return deleted_leads, deleted_calls


def call_params(*, account_sid: str, caller: str, tracking: str, n: int) -> dict:
    city, state = CITIES[n % len(CITIES)]
    params = {
        "CallSid": "CA" + uuid.uuid4().hex,
        "AccountSid": account_sid,
        "From": caller,
        "To": tracking,
        "Called": tracking,
        "Caller": caller,
        "CallStatus": "ringing",
        "Direction": "inbound",
        "ApiVersion": "2010-04-01",
    }
    if city:
        params.update(FromCity=city, FromState=state, CallerCity=city)
    return params


# --- Queries per webhook --------------------------------------------------------------


def count_queries(tracking, callers: list[str]) -> dict:
    """Serve three new calls in this process; report the statements of the last."""
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from twilio.request_validator import RequestValidator

    validator = RequestValidator(settings.TWILIO_AUTH_TOKEN)
    signed_url = settings.PUBLIC_BASE_URL.rstrip("/") + INCOMING_PATH
    client = Client(HTTP_HOST="127.0.0.1")
    statements: list[str] = []
    twiml = ""
    for n, caller in enumerate(callers):
        params = call_params(
            account_sid=settings.TWILIO_ACCOUNT_SID or "AC" + "0" * 32,
            caller=caller,
            tracking=str(tracking.number),
            n=n,
        )
        with CaptureQueriesContext(connection) as captured:
            response = client.post(
                INCOMING_PATH,
                params,
                HTTP_X_TWILIO_SIGNATURE=validator.compute_signature(signed_url, params),
            )
        if response.status_code != 200:
            raise SystemExit(
                f"in-process webhook answered {response.status_code}: "
                f"{response.content[:300]!r}"
            )
        statements = [query["sql"] for query in captured.captured_queries]
        twiml = response.content.decode()
    if "<Dial" not in twiml:
        raise SystemExit(f"the webhook rings nobody (no <Dial>): {twiml[:300]}")
    kinds = Counter(
        "SAVEPOINT"
        if s.upper().startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))
        else s.split()[0].upper()
        for s in statements
        if s.strip().upper() not in TRANSACTION_CONTROL
    )
    return {
        "statements": len(statements),
        "transaction_statements": sum(
            1 for s in statements if s.strip().upper() in TRANSACTION_CONTROL
        ),
        "by_kind": dict(kinds),
        "numbers_rung": twiml.count("<Number"),
        "sql": statements,
    }


# --- Load -----------------------------------------------------------------------------


def client_run(
    index, host, port, signed_url, token, account_sid, tracking, callers, timing, out
):
    """Post new calls from `timing[0]` to `timing[1]` (monotonic); report them."""
    from twilio.request_validator import RequestValidator

    validator = RequestValidator(token)
    connection = http.client.HTTPConnection(host, port, timeout=30)
    requests, reconnects, exhausted = [], 0, False
    timing["go"].wait()
    start_at, stop_at = timing["start"], timing["stop"]
    while time.monotonic() < start_at:
        time.sleep(0.001)
    now = time.monotonic()
    for n, caller in enumerate(callers):
        if now >= stop_at:
            break
        params = call_params(
            account_sid=account_sid, caller=caller, tracking=tracking, n=n
        )
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": validator.compute_signature(signed_url, params),
            "User-Agent": "TwilioProxy/1.1 (bench)",
        }
        body = urlencode(params)
        now, end, status, closed = timed_post(connection, INCOMING_PATH, body, headers)
        reconnects += closed
        requests.append((now, end, status))
        now = end
    else:
        exhausted = now < stop_at
    connection.close()
    out[index] = {
        "requests": requests,
        "reconnects": reconnects,
        "exhausted": exhausted,
    }


def run_load(args, host, port, tracking, callers, cpu_marks) -> dict:
    from django.conf import settings

    signed_url = settings.PUBLIC_BASE_URL.rstrip("/") + INCOMING_PATH
    account_sid = settings.TWILIO_ACCOUNT_SID or "AC" + "0" * 32
    timing = {"go": threading.Event(), "start": 0.0, "stop": 0.0}
    out: dict[int, dict] = {}
    threads = [
        threading.Thread(
            target=client_run,
            args=(n, host, port, signed_url, settings.TWILIO_AUTH_TOKEN)
            + (account_sid, tracking, callers[n :: args.clients], timing, out),
            daemon=True,
        )
        for n in range(args.clients)
    ]
    for thread in threads:
        thread.start()
    timing["start"] = time.monotonic() + 0.05
    measure_from = timing["start"] + args.warmup
    timing["stop"] = measure_from + args.seconds
    timing["go"].set()
    time.sleep(max(0.0, measure_from - time.monotonic()))
    cpu_marks["start"] = intake.cpu_reading([])
    time.sleep(max(0.0, timing["stop"] - time.monotonic()))
    cpu_marks["end"] = intake.cpu_reading([])
    for thread in threads:
        thread.join(timeout=60)
    return {
        "requests": [r for item in out.values() for r in item["requests"]],
        "reconnects": sum(item["reconnects"] for item in out.values()),
        "exhausted": sum(item["exhausted"] for item in out.values()),
        "measure_from": measure_from,
        "stop_at": timing["stop"],
    }


def summarize(load: dict, seconds: float) -> dict:
    measured = [
        r for r in load["requests"] if load["measure_from"] <= r[0] < load["stop_at"]
    ]
    latencies = sorted(end - start for start, end, _status in measured)
    last_end = max((r[1] for r in measured), default=load["stop_at"])
    elapsed = max(seconds, last_end - load["measure_from"])
    statuses = Counter(str(status) for _start, _end, status in measured)
    return {
        "requests": len(measured),
        "seconds": elapsed,
        "requests_per_s": len(measured) / elapsed if elapsed else 0.0,
        "statuses": dict(sorted(statuses.items())),
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p90_ms": percentile(latencies, 0.90) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "max_ms": latencies[-1] * 1000 if latencies else float("nan"),
        "mean_ms": sum(latencies) / len(latencies) * 1000 if latencies else 0.0,
        "all_requests": len(load["requests"]),
        "all_ok": sum(1 for r in load["requests"] if r[2] == 200),
        "server_closed_connections": load["reconnects"],
        "clients_out_of_callers": load["exhausted"],
    }


# --- Report ---------------------------------------------------------------------------


def print_report(report: dict) -> None:
    setup, result, cpu = report["setup"], report["results"], report["cpu"]
    queries = report["queries"]
    db = setup["database"]
    print()
    print("Incoming-call webhook benchmark (POST /twilio/voice/incoming/, signed)")
    print(f"  server    {setup['url']}  {setup['server']}")
    print(f"  settings  {setup['settings']}  DEBUG off")
    print(f"  database  {db['vendor']} {db['version']}  ({db['name']})")
    print(
        f"  calls     to {setup['tracking_number']}, team of {setup['counselors']} "
        f"available counselors ({setup['ring_strategy']} ring, "
        f"{queries['numbers_rung']} number(s) in each <Dial>); every call a new "
        f"caller from a pool of {setup['callers']:,} valid US numbers"
    )
    print(
        f"  load      {setup['clients']} client threads, one keep-alive http.client "
        f"connection each, {setup['seconds']:g} s measured after "
        f"{setup['warmup']:g} s warm-up"
    )
    print(
        f"  queries   {queries['statements'] - queries['transaction_statements']} per "
        f"webhook (+{queries['transaction_statements']} BEGIN/COMMIT), "
        f"{queries['by_kind']}"
    )
    per = 1000 / max(1, result["requests"])
    print(
        f"  machine   {setup['cpus']} CPU(s), {cpu['machine_busy_pct']:.0f}% busy "
        f"during the measured {cpu['seconds']:g} s; CPU seconds (ms per request):"
    )
    for label, key in [
        ("gunicorn (master + workers)", "gunicorn_s"),
        ("PostgreSQL, this database's backends", "postgres_bench_s"),
        ("PostgreSQL, everything else", "postgres_other_s"),
        ("clients (threads of this script)", "clients_s"),
        ("other processes (not this run's)", "other_processes_s"),
        ("kernel, unattributed", "kernel_unattributed_s"),
    ]:
        print(f"{'':12}{label:<40} {cpu[key]:>6.1f} s {cpu[key] * per:>6.2f} ms")
    for command, seconds in cpu["top_other_processes"].items():
        print(f"{'':14}{seconds:>5.1f} s  {command}")
    for pid, seconds in sorted(cpu["gunicorn_processes"].items()):
        print(f"{'':14}gunicorn pid {pid}: {seconds:.1f} s")
    print()
    header = ("requests", "req/s", "p50", "p90", "p99", "max")
    print("{:>9} {:>8} {:>8} {:>8} {:>8} {:>8}  (latency, ms)".format(*header))
    print(
        f"{result['requests']:>9,} {result['requests_per_s']:>8.1f} "
        f"{result['p50_ms']:>8.1f} {result['p90_ms']:>8.1f} "
        f"{result['p99_ms']:>8.1f} {result['max_ms']:>8.1f}"
    )
    print(f"  status codes    {result['statuses']}")
    print(
        f"  leads           {setup['leads_created']:,} created for "
        f"{result['all_ok']:,} answered calls (warm-up included)"
    )
    if result["server_closed_connections"]:
        print(
            "  connections     the server closed "
            f"{result['server_closed_connections']:,} (sync workers do not keep "
            "alive); the clients reconnected"
        )
    if result["clients_out_of_callers"]:
        print(
            f"  {result['clients_out_of_callers']} client(s) ran out of caller "
            "numbers before the end: raise --callers"
        )
    p99 = result["p99_ms"]
    verdict = "met" if p99 < TARGET_P99_MS else "NOT met"
    print()
    print(
        f"target: p99 < {TARGET_P99_MS:g} ms at {setup['clients']} concurrent calls "
        f"-> {verdict} ({p99:.1f} ms)"
    )
    if report.get("server_log"):
        print(f"\nserver log (tail):\n{report['server_log']}")


# --- Main -----------------------------------------------------------------------------


def main() -> None:
    args = parse_args()
    configure_environment(args)
    setup_django()
    ensure_database(args)

    from django.db import connections

    team, tracking = ensure_fixture(args)
    try:
        report = run(args, team, tracking)
    finally:
        if not args.keep:
            connections.close_all()  # a fresh one, whatever the run left behind
            leads, calls = delete_bench_rows(team, tracking)
            log(args, f"cleanup: deleted {leads:,} bench leads and {calls:,} calls")
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        print_report(report)


def run(args, team, tracking) -> dict:
    from django.conf import settings
    from django.db import connections

    from leads.models import Lead

    leads, calls = delete_bench_rows(team, tracking)
    log(args, f"setup: deleted {leads:,} leads and {calls:,} calls of earlier runs")
    started = time.perf_counter()
    callers = caller_pool(args.callers + 3, avoid=set())
    log(
        args,
        f"setup: {len(callers):,} valid caller numbers in "
        f"{time.perf_counter() - started:.1f} s",
    )
    queries = count_queries(tracking, callers[-3:])
    callers = callers[:-3]
    deleted = delete_bench_rows(team, tracking)  # the probes' rows, then VACUUM
    log(args, f"setup: probes counted and removed ({deleted[0]} leads)")

    url = urlsplit(args.url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    connections.close_all()  # nothing held open during the run
    with tempfile.TemporaryFile() as server_log:
        server = None
        if args.start_server:
            server = start_server(args, host, port, server_log)
            intake.TRACKED["gunicorn"] = [server.pid]
            server_text = f"gunicorn, {args.workers} sync worker(s), started here"
        elif _port_open(host, port):
            server_text = "already running (not started here; its setup is unknown)"
        else:
            raise SystemExit(f"nothing listens on {host}:{port}; try --start-server")
        try:
            log(
                args,
                f"run: {args.clients} client threads, {args.warmup:g} s warm-up + "
                f"{args.seconds:g} s",
            )
            cpu_marks: dict = {}
            load = run_load(args, host, port, str(tracking.number), callers, cpu_marks)
        finally:
            if server is not None:
                stop_server(server)
        results = summarize(load, args.seconds)
        cpu = intake.cpu_report(cpu_marks, args.seconds, threads=True)
        cpu["gunicorn_processes"] = gunicorn_processes(cpu_marks)
        report = {
            "setup": {
                "url": args.url + INCOMING_PATH,
                "server": server_text,
                "workers": args.workers if args.start_server else None,
                "settings": os.environ["DJANGO_SETTINGS_MODULE"],
                "debug": settings.DEBUG,
                "database": database_description(),
                "tracking_number": str(tracking.number),
                "counselors": args.counselors,
                "ring_strategy": getattr(team, "ring_strategy", "sequential"),
                "callers": len(callers),
                "clients": args.clients,
                "seconds": args.seconds,
                "warmup": args.warmup,
                "cpus": os.cpu_count(),
                "leads_created": Lead.objects.filter(team=team).count(),
            },
            "queries": queries,
            "results": results,
            "cpu": cpu,
        }
        if any(status != "200" for status in results["statuses"]):
            report["server_log"] = intake._tail(server_log)
    return report


def gunicorn_processes(marks: dict) -> dict[int, float]:
    """CPU seconds of each gunicorn process (master and workers) in the window."""
    hz = os.sysconf("SC_CLK_TCK")
    before, after = marks["start"]["processes"], marks["end"]["processes"]
    pids = marks["end"]["groups"].get("gunicorn", set())
    return {
        pid: max(0, after[pid][2] - before.get(pid, ("", 0, 0))[2]) / hz
        for pid in pids
        if pid in after
    }


if __name__ == "__main__":
    main()
