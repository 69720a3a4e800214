"""Shared pieces of the telephony tests: signed webhook posts, a ringing team."""

import pytest
from django.conf import settings
from django.test import Client
from twilio.request_validator import RequestValidator

from crm.models import User
from leads.models import LeadSource
from notifications.backends import locmem as sms_locmem
from telephony.backends import locmem as voice_locmem
from telephony.models import TrackingNumber

from ..factories import UserFactory

MAIN_NUMBER = "+18885550142"


@pytest.fixture(autouse=True)
def _empty_locmem_backends():
    sms_locmem.reset()
    voice_locmem.reset()
    yield
    sms_locmem.reset()
    voice_locmem.reset()


def sign(url: str, params: dict) -> str:
    return RequestValidator(settings.TWILIO_AUTH_TOKEN).compute_signature(url, params)


@pytest.fixture
def twilio_post():
    """POST `params` to one of our webhooks, signed as Twilio signs it."""
    client = Client()

    def post(path: str, params: dict, *, signature: str | None = None):
        url = settings.PUBLIC_BASE_URL.rstrip("/") + path
        return client.post(
            path,
            params,
            HTTP_X_TWILIO_SIGNATURE=signature
            if signature is not None
            else sign(url, params),
            secure=True,
        )

    return post


@pytest.fixture
def ringing_team(team_a, counselor, teammate):
    """Two available counselors with phones in team A (counselor first in turn)."""
    User.objects.filter(pk=counselor.pk).update(phone="+13055550111")
    User.objects.filter(pk=teammate.pk).update(phone="+13055550112")
    counselor.refresh_from_db()
    teammate.refresh_from_db()
    return team_a


@pytest.fixture
def tracking_number(ringing_team):
    source = LeadSource.objects.create(
        name="Main number", slug="main-number", kind=LeadSource.Kind.PHONE
    )
    return TrackingNumber.objects.create(
        number=MAIN_NUMBER,
        name="Website header",
        source=source,
        campaign="Website header number",
        landing_page="https://www.example-recovery.org/programs/iop/",
        team=ringing_team,
        greeting="Thank you for calling Harbor Recovery.",
    )


@pytest.fixture
def idle_counselor(ringing_team):
    user = UserFactory(username="idle", phone="+13055550113")
    ringing_team.members.add(user)
    return user
