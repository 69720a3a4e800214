"""Benchmark the web intake path end to end: form post -> lead -> auto-reply text.

Starts gunicorn (`--workers` sync workers), a real `celery -A crm worker` and the
fake Twilio (each in processes of their own), then drives `--clients` client
processes, each posting new inquiries to `POST /api/v1/intake/` over its own
http.client connection for `--seconds` after `--warmup`. Every post is a new lead
(unique first name, phone and e-mail) that agreed to texts, so each one puts the
web auto-reply in the outbox; the worker hands it to the fake Twilio after commit.

Printed: intakes/s, request latency p50/p90/p99/max, status-code counts, and the
post-to-SMS latency (from the start of the post to the fake Twilio receiving the
Messages create for that lead's number) with how many texts arrived, plus where the
CPU went. The figures are printed, never asserted.

Target from the issue: >= 150 intakes/s, request p99 < 150 ms, post-to-SMS p99
< 2 s, on 2 cores with 8 clients, 2 gunicorn workers, PostgreSQL, Redis and a
Celery worker:

    .venv/bin/python bench/intake.py

DATABASE_URL defaults to postgres://postgres@127.0.0.1:5432/crm_bench_intake (created
and migrated when missing), REDIS_URL to redis://127.0.0.1:6379/6 (cache and broker;
the script purges its Celery queue, never flushes it). The server gets
INTAKE_RATE_PER_KEY/INTAKE_RATE_PER_IP of 10,000,000 so rate limits never answer.
Texts go out only inside TCPA hours in the lead's time zone: leads are put in states
where it is daytime now; when it is night in every state, they get no state and a
number of a US territory where it is daytime (Guam at night in the US), and when
there is none either, the report says so and the post-to-SMS figures are empty.
The bench leads are deleted afterwards unless `--keep`. Clients, server, worker,
fake, PostgreSQL and Redis share this machine's CPUs; the report says who used what.
"""

import argparse
import contextlib
import http.client
import json
import multiprocessing
import os
import random
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from collections import Counter
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

# bench/ is on sys.path when a script here runs. Both modules only define things.
from api_leads import start_server, stop_server
from benchlib import (
    database_description,
    ensure_database,
    log,
    percentile,
    timed_post,
    vacuum,
)
from sms_outbox import (
    _tail,
    _worker_command,
    machine_busy,
    purge_queue,
    service_cpu,
    start_worker,
    stop_worker,
    texting_states,
    wait_for_worker,
)

