"""The services the production shape depends on are really used, not faked.

Under CI (`CI=1`, set by .ci/run) these run against PostgreSQL and Redis and fail
when either is missing; locally they are skipped unless DATABASE_URL / REDIS_URL
point at them.
"""

import pytest
import redis
from django.conf import settings
from django.core.cache import cache
from django.db import connection

from crm.celery import app as celery_app


@pytest.mark.postgres
@pytest.mark.django_db
def test_suite_runs_on_postgresql_when_database_url_says_so():
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        (version,) = cursor.fetchone()
    assert connection.vendor == "postgresql"
    assert version.startswith("PostgreSQL")


@pytest.mark.redis
def test_cache_is_redis_and_round_trips_values():
    client = redis.Redis.from_url(settings.REDIS_URL)
    assert client.ping() is True
    cache.set("infrastructure-check", {"ok": 1}, timeout=30)
    assert cache.get("infrastructure-check") == {"ok": 1}
    assert settings.CACHES["default"]["BACKEND"].endswith("RedisCache")


@pytest.mark.redis
def test_celery_uses_redis_as_broker_when_redis_url_is_set():
    assert celery_app.conf.broker_url == settings.REDIS_URL
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1)
        assert conn.connected


def test_celery_falls_back_to_the_embedded_broker_without_redis(monkeypatch, tmp_path):
    # A fresh settings module, evaluated without Redis, picks kombu's filesystem
    # transport under var/, so `make run` needs no broker service.
    import importlib

    import crm.settings.base as base

    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    monkeypatch.setenv("CRM_VAR_DIR", str(tmp_path))
    try:
        fresh = importlib.reload(base)
        assert fresh.CELERY_BROKER_URL == "filesystem://"
        folder = fresh.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"]
        assert folder.startswith(str(tmp_path))
        assert fresh.CACHES["default"]["BACKEND"].endswith("LocMemCache")
    finally:
        monkeypatch.undo()
        importlib.reload(base)
