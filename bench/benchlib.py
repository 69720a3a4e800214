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