BASE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/crm_bench_intake"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/6"
INTAKE_PATH = "/api/v1/intake/"
TARGET_RATE = 150.0  # intakes/s
TARGET_REQUEST_P99_MS = 150.0
TARGET_SMS_P99_S = 2.0
HIGH_RATE_LIMIT = "10000000"
BENCH_TEAM = ("bench-intake", "Bench: web intake")
BENCH_SOURCE = "Bench: web intake form"
COUNSELOR_PREFIX = "bench-intake-counselor"
COUNSELORS = 8
# Real US area codes; exchanges 200-999 and the line are generated, and a number
# is used only when phonenumbers calls it valid.
AREA_CODES = [
    "212", "213", "214", "215", "305", "312", "404", "415", "503", "512",
    "602", "614", "617", "702", "713", "808", "813", "901", "919", "954",
]  # fmt: skip
# US territories with their own time zones, for when it is night in every state.
TERRITORY_AREA_CODES = ["671", "670", "684", "340"]
LEVELS = ["iop", "detox", "residential", "php", "outpatient", "iop", "unsure"]
CONSENT_TEXT = (
    "I agree to receive texts about my inquiry from the admissions team. "
    "Msg & data rates may apply. Reply STOP to opt out."
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8, help="client processes")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured time")
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured start")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument(
        "--celery-concurrency",
        type=int,
        default=2,
        help="prefork processes of the Celery worker",
    )
    parser.add_argument(
        "--port", type=int, default=0, help="gunicorn's port (default: a free one)"
    )
    parser.add_argument(
        "--drain",
        type=float,
        default=30.0,
        help="after the load, wait this long at most for the outbox to empty",
    )
    parser.add_argument(
        "--client-threads",
        action="store_true",
        help="client threads in this process instead of client processes",
    )
    parser.add_argument("--keep", action="store_true", help="keep the bench leads")
    parser.add_argument("--json", action="store_true", help="print JSON only")
    args = parser.parse_args()
    for name in ("clients", "workers", "celery_concurrency"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.seconds <= 0 or args.warmup < 0:
        parser.error("--seconds must be positive and --warmup not negative")
    # What the helpers borrowed from api_leads.py and sms_outbox.py read.
    args.worker_class, args.threads = "sync", 1
    args.prefetch_multiplier = None
    return args


# --- Environment ----------------------------------------------------------------------


def configure_environment() -> None:
    """Settings shared by this process, gunicorn and the worker."""
    database_url = os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    if urlsplit(database_url).scheme not in {"postgres", "postgresql", "pgsql"}:
        raise SystemExit("DATABASE_URL must point at PostgreSQL (postgres://...)")
    redis_url = os.environ.setdefault("REDIS_URL", DEFAULT_REDIS_URL)
    if not redis_url.startswith(("redis://", "rediss://")):
        raise SystemExit("REDIS_URL must be a redis:// URL")
    os.environ.setdefault("CELERY_BROKER_URL", redis_url)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings.local")
    # With DEBUG on Django records every query and the figures mean nothing.
    os.environ["DEBUG"] = "0"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["INTAKE_RATE_PER_KEY"] = HIGH_RATE_LIMIT
    os.environ["INTAKE_RATE_PER_IP"] = HIGH_RATE_LIMIT


def setup_django() -> None:
    sys.path.insert(0, str(BASE_DIR))
    # WhiteNoise warns once per process when collectstatic has not run.
    warnings.filterwarnings("ignore", message="No directory at")
    import django

    django.setup()


def ensure_fixture():
    """The bench team, its available counselors, and its web source's fresh key."""
    from crm.models import Team, User
    from leads.models import LeadSource
    from leads.services.sources import source_create, source_rotate_key
    from notifications.services import templates_ensure_defaults

    templates_ensure_defaults()
    team, _ = Team.objects.get_or_create(
        slug=BENCH_TEAM[0], defaults={"name": BENCH_TEAM[1]}
    )
    for number in range(1, COUNSELORS + 1):
        user, created = User.objects.get_or_create(
            username=f"{COUNSELOR_PREFIX}{number}",
            defaults={"first_name": f"Counselor{number}", "last_name": "Bench"},
        )
        if created:
            user.set_unusable_password()
        # Capacity must never stop routing during the run.
        user.role = User.Role.COUNSELOR
        user.presence = User.Presence.AVAILABLE
        user.max_open_leads = 1_000_000
        user.is_active = True
        user.save()
        team.members.add(user)
    source = LeadSource.objects.filter(name=BENCH_SOURCE).first()
    if source is None:
        source, key = source_create(name=BENCH_SOURCE, kind="web_form", team=team)
    else:
        key = source_rotate_key(source=source, by=None)  # shown only when made
    return team, source, key


def delete_bench_leads(team) -> int:
    """Delete the bench team's leads with their texts, consent lines and timeline."""
    from leads.models import Lead
    from notifications.models import ConsentEvent

    leads = Lead.objects.filter(team=team)
    ConsentEvent.objects.filter(lead__in=leads).delete()
    deleted = leads.count()
    leads.delete()
    vacuum()
    return deleted


# --- Who may be texted now ------------------------------------------------------------


def texting_plan(now, seconds: float) -> dict:
    """Where to put the leads so that their auto-reply may go out during the run.

    States whose texting window is open now and still open when the run ends; when
    there are none, no state and US-territory numbers (their zone then decides).
    """
    import phonenumbers

    from notifications import quiet_hours

    later = now + timedelta(seconds=seconds)
    states = sorted(set(texting_states(now)) & set(texting_states(later)))
    if states:
        return {
            "states": states,
            "area_codes": AREA_CODES,
            "prefixes": valid_prefixes(AREA_CODES),
            "mode": "states",
        }
    areas = []
    for area in TERRITORY_AREA_CODES:
        sample = next(
            (
                number
                for n in range(100)
                if (number := _phone(area, 300 + n, 1234)) is not None
            ),
            None,
        )
        recipient = quiet_hours.Recipient(phone=sample or "")
        if sample and all(quiet_hours.is_allowed(recipient, t) for t in (now, later)):
            areas.append(area)
    if areas:
        regions = sorted(
            {
                phonenumbers.region_code_for_number(phonenumbers.parse(f"+1{a}3001234"))
                for a in areas
            }
        )
        return {
            "states": [""],
            "area_codes": areas,
            "prefixes": valid_prefixes(areas),
            "mode": f"territories ({', '.join(regions)})",
        }
    return {
        "states": ["FL"],
        "area_codes": AREA_CODES,
        "prefixes": valid_prefixes(AREA_CODES),
        "mode": "none",
    }


def _phone(area: str, exchange: int, line: int) -> str | None:
    import phonenumbers

    text = f"+1{area}{exchange:03d}{line:04d}"
    if exchange % 100 == 11 or exchange == 555:
        return None
    if not phonenumbers.is_valid_number(phonenumbers.parse(text)):
        return None
    return text


def valid_prefixes(areas: list[str]) -> list[str]:
    """ "+1" + area code + exchange of the numbers that phonenumbers calls valid.

    Worked out once: in a territory most exchanges are unassigned, and searching
    number by number in the clients would stall them for seconds.
    """
    return [
        f"+1{area}{exchange:03d}"
        for area in areas
        for exchange in range(200, 1000)
        if all(_phone(area, exchange, line) for line in (0, 9999))
    ]


def phone_for(n: int, base: int, prefixes: list[str]) -> str:
    """The n-th number of a run: distinct for every n below 10,000 x prefixes."""
    k = base + n
    return f"{prefixes[(k // 10_000) % len(prefixes)]}{k % 10_000:04d}"


# --- Fake Twilio that notes when each text arrived ------------------------------------

FAKE_TWILIO_SERVER = """
import json, sys, threading, time
sys.path.insert(0, sys.argv[1])
from tests.fakes.twilio_server import FakeTwilio

class TimedFakeTwilio(FakeTwilio):
    arrivals = []
    arrivals_lock = threading.Lock()

    def _create(self, request):
        answer = super()._create(request)
        if answer.created_sid:
            # CLOCK_MONOTONIC is one clock for every process of the machine.
            with self.arrivals_lock:
                self.arrivals.append((request.form.get("To", ""), time.monotonic()))
        return answer

fake = TimedFakeTwilio().start()
print(json.dumps({"base_url": fake.base_url, "account_sid": fake.account_sid,
                  "auth_token": fake.auth_token}), flush=True)
sys.stdin.readline()
fake.stop()
print(json.dumps({"arrivals": TimedFakeTwilio.arrivals,
                  "requests": len(fake.requests)}), flush=True)
"""


class TimedFakeTwilioProcess:
    """The fake Twilio in a process of its own, recording (To, arrival) of creates."""

    def __enter__(self) -> "TimedFakeTwilioProcess":
        self.process = subprocess.Popen(
            [sys.executable, "-c", FAKE_TWILIO_SERVER, str(BASE_DIR)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            # Ctrl-C reaches this script, which stops the fake in order.
            start_new_session=True,
        )
        started = json.loads(self.process.stdout.readline())
        self.base_url = started["base_url"]
        self.account_sid = started["account_sid"]
        self.auth_token = started["auth_token"]
        self.arrivals: list[tuple[str, float]] = []
        self.requests = 0
        return self

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.write("stop\n")
            self.process.stdin.flush()
            stopped = json.loads(self.process.stdout.readline())
            self.arrivals = [tuple(item) for item in stopped["arrivals"]]
            self.requests = stopped["requests"]
            self.process.wait(timeout=30)

    def __exit__(self, *exc_info) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


# --- Clients --------------------------------------------------------------------------


def client_run(
    index: int,
    clients: int,
    host: str,
    port: int,
    key: str,
    plan: dict,
    run_tag: str,
    base: int,
    timing,
    go,
    results,
) -> None:
    """Post new inquiries from `timing[0]` to `timing[1]` (monotonic); report them.

    Each post is (n, phone, start, end, status): n numbers the posts of the run.
    """
    if multiprocessing.parent_process() is not None:
        # Ctrl-C is the parent's to handle: it stops everything in order.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    results.put(("ready", index))
    go.wait()
    start_at, stop_at = timing[0], timing[1]
    states, prefixes = plan["states"], plan["prefixes"]
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "X-Intake-Key": key,
        "User-Agent": f"bench-intake/{index}",
    }
    connection = http.client.HTTPConnection(host, port, timeout=30)
    posts, reconnects = [], 0
    n = index - clients
    while time.monotonic() < start_at:
        time.sleep(min(0.01, max(0.0, start_at - time.monotonic())))
    now = time.monotonic()
    while now < stop_at:
        n += clients
        phone = phone_for(n, base, prefixes)
        body = json.dumps(
            {
                "first_name": f"Bench{n}",
                "last_name": "Intake",
                "phone": phone,
                "email": f"bench.{run_tag}.{n}@example.org",
                "state": states[n % len(states)],
                "level_of_care": LEVELS[n % len(LEVELS)],
                "sms_consent": True,
                "consent_text": CONSENT_TEXT,
                "landing_page": "https://example.org/iop/",
                "utm_source": "google",
                "utm_medium": "cpc",
                "utm_campaign": "bench",
                "gclid": f"bench-{run_tag}-{n}",
                "message": "Looking for help for my brother, please call.",
            }
        ).encode()
        now, end, status, closed = timed_post(connection, INTAKE_PATH, body, headers)
        reconnects += closed
        posts.append((n, phone, now, end, status))
        now = end
    connection.close()
    results.put((index, posts, reconnects, cpu_seconds_self()))


def cpu_seconds_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_load(args, host, port, key, plan, run_tag, cpu_marks) -> dict:
    """Run the clients; take CPU readings at the start and end of the measured part."""
    base = random.randrange(10**9)
    if args.client_threads:
        import queue
        import threading

        results, go, timing = queue.Queue(), threading.Event(), [0.0, 0.0]
        start = threading.Thread
    else:
        # Spawned, not forked: a fork would inherit this process's broker
        # connection, and kombu's after-fork clean-up blocks on it.
        context = multiprocessing.get_context("spawn")
        results, go = context.Queue(), context.Event()
        timing = context.Array("d", 2, lock=False)
        start = context.Process
    workers = [
        start(
            target=client_run,
            args=(n, args.clients, host, port, key, plan, run_tag, base)
            + (timing, go, results),
            daemon=True,
        )
        for n in range(args.clients)
    ]
    for worker in workers:
        worker.start()
    for _ in workers:
        results.get(timeout=120)  # ready
    start_at = time.monotonic() + 0.05
    measure_from = start_at + args.warmup
    stop_at = measure_from + args.seconds
    timing[0], timing[1] = start_at, stop_at
    go.set()
    client_pids = [] if args.client_threads else [worker.pid for worker in workers]
    time.sleep(max(0.0, measure_from - time.monotonic()))
    cpu_marks["start"] = cpu_reading(client_pids)
    time.sleep(max(0.0, stop_at - time.monotonic()))
    cpu_marks["end"] = cpu_reading(client_pids)
    collected = [results.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
    posts = [post for _index, items, _r, _cpu in collected for post in items]
    return {
        "posts": posts,
        "reconnects": sum(item[2] for item in collected),
        "client_cpu_s": sum(item[3] for item in collected),
        "measure_from": measure_from,
        "stop_at": stop_at,
        "base": base,
    }


# --- CPU ------------------------------------------------------------------------------


def _processes() -> dict[int, tuple[str, int, int]]:
    """pid -> (name, ppid, utime+stime ticks) of every process."""
    processes = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError):
            text = stat.read_text()
            name = text[text.index("(") + 1 : text.rindex(")")]
            fields = text[text.rindex(")") + 2 :].split()
            processes[int(stat.parent.name)] = (
                name,
                int(fields[1]),
                int(fields[11]) + int(fields[12]),
            )
    return processes


def _descendants(roots: list[int], processes) -> set[int]:
    children: dict[int, list[int]] = {}
    for pid, (_name, ppid, _ticks) in processes.items():
        children.setdefault(ppid, []).append(pid)
    seen, stack = set(), [pid for pid in roots if pid in processes]
    while stack:
        pid = stack.pop()
        if pid not in seen:
            seen.add(pid)
            stack.extend(children.get(pid, []))
    return seen


def _command_line(pid: int) -> str:
    with contextlib.suppress(OSError):
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        return raw.replace(b"\0", b" ").decode(errors="replace").strip()
    return ""


# name -> root pids of what this script started: gunicorn, celery, fake.
TRACKED: dict[str, list[int]] = {}


def cpu_reading(client_pids: list[int]) -> dict:
    """A snapshot of every process's CPU ticks, and of the machine's."""
    from django.db import connection

    processes = _processes()
    database = f" {connection.settings_dict['NAME']} "
    groups = {name: _descendants(pids, processes) for name, pids in TRACKED.items()}
    groups["clients"] = _descendants(client_pids, processes)
    # This database's backends: "postgres: user dbname host(port) state".
    groups["postgres_bench"] = {
        pid
        for pid, (name, _ppid, _ticks) in processes.items()
        if name == "postgres" and database in _command_line(pid)
    }
    busy, total = machine_busy()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "processes": processes,
        "groups": groups,
        "services": service_cpu(),
        "machine_busy": busy,
        "machine_total": total,
        "bench": usage.ru_utime + usage.ru_stime,
    }


