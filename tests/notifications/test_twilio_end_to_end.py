"""A text through the real twilio client to the fake Twilio, and its callbacks back."""

import pytest
import time_machine

from notifications import services
from notifications.models import ConsentEvent, Message

from ..factories import make_lead
from ..fakes.twilio_server import FakeTwilio
from .conftest import WEEKDAY_NOON_NY, give_consent


@pytest.fixture
def fake_twilio():
    with FakeTwilio() as fake:
        yield fake


@pytest.fixture
def twilio_backend(settings, fake_twilio, live_server):
    settings.SMS_BACKEND = "twilio"
    settings.TWILIO_API_BASE_URL = fake_twilio.base_url
    settings.TWILIO_ACCOUNT_SID = fake_twilio.account_sid
    settings.TWILIO_AUTH_TOKEN = fake_twilio.auth_token
    settings.TWILIO_MESSAGING_SERVICE_SID = ""
    settings.PUBLIC_BASE_URL = live_server.url
    return fake_twilio


@pytest.fixture
def consenting_lead(team_a, counselor):
    lead = make_lead(team=team_a, owner=counselor, state="NY", phone="+12125550142")
    give_consent(str(lead.phone), lead=lead)
    return lead


@pytest.mark.django_db(transaction=True)
def test_a_text_reaches_twilio_and_its_delivery_comes_back_signed(
    twilio_backend, consenting_lead, counselor, live_server
):
    with time_machine.travel(WEEKDAY_NOON_NY, tick=True):
        message = services.message_send_manual(
            lead=consenting_lead, body="Hi Casey", by=counselor
        )
        services.message_send(message_id=message.pk)

    [request] = twilio_backend.requests
    assert (
        request.path
        == f"/2010-04-01/Accounts/{twilio_backend.account_sid}/Messages.json"
    )
    assert request.form["To"] == "+12125550142"
    assert request.form["From"] == "+18885550100"
    assert "MessagingServiceSid" not in request.form
    assert request.form["Body"].startswith("Hi Casey")
    assert request.form["StatusCallback"] == (
        f"{live_server.url}/twilio/sms/status/?m={message.pk}"
    )
    message.refresh_from_db()
    assert message.status == Message.Status.QUEUED

    assert twilio_backend.fire_status_callback(message.twilio_sid, "delivered") == 204
    assert twilio_backend.fire_status_callback(message.twilio_sid, "sent") == 204

    message.refresh_from_db()
    assert message.status == Message.Status.DELIVERED


@pytest.mark.django_db(transaction=True)
def test_a_messaging_service_replaces_the_from_number(
    twilio_backend, consenting_lead, counselor, settings
):
    settings.TWILIO_MESSAGING_SERVICE_SID = "MG" + "1" * 32

    with time_machine.travel(WEEKDAY_NOON_NY, tick=True):
        message = services.message_send_manual(
            lead=consenting_lead, body="Hi", by=counselor
        )
        services.message_send(message_id=message.pk)

    [request] = twilio_backend.requests
    assert request.form["MessagingServiceSid"] == "MG" + "1" * 32
    assert "From" not in request.form


@pytest.mark.django_db(transaction=True)
def test_twilio_refusing_an_unsubscribed_number_opts_it_out(
    twilio_backend, consenting_lead, counselor
):
    twilio_backend.fail_next(code=21610, status=400)

    with time_machine.travel(WEEKDAY_NOON_NY, tick=True):
        message = services.message_send_manual(
            lead=consenting_lead, body="Hi", by=counselor
        )
        services.message_send(message_id=message.pk)

    message.refresh_from_db()
    assert (message.status, message.error_code) == ("failed", 21610)
    latest = ConsentEvent.objects.filter(phone="+12125550142").first()
    assert latest.kind == ConsentEvent.Kind.OPT_OUT
