"""What the benchmark scripts share: the database they run on, and saying so."""

import argparse
import http.client
import math
import sys
import time


def log(args: argparse.Namespace, message: str) -> None:
    # With --json, stdout carries the JSON document and nothing else.
    print(message, file=sys.stderr if args.json else sys.stdout, flush=True)


def ensure_database(args: argparse.Namespace) -> None:
    """Create the PostgreSQL database if it is missing, then migrate."""
    from django.core.management import call_command
    from django.db import OperationalError, connection

    try:
        connection.ensure_connection()
    except OperationalError as exc:
        if connection.vendor != "postgresql" or "does not exist" not in str(exc):
            raise
        import psycopg
        from psycopg import sql

        params = connection.settings_dict
        log(args, f"creating database {params['NAME']}")
        with psycopg.connect(
            dbname="postgres",
            host=params["HOST"] or None,
            port=params["PORT"] or None,
            user=params["USER"] or None,
            password=params["PASSWORD"] or None,
            autocommit=True,
        ) as admin:
            admin.execute(
                sql.SQL("CREATE DATABASE {}").format(sql.Identifier(params["NAME"]))
            )
    call_command("migrate", interactive=False, verbosity=0)


def database_description() -> dict:
    from django.db import connection

    version = ""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            version = cursor.fetchone()[0]
    elif connection.vendor == "sqlite":
        import sqlite3

        version = sqlite3.sqlite_version
    return {
        "vendor": connection.vendor,
        "version": version,
        "name": str(connection.settings_dict["NAME"]),
    }


def vacuum() -> None:
    """Reclaim deleted rows and refresh statistics: autovacuum may be off here."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


def percentile(values: list[float], q: float) -> float:
    """The q-th value of `values` (sorted), nearest rank; NaN when empty."""
    if not values:
        return float("nan")
    return values[max(0, math.ceil(q * len(values)) - 1)]


def timed_post(
    connection: http.client.HTTPConnection, path: str, body, headers: dict
) -> tuple[float, float, int | str, bool]:
    """POST once on a kept-alive connection: (start, end, status, server closed).

    A failure is reported by its exception's name as the status, and the
    connection is closed so that the next post opens a new one.
    """
    start = time.monotonic()
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        status: int | str = response.status
        # Sync gunicorn workers close after every answer; http.client then
        # opens a new connection for the next request.
        closed = bool(response.will_close)
    except (OSError, http.client.HTTPException) as exc:
        status, closed = type(exc).__name__, False
        connection.close()
    return start, time.monotonic(), status, closed


# --- In-process page timing (bench/dashboard.py, bench/queue.py) ----------------------


def page_bench_args(
    description: str, *, requests: int, warmup: int, default_leads: int
) -> argparse.Namespace:
    """The options of the 1M-lead page benchmarks (dashboard.py, queue.py)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--requests", type=int, default=requests, help="per page")
    parser.add_argument("--warmup", type=int, default=warmup, help="per page")
    parser.add_argument("--leads", type=int, default=default_leads)
    parser.add_argument("--database-url", help="default: $BENCH_DATABASE_URL")
    parser.add_argument("--rebuild", action="store_true", help="reload the data")
    parser.add_argument(
        "--explain", action="store_true", help="EXPLAIN ANALYZE the slowest queries"
    )
    return parser.parse_args()


def signed_in_client(username: str):
    """A Django test client signed in as `username`, for in-process page timing.

    The client talks to the WSGI handler directly: the figures are the server's
    time (middleware, views, queries, templates) without a network or a server.
    """
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    from crm.startup import warm_and_freeze

    # Start as a web process does (crm/wsgi.py): every view and template loaded,
    # then kept out of the garbage collector's full collections.
    warm_and_freeze()
    # The test runner adds this host itself; these scripts run without it.
    if "testserver" not in settings.ALLOWED_HOSTS:
        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    client = Client()
    client.force_login(get_user_model().objects.get(username=username))
    return client


def time_page(
    client, path: str, *, requests: int, warmup: int, headers: dict | None = None
) -> dict:
    """GET `path` `warmup` times unmeasured, then `requests` times: latency in ms.

    Queries are counted on one more request, apart, since capturing them costs time.
    """
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    headers = headers or {}
    for _ in range(warmup):
        client.get(path, headers=headers)
    times = []
    statuses: dict[int, int] = {}
    for _ in range(requests):
        start = time.perf_counter()
        response = client.get(path, headers=headers)
        times.append((time.perf_counter() - start) * 1000)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
    with CaptureQueriesContext(connection) as captured:
        client.get(path, headers=headers)
    times.sort()
    return {
        "path": path,
        # "204" or, when answers differ, "204:290 200:10".
        "status": " ".join(f"{code}:{n}" for code, n in sorted(statuses.items()))
        if len(statuses) > 1
        else str(next(iter(statuses), "")),
        "requests": requests,
        "p50": percentile(times, 0.50),
        "p90": percentile(times, 0.90),
        "p99": percentile(times, 0.99),
        "max": times[-1] if times else float("nan"),
        "queries": len(captured.captured_queries),
        "query_ms": sum(float(q["time"]) for q in captured.captured_queries) * 1000,
        "captured": captured.captured_queries,
    }


def print_timings(rows: list[dict], *, target_ms: float | None = None) -> None:
    """One line per page: p50/p90/p99/max, queries, time in the database."""
    print(
        f"{'page':36} {'status':>14} {'n':>5} {'p50':>8} {'p90':>8} {'p99':>8} "
        f"{'max':>8} {'queries':>7} {'db ms':>7}"
    )
    for row in rows:
        flag = ""
        if target_ms is not None and row.get("target") and row["p99"] > target_ms:
            flag = "  over target"
        if any(code.split(":")[0] >= "400" for code in row["status"].split()):
            flag += "  FAILING: the figures time error pages"
        print(
            f"{row['label'][:36]:36} {row['status']:>14} {row['requests']:>5} "
            f"{row['p50']:>8.1f} {row['p90']:>8.1f} {row['p99']:>8.1f} "
            f"{row['max']:>8.1f} {row['queries']:>7} {row['query_ms']:>7.1f}{flag}"
        )


def explain_slowest(captured: list[dict], *, top: int = 3, analyze: bool = True):
    """Print the `top` slowest captured queries with their EXPLAIN (ANALYZE) plans."""
    from django.db import connection

    slowest = sorted(captured, key=lambda q: float(q["time"]), reverse=True)[:top]
    for number, query in enumerate(slowest, 1):
        sql = query["sql"]
        print(f"\n--- query {number}: {float(query['time']) * 1000:.1f} ms")
        print(sql if len(sql) < 4000 else sql[:4000] + " ...")
        if not sql.lstrip().upper().startswith(("SELECT", "WITH")):
            continue
        options = "ANALYZE, BUFFERS" if analyze else "COSTS"
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN ({options}) {sql}")
            print("\n".join(row[0] for row in cursor.fetchall()))