def cpu_report(marks: dict, seconds: float, threads: bool) -> dict:
    """CPU seconds each party used between the two snapshots."""
    start, end = marks["start"], marks["end"]
    hz = os.sysconf("SC_CLK_TCK")
    before, after = start["processes"], end["processes"]

    def used(pid: int) -> float:
        # A process born during the window counts from zero.
        ticks = after[pid][2] - (before[pid][2] if pid in before else 0)
        return max(0, ticks) / hz

    groups = {
        name: start["groups"].get(name, set()) | end["groups"].get(name, set())
        for name in end["groups"]
    }
    own = set().union(*groups.values()) | {os.getpid()}
    seconds_of = {
        name: sum(used(pid) for pid in pids if pid in after)
        for name, pids in groups.items()
    }
    services = {k: end["services"][k] - start["services"][k] for k in ("postgres",)}
    services["redis"] = end["services"]["redis"] - start["services"]["redis"]
    busy = end["machine_busy"] - start["machine_busy"]
    total = end["machine_total"] - start["machine_total"]
    bench = end["bench"] - start["bench"]
    # Everyone else on the machine, by program, to show what the run competed with.
    others: Counter = Counter()
    for pid, (name, _ppid, _ticks) in after.items():
        if pid in own or name == "postgres" or "redis" in name:
            continue
        seconds_used = used(pid)
        if seconds_used >= 0.05:
            label = _command_line(pid)[:90] or name
            others[label] += seconds_used
    cpu = {
        "machine_busy_pct": 100 * busy / total if total else 0.0,
        "machine_busy_s": busy,
        "gunicorn_s": seconds_of.get("gunicorn", 0.0),
        "celery_s": seconds_of.get("celery", 0.0),
        "fake_s": seconds_of.get("fake", 0.0),
        "postgres_bench_s": seconds_of["postgres_bench"],
        # Backends of other databases (tests running beside the bench, say).
        "postgres_other_s": max(
            0.0, services["postgres"] - seconds_of["postgres_bench"]
        ),
        "redis_s": services["redis"],
        "clients_s": bench if threads else seconds_of["clients"] + bench,
        "seconds": seconds,
    }
    cpu["other_processes_s"] = sum(others.values())
    known = sum(
        cpu[key]
        for key in (
            "gunicorn_s",
            "celery_s",
            "fake_s",
            "postgres_bench_s",
            "postgres_other_s",
            "redis_s",
            "clients_s",
            "other_processes_s",
        )
    )
    cpu["kernel_unattributed_s"] = max(0.0, busy - known)
    cpu["top_other_processes"] = dict(others.most_common(5))
    return cpu


