"""Benchmark the SMS outbox: N texts through a real Celery worker and a fake Twilio.

Queues `--messages` texts the way the product does (`message_send_manual`, in
transactions of `--batch`, so each commit publishes its tasks), lets a real
`celery -A crm worker` (`--workers` processes: prefork children by default, or
separate `--pool solo` / `--pool threads` workers) hand them to a local fake of
Twilio's Messages API through the real twilio client, and prints messages/s from the
first enqueue to the last hand-off, the enqueue-to-hand-off latency of each text
(`handed_off_at - enqueued_at`, read from the database afterwards), errors, and how
many texts reached the fake exactly once. The figures are printed, never asserted.

Target from the issue: >= 200 messages/s and p99 < 1 s, on 2 cores with 2 worker
processes, PostgreSQL and Redis:

    REDIS_URL=redis://127.0.0.1:6379/5 .venv/bin/python bench/sms_outbox.py

DATABASE_URL defaults to postgres://postgres@127.0.0.1:5432/crm_bench_sms; the
script creates that database if it is missing and migrates it. REDIS_URL is
required (use a Redis database of its own: the script purges the Celery queue).
Before a run the script deletes the texts of earlier runs and purges the queue, so
runs are comparable; after it, it deletes the run's texts unless `--keep`. The fake
Twilio (a threaded stdlib HTTP server) runs in a process of its own; the
enqueueing, the fake, the worker, PostgreSQL and Redis all share this machine's
CPUs, and the report says how much CPU each one used.

With `--prefill` every text is queued before the worker starts, and the line to read
is the worker's own rate (first claim to last hand-off): what the worker alone can
do, without the enqueueing competing for the CPUs.
"""

import argparse
import contextlib
import json
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

# bench/ is on sys.path when a script here runs.
from benchlib import database_description, ensure_database, log, percentile

