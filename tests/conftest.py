import os
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.core.cache import cache
from rest_framework.test import APIClient

from crm.models import User

from .factories import TeamFactory, UserFactory
from .fakes.twilio_server import FakeTwilio

UNDER_CI = bool(os.environ.get("CI"))


def pytest_configure(config):
    # Under CI the suite must run on PostgreSQL and Redis: a missing service is a
    # failure, never a quiet fallback to SQLite or skipped tests.
    if UNDER_CI:
        engine = settings.DATABASES["default"]["ENGINE"]
        if engine != "django.db.backends.postgresql":
            raise pytest.UsageError(f"CI must run on PostgreSQL, got {engine}")
        if not settings.REDIS_URL:
            raise pytest.UsageError("CI must run with REDIS_URL set")


def pytest_collection_modifyitems(config, items):
    on_postgres = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    for item in items:
        if "postgres" in item.keywords and not on_postgres and not UNDER_CI:
            item.add_marker(pytest.mark.skip(reason="needs DATABASE_URL=postgres://"))
        if "redis" in item.keywords and not settings.REDIS_URL and not UNDER_CI:
            item.add_marker(pytest.mark.skip(reason="needs REDIS_URL"))


def _clear_cache_keys() -> None:
    # Only the cache's own keys: on Redis, cache.clear() is FLUSHDB, which would
    # also empty the Celery queues living in the same database.
    location = settings.CACHES["default"]
    if location["BACKEND"].endswith("RedisCache"):
        client = cache._cache.get_client(write=True)
        keys = list(client.scan_iter(match=f"{location.get('KEY_PREFIX', '')}:*"))
        if keys:
            client.delete(*keys)
    else:
        cache.clear()


@pytest.fixture(autouse=True)
def _clear_cache():
    _clear_cache_keys()
    yield
    _clear_cache_keys()


@pytest.fixture
def team_a(db):
    return TeamFactory(name="Outpatient", slug="outpatient")


@pytest.fixture
def team_b(db):
    return TeamFactory(name="Residential", slug="residential")


@pytest.fixture
def counselor(team_a):
    user = UserFactory(username="maya", first_name="Maya", last_name="Torres")
    team_a.members.add(user)
    return user


@pytest.fixture
def other_counselor(team_b):
    user = UserFactory(username="sam", first_name="Sam", last_name="Okafor")
    team_b.members.add(user)
    return user


@pytest.fixture
def teammate(team_a):
    user = UserFactory(username="jordan", first_name="Jordan", last_name="Reyes")
    team_a.members.add(user)
    return user


@pytest.fixture
def supervisor(team_a):
    user = UserFactory(username="dana", role=User.Role.SUPERVISOR, is_staff=True)
    team_a.supervisors.add(user)
    return user


@pytest.fixture
def admin_user(db):
    return UserFactory(
        username="root", role=User.Role.ADMIN, is_staff=True, is_superuser=True
    )


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def client_for(api_client):
    """Return a function giving an API client signed in as a user."""

    def authenticate(user: User) -> APIClient:
        client = APIClient()
        client.force_authenticate(user=user)
        return client

    return authenticate


@pytest.fixture(scope="module")
def fake_twilio_server() -> Iterator[FakeTwilio]:
    """The local fake of Twilio's REST API, one per test module."""
    with FakeTwilio() as fake:
        yield fake


@pytest.fixture
def fake_twilio(fake_twilio_server: FakeTwilio, settings) -> FakeTwilio:
    """The fake, emptied, with the Twilio backends pointed at it."""
    fake_twilio_server.reset()
    settings.TWILIO_ACCOUNT_SID = fake_twilio_server.account_sid
    settings.TWILIO_AUTH_TOKEN = fake_twilio_server.auth_token
    settings.TWILIO_API_BASE_URL = fake_twilio_server.base_url
    settings.TWILIO_HTTP_TIMEOUT = 0.5
    return fake_twilio_server