# --- Queries per intake ---------------------------------------------------------------


def count_queries(key: str, plan: dict, run_tag: str) -> dict:
    """Serve three intakes in this process; report the statements of the last one."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(headers={"x-intake-key": key}, HTTP_HOST="127.0.0.1")
    statements: list[str] = []
    base = random.randrange(10**9)
    for n in range(1, 4):
        phone = phone_for(n, base, plan["prefixes"])
        payload = {
            "first_name": f"Probe{n}",
            "last_name": "Intake",
            "phone": phone,
            "email": f"probe.{run_tag}.{n}@example.org",
            "state": plan["states"][0],
            "level_of_care": "iop",
            "sms_consent": True,
            "consent_text": CONSENT_TEXT,
            "landing_page": "https://example.org/iop/",
            "utm_source": "google",
            "utm_medium": "cpc",
            "gclid": f"probe-{run_tag}-{n}",
        }
        with CaptureQueriesContext(connection) as captured:
            response = client.post(
                INTAKE_PATH, data=payload, content_type="application/json"
            )
        if response.status_code != 201:
            raise SystemExit(
                f"in-process intake answered {response.status_code}: "
                f"{response.content[:500]!r}"
            )
        statements = [query["sql"] for query in captured.captured_queries]
    control = {"BEGIN", "COMMIT", "ROLLBACK"}
    kinds = Counter(
        "SAVEPOINT"
        if s.upper().startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))
        else s.split()[0].upper()
        for s in statements
        if s.strip().upper() not in control
    )
    return {
        "statements": len(statements),
        "transaction_statements": sum(
            1 for s in statements if s.strip().upper() in control
        ),
        "by_kind": dict(kinds),
        "sql": statements,
    }


# --- Results --------------------------------------------------------------------------


def summarize(load: dict, fake, team, clock_offset: float, seconds: float) -> dict:
    """Request figures of the measured posts; post-to-SMS by the lead's number."""
    from notifications.models import Message

    measured = [
        p for p in load["posts"] if load["measure_from"] <= p[2] < load["stop_at"]
    ]
    statuses = Counter(str(p[4]) for p in measured)
    latencies = sorted(p[3] - p[2] for p in measured)
    last_end = max((p[3] for p in measured), default=load["stop_at"])
    elapsed = max(seconds, last_end - load["measure_from"])
    created = [p for p in measured if p[4] == 201]

    arrivals: dict[str, list[float]] = {}
    for to, at in fake.arrivals:
        arrivals.setdefault(to, []).append(at)
    rows = {
        row[0]: row
        for row in Message.objects.filter(
            lead__team=team, kind=Message.Kind.AUTOMATED
        ).values_list("to", "status", "created_at", "sending_started_at")
    }
    to_sms, response_to_claim, claim_to_fake = [], [], []
    statuses_of_texts: Counter = Counter()
    arrived = duplicates = 0
    for _n, phone, start, end, _status in created:
        row = rows.get(phone)
        statuses_of_texts[row[1] if row else "no text"] += 1
        times = arrivals.get(phone, [])
        if not times:
            continue
        arrived += 1
        duplicates += len(times) > 1
        to_sms.append(times[0] - start)
        if row and row[3]:
            claim = row[3].timestamp() - clock_offset
            response_to_claim.append(claim - end)
            claim_to_fake.append(times[0] - claim)
    to_sms.sort()
    all_posted = {p[1] for p in load["posts"] if p[4] in (200, 201)}
    return {
        "requests": len(measured),
        "seconds": elapsed,
        "intakes_per_s": len(created) / elapsed if elapsed else 0.0,
        "requests_per_s": len(measured) / elapsed if elapsed else 0.0,
        "statuses": dict(sorted(statuses.items())),
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p90_ms": percentile(latencies, 0.90) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "max_ms": latencies[-1] * 1000 if latencies else float("nan"),
        "mean_ms": sum(latencies) / len(latencies) * 1000 if latencies else 0.0,
        "warmup_requests": sum(1 for p in load["posts"] if p[2] < load["measure_from"]),
        "all_requests": len(load["posts"]),
        # Relative to the start of the measured part (negative: in the warm-up).
        "first_post_at_s": min((p[2] for p in load["posts"]), default=0.0)
        - load["measure_from"],
        "last_answer_at_s": max((p[3] for p in load["posts"]), default=0.0)
        - load["measure_from"],
        "server_closed_connections": load["reconnects"],
        "sms": {
            "expected": len(created),
            "arrived": arrived,
            "missing": len(created) - arrived,
            "duplicates": duplicates,
            "text_statuses": dict(statuses_of_texts),
            "fake_creates_total": len(fake.arrivals),
            # Creates to numbers this run never posted (there should be none).
            "fake_unmatched": sum(
                len(times) for to, times in arrivals.items() if to not in all_posted
            ),
            "p50_s": percentile(to_sms, 0.50),
            "p90_s": percentile(to_sms, 0.90),
            "p99_s": percentile(to_sms, 0.99),
            "max_s": to_sms[-1] if to_sms else float("nan"),
            "response_to_claim_p50_s": percentile(sorted(response_to_claim), 0.50),
            "response_to_claim_p99_s": percentile(sorted(response_to_claim), 0.99),
            "claim_to_fake_p50_s": percentile(sorted(claim_to_fake), 0.50),
            "claim_to_fake_p99_s": percentile(sorted(claim_to_fake), 0.99),
        },
    }