BASE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/crm_bench_sms"
TARGET_RATE = 200.0  # messages/s
TARGET_P99_S = 1.0
BENCH_TEAM = ("bench-sms", "Bench: SMS outbox")
BENCH_USERNAME = "bench-sms-counselor"
# Distinct fictional numbers (555-01xx) over a few area codes.
AREA_CODES = ["212", "305", "213", "512", "215", "614", "201", "312", "808", "907"]
BODY_TAG = re.compile(r"\[bench (?P<run>[0-9a-f]+) #(?P<n>\d+)\]")
HANDED_OFF = {"accepted", "queued", "sent", "delivered", "undelivered"}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="worker processes: prefork children, or separate solo workers",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=2,
        help="with --pool threads: threads per worker process",
    )
    parser.add_argument(
        "--pool",
        choices=["prefork", "solo", "threads"],
        default="prefork",
        help="prefork: one worker with --workers child processes (the default "
        "deployment); solo: --workers separate worker processes, each running one "
        "task at a time with no parent process in between; threads: --workers "
        "separate worker processes with --threads threads each",
    )
    parser.add_argument(
        "--batch", type=int, default=100, help="texts per enqueueing transaction"
    )
    parser.add_argument("--leads", type=int, default=100, help="recipients")
    parser.add_argument(
        "--prefetch-multiplier",
        type=int,
        default=None,
        help="pass --prefetch-multiplier to the worker (default: the settings')",
    )
    parser.add_argument(
        "--stall",
        type=float,
        default=30.0,
        help="give up after this many seconds without a hand-off",
    )
    parser.add_argument(
        "--prefill",
        action="store_true",
        help="queue every text before the worker starts: measures how fast the "
        "worker alone empties the outbox (latencies then include the wait)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the run's texts")
    parser.add_argument("--json", action="store_true", help="print JSON only")
    args = parser.parse_args()
    for name in ("messages", "workers", "batch", "leads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.leads > 100 * len(AREA_CODES):
        parser.error(f"--leads can be at most {100 * len(AREA_CODES)}")
    return args


# --- Environment --------------------------------------------------------------


def configure_environment(args: argparse.Namespace) -> None:
    """Settings shared by this process and the worker, read from the environment."""
    database_url = os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    if urlsplit(database_url).scheme not in {"postgres", "postgresql", "pgsql"}:
        raise SystemExit("DATABASE_URL must point at PostgreSQL (postgres://...)")
    redis_url = os.environ.get("REDIS_URL", "")
    if not redis_url.startswith(("redis://", "rediss://")):
        raise SystemExit(
            "REDIS_URL is required, e.g. REDIS_URL=redis://127.0.0.1:6379/5"
        )
    os.environ.setdefault("CELERY_BROKER_URL", redis_url)
    os.environ["DJANGO_SETTINGS_MODULE"] = "crm.settings.local"
    # With DEBUG on Django records every query and the figures mean nothing.
    os.environ["DEBUG"] = "0"
    os.environ.setdefault("LOG_LEVEL", "WARNING")


def setup_django() -> None:
    sys.path.insert(0, str(BASE_DIR))
    # WhiteNoise warns once per process when collectstatic has not run.
    warnings.filterwarnings("ignore", message="No directory at")
    import django

    django.setup()


def texting_states(now) -> list[str]:
    """States where texting is allowed right now (empty at night everywhere)."""
    from leads.geo import STATE_TIME_ZONES
    from notifications import quiet_hours

    return [
        state
        for state, zone in STATE_TIME_ZONES.items()
        if quiet_hours.is_allowed(
            quiet_hours.Recipient(state=state, time_zone=zone), now
        )
    ]


def ensure_leads(args: argparse.Namespace):
    """The bench counselor, and `--leads` consenting leads of theirs."""
    from django.utils import timezone

    from crm.models import Team, User
    from leads.geo import time_zone_for_state
    from leads.models import Channel, Lead
    from leads.services import lead_create
    from notifications.models import ConsentEvent
    from notifications.services import consent_record

    team, _ = Team.objects.get_or_create(
        slug=BENCH_TEAM[0], defaults={"name": BENCH_TEAM[1]}
    )
    user, created = User.objects.get_or_create(
        username=BENCH_USERNAME,
        defaults={"first_name": "Bench", "last_name": "Counselor"},
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    team.members.add(user)
    leads = list(Lead.objects.filter(team=team).order_by("pk")[: args.leads])
    # Leads created now live where it is daytime; older ones may not, which is
    # why every text carries the quiet-hours override (used only when needed).
    states = texting_states(timezone.now()) or ["HI"]
    for n in range(len(leads), args.leads):
        state = states[n % len(states)]
        phone = f"+1{AREA_CODES[(n // 100) % len(AREA_CODES)]}55501{n % 100:02d}"
        lead = lead_create(
            by=user,
            channel=Channel.WEB_FORM,
            team=team,
            owner=user,
            first_name=f"Bench{n}",
            last_name="Lead",
            phone=phone,
            state=state,
            time_zone=time_zone_for_state(state),
        )
        consent_record(
            phone=phone,
            kind=ConsentEvent.Kind.OPT_IN,
            source=ConsentEvent.Source.WEB_FORM,
            lead=lead,
            text="I agree to receive texts about my inquiry.",
            text_version="bench",
        )
        leads.append(lead)
    return user, leads


def delete_texts(leads) -> int:
    """Delete every text of the bench database and the bench leads' text lines."""
    from leads.models import Activity
    from notifications.models import Message

    Activity.objects.filter(
        lead__in=leads, kind=Activity.Kind.SMS, data__has_key="message"
    ).delete()
    deleted, _ = Message.objects.all().delete()
    vacuum()
    return deleted


def vacuum() -> None:
    """Reclaim the deleted rows and refresh statistics, as autovacuum would.

    Without it (autovacuum may be off on a bench machine) every run leaves 10,000
    dead texts behind, and the per-text lookups by number scan them all.
    """
    from django.db import connection

    with connection.cursor() as cursor:
        for table in (
            "notifications_message",
            "leads_activity",
            "leads_lead",
            "crm_auditevent",
            "notifications_consentevent",
        ):
            cursor.execute(f"VACUUM ANALYZE {table}")


# --- The fake Twilio ---------------------------------------------------------------

FAKE_TWILIO_SERVER = """
import json, sys
sys.path.insert(0, sys.argv[1])
from tests.fakes.twilio_server import FakeTwilio

fake = FakeTwilio().start()
print(json.dumps({"base_url": fake.base_url, "account_sid": fake.account_sid,
                  "auth_token": fake.auth_token}), flush=True)
sys.stdin.readline()
bodies = [r.form.get("Body", "") for r in fake.requests
          if r.method == "POST" and r.path.endswith("/Messages.json")]
fake.stop()
print(json.dumps(bodies), flush=True)
"""


class FakeTwilioProcess:
    """The fake Twilio in a process of its own.

    In this process it would compete with the enqueueing for one interpreter lock,
    and the run would measure the harness rather than the outbox.
    """

    def __enter__(self) -> "FakeTwilioProcess":
        self.process = subprocess.Popen(
            [sys.executable, "-c", FAKE_TWILIO_SERVER, str(BASE_DIR)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        started = json.loads(self.process.stdout.readline())
        self.base_url = started["base_url"]
        self.account_sid = started["account_sid"]
        self.auth_token = started["auth_token"]
        self.created_bodies: list[str] = []
        return self

    def stop(self) -> None:
        """Stop the server and collect the bodies of the texts it was given."""
        if self.process.poll() is None:
            self.process.stdin.write("stop\n")
            self.process.stdin.flush()
            self.created_bodies = json.loads(self.process.stdout.readline())
            self.process.wait(timeout=30)

    def __exit__(self, *exc_info) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


# --- Worker ---------------------------------------------------------------------


def worker_commands(
    args: argparse.Namespace, hostname: str
) -> list[tuple[str, list[str]]]:
    """(name, command) of each worker process to start."""
    if args.pool in ("solo", "threads"):
        threads = 1 if args.pool == "solo" else args.threads
        names = [f"{hostname}-{n}" for n in range(args.workers)]
        return [
            (name, _worker_command(args, name, pool=args.pool, concurrency=threads))
            for name in names
        ]
    return [
        (
            hostname,
            _worker_command(args, hostname, pool="prefork", concurrency=args.workers),
        )
    ]


def _worker_command(
    args: argparse.Namespace, hostname: str, *, pool: str, concurrency: int
) -> list[str]:
    command = [
        str(Path(sys.executable).with_name("celery")),
        "-A",
        "crm",
        "worker",
        "--concurrency",
        str(concurrency),
        "--pool",
        pool,
        "-Q",
        "celery",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "--loglevel",
        "WARNING",
        "--hostname",
        f"{hostname}@%h",
    ]
    if args.prefetch_multiplier:
        command += ["--prefetch-multiplier", str(args.prefetch_multiplier)]
    return command


def start_worker(command: list[str], fake, log_file) -> subprocess.Popen:
    env = os.environ | {
        "SMS_BACKEND": "twilio",
        "TWILIO_API_BASE_URL": fake.base_url,
        "TWILIO_ACCOUNT_SID": fake.account_sid,
        "TWILIO_AUTH_TOKEN": fake.auth_token,
        "TWILIO_MESSAGING_SERVICE_SID": "",
        # This checkout, not whatever an installed copy of the project points at.
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(BASE_DIR), os.environ.get("PYTHONPATH")])
        ),
    }
    return subprocess.Popen(
        command,
        cwd=BASE_DIR,
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        # Its own process group, so that stopping it reaches its pool processes.
        start_new_session=True,
    )


def wait_for_worker(worker: subprocess.Popen, hostname: str, log_file) -> float:
    """Ping the worker over the broker until it answers; return how long it took."""
    from crm.celery import app

    started = time.monotonic()
    while time.monotonic() - started < 60:
        if worker.poll() is not None:
            raise SystemExit(f"the worker exited:\n{_tail(log_file)}")
        replies = app.control.ping(timeout=0.5)
        if any(name.startswith(f"{hostname}@") for reply in replies for name in reply):
            return time.monotonic() - started
    raise SystemExit(f"the worker did not answer a ping in 60 s:\n{_tail(log_file)}")


def stop_worker(worker: subprocess.Popen) -> None:
    if worker.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(worker.pid, signal.SIGTERM)  # warm shutdown of the whole group
    try:
        worker.wait(timeout=30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()


def _tail(log_file, size: int = 3000) -> str:
    log_file.flush()
    log_file.seek(0)
    return log_file.read().decode(errors="replace")[-size:]


def purge_queue() -> int:
    from crm.celery import app

    return app.control.purge()


# --- The run --------------------------------------------------------------------


def machine_busy() -> tuple[float, float]:
    """Return (busy, total) CPU seconds of the whole machine since boot."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    ticks = [int(value) for value in fields]
    idle = ticks[3] + ticks[4]  # idle + iowait
    hz = os.sysconf("SC_CLK_TCK")
    return (sum(ticks) - idle) / hz, sum(ticks) / hz


def service_cpu() -> dict[str, float]:
    """CPU seconds used so far by PostgreSQL and Redis, including exited backends.

    A PostgreSQL backend that exited was reaped by the postmaster, so its time is in
    the postmaster's children's time: the sums only grow.
    """
    hz = os.sysconf("SC_CLK_TCK")
    processes = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            text = stat.read_text()
            name = text[text.index("(") + 1 : text.rindex(")")]
            fields = text[text.rindex(")") + 2 :].split()
            processes[int(stat.parent.name)] = (name, int(fields[1]), fields)
    totals = {"postgres": 0.0, "redis": 0.0}
    for name, ppid, fields in processes.values():
        kind = "postgres" if name == "postgres" else "redis" if "redis" in name else ""
        if not kind:
            continue
        ticks = int(fields[11]) + int(fields[12])  # utime, stime
        if processes.get(ppid, ("",))[0] != name:  # the postmaster: + reaped children
            ticks += int(fields[13]) + int(fields[14])
        totals[kind] += ticks / hz
    return totals


def process_cpu(pid: int) -> float:
    """CPU seconds a running process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def enqueue(args, user, leads, run_id: str) -> list[int]:
    """Queue the texts in transactions of `--batch`; each commit publishes its tasks."""
    from django.db import transaction

    from notifications.services import message_send_manual

    ids: list[int] = []
    for first in range(0, args.messages, args.batch):
        with transaction.atomic():
            for n in range(first, min(first + args.batch, args.messages)):
                message = message_send_manual(
                    lead=leads[n % len(leads)],
                    body=f"Hi, this is your admissions team. [bench {run_id} #{n}]",
                    by=user,
                    override_quiet_hours=True,
                )
                ids.append(message.pk)
    return ids


def wait_for_hand_offs(args, ids: list[int], workers: list[subprocess.Popen]) -> bool:
    """Wait until every text left the outbox, or nothing moved for `--stall` s."""
    from notifications.models import OUTBOX_STATUSES, Message

    remaining, last_change = None, time.monotonic()
    while True:
        left = Message.objects.filter(pk__in=ids, status__in=OUTBOX_STATUSES).count()
        if left == 0:
            return True
        if left != remaining:
            remaining, last_change = left, time.monotonic()
        stalled = time.monotonic() - last_change > args.stall
        if stalled or any(worker.poll() is not None for worker in workers):
            return False
        time.sleep(0.1)


def measure(ids: list[int], run_id: str, fake: "FakeTwilioProcess", started_at) -> dict:
    from notifications.models import Message

    rows = list(
        Message.objects.filter(pk__in=ids).values_list(
            "body",
            "status",
            "created_at",
            "enqueued_at",
            "sending_started_at",
            "handed_off_at",
        )
    )
    statuses = Counter(row[1] for row in rows)
    handed = [row for row in rows if row[5] is not None]
    latencies = sorted(
        (handed_off_at - (enqueued_at or created_at)).total_seconds()
        for _body, _status, created_at, enqueued_at, _started, handed_off_at in handed
    )
    last = max((row[5] for row in handed), default=None)
    elapsed = (last - started_at).total_seconds() if last else float("nan")
    # How fast the worker emptied the outbox: first claim to last hand-off.
    first_claim = min((row[4] for row in handed if row[4]), default=None)
    drain = (last - first_claim).total_seconds() if first_claim else float("nan")

    received = Counter()
    for body in fake.created_bodies:
        found = BODY_TAG.search(body)
        if found and found["run"] == run_id:
            received[int(found["n"])] += 1
    expected = {
        int(found["n"])
        for body, *_ in rows
        if (found := BODY_TAG.search(body)) and found["run"] == run_id
    }
    once = sum(1 for n in expected if received[n] == 1)
    return {
        "messages": len(ids),
        "handed_off": len(handed),
        "statuses": dict(statuses),
        "errors": sum(
            count for status, count in statuses.items() if status not in HANDED_OFF
        ),
        "fake_requests": len(fake.created_bodies),
        # Creates that carried no text of this run (there should be none).
        "fake_unmatched": len(fake.created_bodies) - sum(received.values()),
        "exactly_once": once,
        "duplicates": sum(1 for n in expected if received[n] > 1),
        "never_received": sum(1 for n in expected if received[n] == 0),
        "seconds": elapsed,
        "messages_per_s": len(handed) / elapsed if handed and elapsed > 0 else 0.0,
        "drain_s": drain,
        "drain_per_s": len(handed) / drain if handed and drain > 0 else 0.0,
        "p50_s": percentile(latencies, 0.50),
        "p90_s": percentile(latencies, 0.90),
        "p99_s": percentile(latencies, 0.99),
        "max_s": latencies[-1] if latencies else float("nan"),
        "mean_s": sum(latencies) / len(latencies) if latencies else float("nan"),
    }


# --- Report -----------------------------------------------------------------------


def print_report(report: dict) -> None:
    setup, result, cpu = report["setup"], report["results"], report["cpu"]
    db = setup["database"]
    print()
    print("SMS outbox benchmark")
    print(
        f"  worker    celery {setup['pool']}, {setup['workers']} process(es), "
        "queue celery, "
        f"prefetch multiplier {setup['prefetch_multiplier']}, "
        f"ready in {setup['worker_ready_s']:.1f} s"
    )
    print(
        f"  provider  fake Twilio in a process of its own ({setup['fake_url']}), "
        "the real twilio client in the worker"
    )
    print(f"  database  PostgreSQL {db['version']} ({db['name']})")
    print(f"  broker    {setup['broker']}")
    when = "before the worker started" if setup["prefill"] else "while it ran"
    print(
        f"  load      {setup['messages']:,} manual texts to {setup['leads']} leads, "
        f"{setup['batch']} per transaction, queued {when} in "
        f"{setup['enqueue_s']:.1f} s ({setup['enqueue_per_s']:.0f}/s)"
    )
    print(
        f"  machine   {setup['cpus']} CPU(s), "
        f"{cpu['machine_busy_pct']:.0f}% busy while the worker ran; CPU seconds:"
    )
    per_text = 1000 / max(1, result["messages"])
    for label, key in [
        ("worker (all processes)", "worker_s"),
        ("this process: enqueueing", "bench_s"),
        ("fake Twilio (its own process)", "fake_s"),
        ("PostgreSQL", "postgres_s"),
        ("Redis", "redis_s"),
        ("other processes, kernel", "other_s"),
    ]:
        seconds = cpu[key]
        print(
            f"{'':12}{label:<36} {seconds:>6.1f} s {seconds * per_text:>5.1f} ms/text"
        )
    print()
    header = ("texts", "sent", "errors", "msg/s", "p50", "p90", "p99", "max")
    print("{:>7} {:>7} {:>7} {:>8} {:>7} {:>7} {:>7} {:>7}".format(*header))
    print(
        f"{result['messages']:>7,} {result['handed_off']:>7,} {result['errors']:>7,} "
        f"{result['messages_per_s']:>8.1f} {result['p50_s']:>7.3f} "
        f"{result['p90_s']:>7.3f} {result['p99_s']:>7.3f} {result['max_s']:>7.3f}"
    )
    print("  (latency: enqueued_at to handed_off_at, in seconds)")
    print()
    print(f"  statuses        {result['statuses']}")
    print(
        f"  fake Twilio     {result['fake_requests']:,} creates; "
        f"{result['exactly_once']:,} texts received exactly once, "
        f"{result['duplicates']:,} more than once, "
        f"{result['never_received']:,} never"
    )
    print(
        f"  run             {result['seconds']:.2f} s from the first enqueue to the "
        "last hand-off"
    )
    print(
        f"  worker          {result['drain_s']:.2f} s from its first claim to its "
        f"last hand-off: {result['drain_per_s']:.1f} msg/s"
    )
    ok = (
        result["messages_per_s"] >= TARGET_RATE
        and result["p99_s"] < TARGET_P99_S
        and result["errors"] == 0
        and result["exactly_once"] == result["messages"]
    )
    print()
    print(
        f"target: >= {TARGET_RATE:g} msg/s and p99 < {TARGET_P99_S:g} s, every text "
        f"exactly once, on 2 cores with 2 worker processes -> "
        f"{'met' if ok else 'NOT met'} ({result['messages_per_s']:.1f} msg/s, "
        f"p99 {result['p99_s']:.3f} s, {result['errors']} error(s))"
    )
    if setup["prefill"]:
        print("  (--prefill: the latencies include the wait for the worker to start)")
    if report.get("worker_log"):
        print(f"\nworker log (tail):\n{report['worker_log']}")


def main() -> None:
    args = parse_args()
    configure_environment(args)
    setup_django()
    ensure_database(args)

    from django.conf import settings
    from django.db import connection
    from django.utils import timezone

    user, leads = ensure_leads(args)
    deleted = delete_texts(leads)
    log(args, f"setup: {len(leads)} leads, deleted {deleted:,} texts of earlier runs")
    run_id = uuid.uuid4().hex[:8]
    purged = purge_queue()
    log(args, f"setup: purged {purged} task(s) from the queue")

    def queue_texts() -> tuple[list[int], float]:
        log(args, f"run: queueing {args.messages:,} texts, batches of {args.batch}")
        clock = time.monotonic()
        ids = enqueue(args, user, leads, run_id)
        seconds = time.monotonic() - clock
        log(args, f"run: queued in {seconds:.1f} s")
        return ids, seconds

    if args.prefill:
        started_at = timezone.now()
        ids, enqueue_s = queue_texts()
    with FakeTwilioProcess() as fake, tempfile.TemporaryFile() as worker_log:
        hostname = f"bench-sms-{run_id}"
        connection.close()  # no idle transaction or stale snapshot from setup
        bench_cpu = cpu_seconds(resource.RUSAGE_SELF)
        children_cpu = cpu_seconds(resource.RUSAGE_CHILDREN)
        busy_before, total_before = machine_busy()
        services_before = service_cpu()
        fake_cpu = process_cpu(fake.process.pid)
        commands = worker_commands(args, hostname)
        workers = [start_worker(command, fake, worker_log) for _, command in commands]
        try:
            ready = max(
                wait_for_worker(worker, name, worker_log)
                for worker, (name, _) in zip(workers, commands, strict=True)
            )
            log(args, f"setup: worker ready in {ready:.1f} s")
            if not args.prefill:
                started_at = timezone.now()
                ids, enqueue_s = queue_texts()
            log(args, "run: waiting for the worker to empty the outbox")
            finished = wait_for_hand_offs(args, ids, workers)
            busy_after, total_after = machine_busy()
            services_after = service_cpu()
            fake_cpu = process_cpu(fake.process.pid) - fake_cpu
            bench_cpu = cpu_seconds(resource.RUSAGE_SELF) - bench_cpu
        finally:
            for worker in workers:
                stop_worker(worker)
        # Reaped, the worker's processes count in this process's children's time;
        # it includes the worker's start-up and shutdown.
        worker_cpu = cpu_seconds(resource.RUSAGE_CHILDREN) - children_cpu
        fake.stop()
        results = measure(ids, run_id, fake, started_at)
        if not finished:
            log(args, "run: gave up waiting; some texts never left the outbox")
        busy = busy_after - busy_before
        postgres_cpu = services_after["postgres"] - services_before["postgres"]
        redis_cpu = services_after["redis"] - services_before["redis"]
        report = {
            "setup": {
                "messages": args.messages,
                "leads": len(leads),
                "batch": args.batch,
                "prefill": args.prefill,
                "workers": args.workers,
                "pool": args.pool,
                "prefetch_multiplier": args.prefetch_multiplier
                or settings.CELERY_WORKER_PREFETCH_MULTIPLIER,
                "worker_ready_s": ready,
                "enqueue_s": enqueue_s,
                "enqueue_per_s": args.messages / enqueue_s if enqueue_s else 0.0,
                "fake_url": fake.base_url,
                "broker": settings.CELERY_BROKER_URL,
                "database": database_description(),
                "cpus": os.cpu_count(),
                "settings": os.environ["DJANGO_SETTINGS_MODULE"],
                "run_id": run_id,
                "finished": finished,
            },
            "results": results,
            # CPU seconds while the worker ran (with --prefill: not the enqueueing).
            "cpu": {
                "machine_busy_pct": 100 * busy / (total_after - total_before),
                "machine_busy_s": busy,
                "worker_s": worker_cpu,
                "bench_s": bench_cpu,
                "fake_s": fake_cpu,
                "postgres_s": postgres_cpu,
                "redis_s": redis_cpu,
                # Other processes on the machine, and the kernel's own work.
                "other_s": max(
                    0.0,
                    busy - worker_cpu - bench_cpu - fake_cpu - postgres_cpu - redis_cpu,
                ),
            },
        }
        if results["errors"] or not finished:
            report["worker_log"] = _tail(worker_log)
    if not args.keep:
        delete_texts(leads)
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        print_report(report)


if __name__ == "__main__":
    main()
