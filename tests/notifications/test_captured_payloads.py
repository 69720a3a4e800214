"""Twilio's webhooks as captured (tests/fixtures/twilio/), and simulate_sms."""

import json
from pathlib import Path

import pytest
import time_machine
from django.core.management import call_command

from notifications import services
from notifications.models import ConsentEvent, Message

from .conftest import WEEKDAY_NOON_NY

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "twilio"


def payload(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


@pytest.fixture(autouse=True)
def _noon_in_new_york():
    with time_machine.travel(WEEKDAY_NOON_NY, tick=True):
        yield


def test_captured_inbound_text_is_stored_with_its_sid(twilio_post):
    params = payload("sms_incoming")

    response = twilio_post("/twilio/sms/incoming/", params)

    assert response.status_code == 200
    message = Message.objects.get(twilio_sid=params["MessageSid"])
    assert (message.from_number, message.to) == ("+13055550142", "+18885550100")
    assert message.body == params["Body"]


def test_captured_advanced_opt_out_records_the_opt_out(twilio_post):
    twilio_post("/twilio/sms/incoming/", payload("sms_incoming_advanced_opt_out"))

    event = ConsentEvent.objects.get(phone="+13055550142")
    assert (event.kind, event.source) == ("opt_out", "twilio_opt_out")


@pytest.mark.parametrize(
    ("name", "status", "error_code"),
    [
        ("sms_status_delivered", "delivered", None),
        ("sms_status_undelivered", "undelivered", 30003),
    ],
)
def test_captured_status_callbacks_update_the_text(
    twilio_post, lead, counselor, name, status, error_code
):
    params = payload(name)
    message = services.message_send_manual(lead=lead, body="Hi", by=counselor)
    Message.objects.filter(pk=message.pk).update(
        status=Message.Status.SENT, twilio_sid=params["MessageSid"]
    )

    response = twilio_post(f"/twilio/sms/status/?m={message.pk}", params)

    assert response.status_code == 204
    message.refresh_from_db()
    assert (message.status, message.error_code) == (status, error_code)


@pytest.mark.django_db(transaction=True)
def test_simulate_sms_posts_a_signed_text_to_a_running_server(live_server, capsys):
    call_command(
        "simulate_sms",
        "--from",
        "+13055550142",
        "--body",
        "STOP",
        "--url",
        live_server.url,
    )

    assert capsys.readouterr().out.startswith("200 SM")
    event = ConsentEvent.objects.get(phone="+13055550142")
    assert event.kind == "opt_out"