def wait_for_outbox(team, args, celery) -> bool:
    """Wait until the bench leads' texts left the outbox, or nothing moved."""
    from notifications.models import OUTBOX_STATUSES, Message

    pending = Message.objects.filter(lead__team=team, status__in=OUTBOX_STATUSES)
    deadline = time.monotonic() + args.drain
    while time.monotonic() < deadline:
        if not pending.exists():
            return True
        if celery.poll() is not None:
            return False
        time.sleep(0.1)
    return False


# --- Report ---------------------------------------------------------------------------


def print_report(report: dict) -> None:
    setup, result, cpu = report["setup"], report["results"], report["cpu"]
    sms = result["sms"]
    db = setup["database"]
    print()
    print("Web intake benchmark (POST /api/v1/intake/ -> lead -> auto-reply text)")
    print(
        f"  server    gunicorn, {setup['workers']} sync worker(s), "
        f"{setup['url']}, started by this script"
    )
    print(
        f"  worker    celery prefork x{setup['celery_concurrency']}, queue celery, "
        f"ready in {setup['worker_ready_s']:.1f} s"
    )
    print(f"  provider  fake Twilio in its own process ({setup['fake_url']})")
    print(f"  database  PostgreSQL {db['version']} ({db['name']})")
    print(f"  broker    {setup['broker']} (also the cache)")
    print(
        f"  load      {setup['clients']} client {setup['client_kind']}, one "
        f"http.client connection each, {setup['seconds']:g} s measured after "
        f"{setup['warmup']:g} s warm-up; every post a new lead with SMS consent"
    )
    print(f"  leads     {setup['texting']}")
    queries = report["queries"]
    print(
        f"  queries   {queries['statements'] - queries['transaction_statements']} "
        f"per new-lead intake (+{queries['transaction_statements']} BEGIN/COMMIT), "
        f"{queries['by_kind']}"
    )
    print(
        f"  machine   {setup['cpus']} CPU(s), {cpu['machine_busy_pct']:.0f}% busy "
        f"during the measured {cpu['seconds']:g} s; CPU seconds (ms per intake):"
    )
    per = 1000 / max(1, result["statuses"].get("201", 0))
    for label, key in [
        ("gunicorn (master + workers)", "gunicorn_s"),
        ("celery worker (all processes)", "celery_s"),
        ("fake Twilio", "fake_s"),
        ("PostgreSQL, this database's backends", "postgres_bench_s"),
        ("PostgreSQL, everything else", "postgres_other_s"),
        ("Redis", "redis_s"),
        (f"clients + this script ({setup['client_kind']})", "clients_s"),
        ("other processes (not this run's)", "other_processes_s"),
        ("kernel, unattributed", "kernel_unattributed_s"),
    ]:
        print(f"{'':12}{label:<40} {cpu[key]:>6.1f} s {cpu[key] * per:>6.2f} ms")
    for command, seconds in cpu["top_other_processes"].items():
        print(f"{'':14}{seconds:>5.1f} s  {command}")
    print()
    header = ("requests", "intakes/s", "p50", "p90", "p99", "max")
    print("{:>9} {:>10} {:>8} {:>8} {:>8} {:>8}  (request latency, ms)".format(*header))
    print(
        f"{result['requests']:>9,} {result['intakes_per_s']:>10.1f} "
        f"{result['p50_ms']:>8.1f} {result['p90_ms']:>8.1f} "
        f"{result['p99_ms']:>8.1f} {result['max_ms']:>8.1f}"
    )
    print(f"  status codes    {result['statuses']}")
    if result["server_closed_connections"]:
        print(
            "  connections     the server closed "
            f"{result['server_closed_connections']:,} (sync workers do not keep "
            "alive); the clients reconnected"
        )
    print()
    print(
        f"  post-to-SMS     p50 {sms['p50_s']:.3f} s, p90 {sms['p90_s']:.3f} s, "
        f"p99 {sms['p99_s']:.3f} s, max {sms['max_s']:.3f} s"
    )
    print(
        f"                  {sms['arrived']:,} of {sms['expected']:,} texts of the "
        f"measured new leads reached the fake ({sms['missing']:,} never, "
        f"{sms['duplicates']:,} more than once); the fake got "
        f"{sms['fake_creates_total']:,} creates in all"
    )
    print(
        f"  its parts       response -> worker claim p50 "
        f"{sms['response_to_claim_p50_s'] * 1000:.0f} ms p99 "
        f"{sms['response_to_claim_p99_s'] * 1000:.0f} ms; claim -> fake p50 "
        f"{sms['claim_to_fake_p50_s'] * 1000:.0f} ms p99 "
        f"{sms['claim_to_fake_p99_s'] * 1000:.0f} ms"
    )
    print(f"  text statuses   {sms['text_statuses']}")
    if not setup["drained"]:
        print(f"  the outbox did not empty within {setup['drain']:g} s of the load")
    ok = (
        result["intakes_per_s"] >= TARGET_RATE
        and result["p99_ms"] < TARGET_REQUEST_P99_MS
        and sms["p99_s"] < TARGET_SMS_P99_S
        and sms["missing"] == 0
    )
    print()
    print(
        f"target: >= {TARGET_RATE:g} intakes/s, request p99 < "
        f"{TARGET_REQUEST_P99_MS:g} ms, post-to-SMS p99 < {TARGET_SMS_P99_S:g} s -> "
        f"{'met' if ok else 'NOT met'} ({result['intakes_per_s']:.1f}/s, "
        f"p99 {result['p99_ms']:.1f} ms, SMS p99 {sms['p99_s']:.3f} s)"
    )
    for name in ("server_log", "worker_log"):
        if report.get(name):
            print(f"\n{name.replace('_', ' ')} (tail):\n{report[name]}")


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def main() -> None:
    args = parse_args()
    configure_environment()
    setup_django()
    ensure_database(args)
    # Ctrl-C or a TERM: unwind through the finally blocks that stop everything.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    signal.signal(signal.SIGINT, signal.default_int_handler)

    from django.db import connections

    team, _source, key = ensure_fixture()
    try:
        report = run(args, team, key)
    finally:
        if not args.keep:
            connections.close_all()  # a fresh one, whatever the run left behind
            deleted = delete_bench_leads(team)
            log(args, f"cleanup: deleted {deleted:,} bench leads")
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        print_report(report)


