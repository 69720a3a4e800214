"""Timestamps read from PostgreSQL are the same instants, parsed by compiled code."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.db import connection

from crm.db import compiled_tz_loader
from crm.models import AuditEvent
from crm.services import audit_record

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

TIMESTAMPTZ_OID = 1184


def _select(sql: str):
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchone()[0]


def test_connections_read_timestamps_with_the_compiled_loader():
    connection.ensure_connection()
    loader = connection.connection.adapters.get_loader(TIMESTAMPTZ_OID, 0)

    assert loader is compiled_tz_loader(connection.timezone)
    # Django checks the loader's zone on every cursor and replaces a loader
    # whose zone differs from the connection's: ours must say the same.
    assert loader.timezone == connection.timezone


@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        (
            "2026-03-08 01:59:59.999999+00",
            datetime(2026, 3, 8, 1, 59, 59, 999999, tzinfo=UTC),
        ),
        ("2026-11-01 06:30:00-05", datetime(2026, 11, 1, 11, 30, tzinfo=UTC)),
        (
            "2026-01-01 00:00:00.5+05:30",
            datetime(2025, 12, 31, 18, 30, 0, 500000, tzinfo=UTC),
        ),
        ("1999-12-31 23:59:60+00", datetime(2000, 1, 1, tzinfo=UTC)),
    ],
)
def test_a_timestamp_in_any_offset_reads_as_the_same_instant_in_utc(literal, expected):
    value = _select(f"SELECT '{literal}'::timestamptz")

    assert value == expected
    assert value.utcoffset() == timedelta(0)


def test_a_timestamp_written_in_another_zone_reads_back_unchanged():
    written = datetime(
        2026, 11, 29, 6, 5, 6, 789012, tzinfo=timezone(timedelta(hours=-8))
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::timestamptz", [written])
        (read,) = cursor.fetchone()

    assert read == written
    assert read.tzinfo == connection.timezone


def test_model_timestamps_keep_their_microseconds():
    event = audit_record(actor=None, action="view", object_type="lead", object_id="7")

    assert AuditEvent.objects.get(pk=event.pk).at == event.at


def test_null_and_infinite_timestamps_behave_as_before():
    assert _select("SELECT NULL::timestamptz") is None
    with pytest.raises(Exception, match="(?i)infinity|too large|out of range"):
        _select("SELECT 'infinity'::timestamptz")
