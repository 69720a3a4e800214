import datetime
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.test import Client
from twilio.request_validator import RequestValidator

from notifications.backends import locmem
from notifications.models import ConsentEvent
from notifications.services import consent_record

from ..factories import make_lead

NEW_YORK = ZoneInfo("America/New_York")
# A Tuesday, mid-morning in every US time zone from Hawaii to New York... except
# Hawaii (07:00): tests that need quiet hours pick their own times.
WEEKDAY_NOON_NY = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=NEW_YORK)


@pytest.fixture(autouse=True)
def _empty_locmem_outbox():
    locmem.reset()
    yield
    locmem.reset()


@pytest.fixture
def sent():
    """What the in-memory backend handed over, in order."""
    return locmem.outbox


def give_consent(phone: str, *, lead=None) -> ConsentEvent:
    return consent_record(
        phone=phone,
        kind=ConsentEvent.Kind.OPT_IN,
        source=ConsentEvent.Source.WEB_FORM,
        lead=lead,
        text="I agree to receive texts about my inquiry.",
        text_version="2026-01",
    )


@pytest.fixture
def lead(team_a, counselor):
    """A New York lead of the counselor's, who consented to texts."""
    lead = make_lead(
        team=team_a,
        owner=counselor,
        first_name="Casey",
        state="NY",
        phone="+12125550142",
    )
    give_consent(str(lead.phone), lead=lead)
    return lead


def sign(url: str, params: dict) -> str:
    return RequestValidator(settings.TWILIO_AUTH_TOKEN).compute_signature(url, params)


@pytest.fixture
def twilio_post(db):
    """POST a form to a Twilio webhook path, signed as Twilio signs it."""

    def post(path: str, params: dict, *, signature: str | None = None):
        url = settings.PUBLIC_BASE_URL.rstrip("/") + path
        headers = {}
        if signature is not False:
            headers["HTTP_X_TWILIO_SIGNATURE"] = (
                signature if signature is not None else sign(url, params)
            )
        return Client().post(path, params, **headers)

    return post