def run(args, team, key) -> dict:
    """Start the fake, the worker and the server, drive the load, measure."""
    from django.conf import settings
    from django.db import connections
    from django.utils import timezone

    deleted = delete_bench_leads(team)
    log(args, f"setup: deleted {deleted:,} bench leads of earlier runs")
    run_tag = uuid.uuid4().hex[:8]
    plan = texting_plan(timezone.now(), args.warmup + args.seconds + args.drain + 60)
    if plan["mode"] == "none":
        texting = "it is night in every US state and territory: auto-replies are "
        texting += "scheduled for the morning, so no text reaches the fake"
    elif plan["mode"] == "states":
        texting = f"in {len(plan['states'])} state(s) where texting is allowed now: "
        texting += ", ".join(plan["states"])
    else:
        texting = (
            f"no state (it is night in every state), numbers of {plan['mode']} "
            f"where texting is allowed now: area codes {', '.join(plan['area_codes'])}"
        )
    log(args, f"setup: leads {texting}")
    queries = count_queries(key, plan, run_tag)
    delete_bench_leads(team)  # the probes' texts must not wait in the outbox
    purged = purge_queue()
    log(args, f"setup: purged {purged} task(s) from the queue")
    connections.close_all()  # nothing held open while the clients run (and fork)

    host = "127.0.0.1"
    port = args.port or free_port(host)
    report = {}
    with (
        TimedFakeTwilioProcess() as fake,
        tempfile.TemporaryFile() as worker_log,
        tempfile.TemporaryFile() as server_log,
    ):
        TRACKED["fake"] = [fake.process.pid]
        hostname = f"bench-intake-{run_tag}"
        celery = start_worker(
            _worker_command(
                args, hostname, pool="prefork", concurrency=args.celery_concurrency
            ),
            fake,
            worker_log,
        )
        TRACKED["celery"] = [celery.pid]
        server = None
        try:
            ready = wait_for_worker(celery, hostname, worker_log)
            log(args, f"setup: worker ready in {ready:.1f} s")
            server = start_server(args, host, port, server_log)
            TRACKED["gunicorn"] = [server.pid]
            kind = "threads" if args.client_threads else "processes"
            log(
                args,
                f"run: {args.clients} client {kind}, {args.warmup:g} s warm-up + "
                f"{args.seconds:g} s",
            )
            clock_offset = time.time() - time.monotonic()
            cpu_marks: dict = {}
            load = run_load(args, host, port, key, plan, run_tag, cpu_marks)
            stop_server(server)
            log(args, "run: waiting for the outbox to empty")
            drained = wait_for_outbox(team, args, celery)
            fake.stop()
        finally:
            if server is not None:
                stop_server(server)
            stop_worker(celery)
        results = summarize(load, fake, team, clock_offset, args.seconds)
        report = {
            "setup": {
                "url": f"http://{host}:{port}{INTAKE_PATH}",
                "workers": args.workers,
                "celery_concurrency": args.celery_concurrency,
                "worker_ready_s": ready,
                "clients": args.clients,
                "client_kind": kind,
                "seconds": args.seconds,
                "warmup": args.warmup,
                "texting": texting,
                "texting_plan": {k: v for k, v in plan.items() if k != "prefixes"},
                "number_prefixes": len(plan["prefixes"]),
                "fake_url": fake.base_url,
                "broker": settings.CELERY_BROKER_URL,
                "database": database_description(),
                "cpus": os.cpu_count(),
                "settings": os.environ["DJANGO_SETTINGS_MODULE"],
                "run_id": run_tag,
                "drained": drained,
                "drain": args.drain,
            },
            "queries": queries,
            "results": results,
            "cpu": cpu_report(cpu_marks, args.seconds, args.client_threads),
        }
        errors = sum(n for s, n in results["statuses"].items() if s not in ("201",))
        if errors:
            report["server_log"] = _tail(server_log)
        if results["sms"]["missing"] or not drained:
            report["worker_log"] = _tail(worker_log)
    return report


if __name__ == "__main__":
    main()
