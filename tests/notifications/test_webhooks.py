"""Twilio's SMS webhooks: signed or refused, opt-outs at once, status in any order."""

import pytest
import time_machine

from leads.models import Lead, LeadSource
from notifications import services
from notifications.models import Alert, ConsentEvent, Message

from .conftest import WEEKDAY_NOON_NY

INCOMING = "/twilio/sms/incoming/"
STATUS = "/twilio/sms/status/"
CENTER = "+18885550100"

_sid_counter = iter(range(10**6))


def inbound(from_number: str, body: str, **extra) -> dict:
    sid = f"SM{next(_sid_counter):032x}"
    return {
        "MessageSid": sid,
        "SmsSid": sid,
        "AccountSid": "AC" + "0" * 32,
        "From": from_number,
        "To": CENTER,
        "Body": body,
        "NumMedia": "0",
        **extra,
    }


@pytest.fixture(autouse=True)
def _noon_in_new_york():
    with time_machine.travel(WEEKDAY_NOON_NY, tick=True):
        yield


def consent_kind(phone: str) -> str | None:
    event = ConsentEvent.objects.filter(phone=phone).order_by("-at", "-id").first()
    return event.kind if event else None


# --- Signatures ---------------------------------------------------------------------


@pytest.mark.parametrize("signature", [False, "", "bm90LWEtc2lnbmF0dXJl"])
@pytest.mark.parametrize("path", [INCOMING, STATUS])
def test_unsigned_or_forged_webhooks_get_403_and_change_nothing(
    twilio_post, path, signature
):
    response = twilio_post(path, inbound("+12125550142", "STOP"), signature=signature)

    assert response.status_code == 403
    assert Message.objects.count() == 0
    assert ConsentEvent.objects.count() == 0


def test_a_signature_for_another_url_is_refused(twilio_post, settings):
    params = inbound("+12125550142", "Hello")
    from .conftest import sign

    wrong = sign("https://evil.example.org" + INCOMING, params)

    assert twilio_post(INCOMING, params, signature=wrong).status_code == 403
    assert Message.objects.count() == 0


def test_webhooks_answer_only_post(client, db):
    assert client.get(INCOMING).status_code == 405


# --- Inbound texts ------------------------------------------------------------------


def test_a_text_from_a_known_lead_joins_its_conversation_and_alerts_the_owner(
    twilio_post, lead, counselor
):
    response = twilio_post(INCOMING, inbound("+12125550142", "Can you call at 3?"))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/xml"
    assert "<Message>" not in response.content.decode()
    message = Message.objects.get(direction=Message.Direction.INBOUND)
    assert message.lead == lead
    assert lead.activities.filter(data__message=message.pk).exists()

    services.inbound_message_process(message_id=message.pk)
    services.inbound_message_process(message_id=message.pk)  # the task ran twice

    alerts = Alert.objects.filter(user=counselor, lead=lead, kind="lead_replied")
    assert alerts.count() == 1
    assert "Can you call" not in alerts.get().text  # no message content in alerts


def test_a_text_from_an_unknown_number_becomes_a_new_sms_lead(twilio_post):
    twilio_post(INCOMING, inbound("+17135550177", "Do you take Aetna?"))
    message = Message.objects.get()

    services.inbound_message_process(message_id=message.pk)

    message.refresh_from_db()
    lead = Lead.objects.get(phone="+17135550177")
    assert message.lead == lead
    assert lead.source.kind == LeadSource.Kind.SMS
    assert lead.first_touch.channel == "sms"
    # Texting the center is consent to be answered by text.
    assert consent_kind("+17135550177") == ConsentEvent.Kind.OPT_IN


def test_a_repeated_webhook_stores_the_text_once(twilio_post, lead):
    params = inbound("+12125550142", "Hello")

    twilio_post(INCOMING, params)
    twilio_post(INCOMING, params)

    assert Message.objects.filter(direction=Message.Direction.INBOUND).count() == 1


# --- Opt-out and opt-in -------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        *[
            variant
            for word in (
                "STOP",
                "STOPALL",
                "UNSUBSCRIBE",
                "CANCEL",
                "END",
                "QUIT",
                "REVOKE",
                "OPTOUT",
                "OPT OUT",
            )
            for variant in (word, word.lower(), f"  {word.title()}  ")
        ],
        "stop texting me",
        "Please stop messaging me",
    ],
)
def test_every_opt_out_word_blocks_later_texts_until_start(
    twilio_post, lead, counselor, sent, body
):
    response = twilio_post(INCOMING, inbound("+12125550142", body))

    assert consent_kind("+12125550142") == ConsentEvent.Kind.OPT_OUT
    assert "unsubscribed" in response.content.decode()
    blocked = services.message_send_manual(lead=lead, body="Hi", by=counselor)
    assert blocked.blocked_reason == Message.BlockedReason.OPTED_OUT

    twilio_post(INCOMING, inbound("+12125550142", "START"))

    allowed = services.message_send_manual(lead=lead, body="Hi again", by=counselor)
    assert allowed.status == Message.Status.PENDING


def test_one_confirmation_after_an_opt_out_and_none_after(twilio_post, lead):
    first = twilio_post(INCOMING, inbound("+12125550142", "STOP"))
    second = twilio_post(INCOMING, inbound("+12125550142", "stop"))

    assert "unsubscribed" in first.content.decode()
    assert "<Message>" not in second.content.decode()
    assert (
        Message.objects.filter(kind=Message.Kind.REPLY, to="+12125550142").count() == 1
    )


def test_twilio_advanced_opt_out_is_recorded_without_a_second_confirmation(
    twilio_post, lead
):
    response = twilio_post(
        INCOMING, inbound("+12125550142", "Stop please", OptOutType="STOP")
    )

    assert consent_kind("+12125550142") == ConsentEvent.Kind.OPT_OUT
    event = ConsentEvent.objects.filter(phone="+12125550142").first()
    assert event.source == ConsentEvent.Source.TWILIO_OPT_OUT
    assert "<Message>" not in response.content.decode()


def test_help_gets_the_help_text(twilio_post, lead, settings):
    settings.SMS_HELP_PHONE = "(888) 555-0100"

    response = twilio_post(INCOMING, inbound("+12125550142", "help"))

    assert "(888) 555-0100" in response.content.decode()
    assert consent_kind("+12125550142") == ConsentEvent.Kind.OPT_IN


@pytest.mark.parametrize(
    "body", ["I need help to stop drinking", "my son won't stop using", "Yes at 3pm"]
)
def test_asking_for_help_with_stopping_is_not_an_opt_out(twilio_post, lead, body):
    twilio_post(INCOMING, inbound("+12125550142", body))

    assert consent_kind("+12125550142") == ConsentEvent.Kind.OPT_IN


# --- Status callbacks ---------------------------------------------------------------


@pytest.fixture
def handed_off(lead, counselor):
    message = services.message_send_manual(lead=lead, body="Hi", by=counselor)
    services.message_send(message_id=message.pk)
    message.refresh_from_db()
    return message


def status_params(message: Message, status: str, **extra) -> dict:
    return {
        "MessageSid": message.twilio_sid,
        "SmsSid": message.twilio_sid,
        "AccountSid": "AC" + "0" * 32,
        "From": CENTER,
        "To": message.to,
        "MessageStatus": status,
        "SmsStatus": status,
        "ApiVersion": "2010-04-01",
        **extra,
    }


@pytest.mark.parametrize(
    ("order", "final"),
    [
        (["sent", "delivered"], "delivered"),
        (["delivered", "sent"], "delivered"),
        (["delivered", "queued", "sent", "delivered"], "delivered"),
        (["sent", "undelivered", "sent"], "undelivered"),
        (["failed", "sent", "queued"], "failed"),
    ],
)
def test_status_callbacks_in_any_order_end_in_the_right_status(
    twilio_post, handed_off, order, final
):
    path = f"{STATUS}?m={handed_off.pk}"
    for status in order:
        extra = {"ErrorCode": "30003"} if status in ("failed", "undelivered") else {}
        response = twilio_post(path, status_params(handed_off, status, **extra))
        assert response.status_code == 204

    handed_off.refresh_from_db()
    assert handed_off.status == final
    if final in ("failed", "undelivered"):
        assert handed_off.error_code == 30003


def test_a_callback_for_an_unknown_message_is_answered_and_ignored(twilio_post, db):
    params = {"MessageSid": "SM" + "f" * 32, "MessageStatus": "delivered"}

    response = twilio_post(STATUS, params)

    assert response.status_code == 204
    assert Message.objects.count() == 0


def test_a_callback_tells_the_outcome_of_a_send_whose_answer_was_lost(
    twilio_post, lead, counselor
):
    from notifications.backends import locmem
    from notifications.backends.base import SmsOutcomeUnknown

    locmem.fail_next(SmsOutcomeUnknown("read timeout"))
    message = services.message_send_manual(lead=lead, body="Hi", by=counselor)
    services.message_send(message_id=message.pk)
    sid = "SM" + "a" * 32

    twilio_post(
        f"{STATUS}?m={message.pk}",
        {"MessageSid": sid, "MessageStatus": "delivered", "To": message.to},
    )

    message.refresh_from_db()
    assert (message.status, message.twilio_sid) == ("delivered", sid)


def test_a_21610_callback_records_the_opt_out(twilio_post, handed_off):
    twilio_post(
        f"{STATUS}?m={handed_off.pk}",
        status_params(handed_off, "failed", ErrorCode="21610"),
    )

    assert consent_kind(handed_off.to) == ConsentEvent.Kind.OPT_OUT


# --- Odd input ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"From": "", "Body": ""},
        {"From": "not a number", "Body": "hi", "MessageSid": "SM1"},
        {"From": "+12125550142", "Body": "x" * 5000, "MessageSid": "SM2"},
        {"From": "22395", "Body": "STOP", "MessageSid": "SM3"},  # a short code
        {"From": "+12125550142", "Body": "\x00\ud7ff emoji 🙏", "OptOutType": "x" * 40},
    ],
)
def test_odd_inbound_texts_are_answered_not_crashed_on(twilio_post, params):
    response = twilio_post(INCOMING, params)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/xml"


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"MessageSid": "SM" + "0" * 32, "MessageStatus": "teleported"},
        {"MessageSid": "SM" + "0" * 32, "MessageStatus": "failed", "ErrorCode": "abc"},
    ],
)
@pytest.mark.parametrize("query", ["", "?m=abc", "?m=99999999999999999999"])
def test_odd_status_callbacks_are_answered_and_ignored(
    twilio_post, handed_off, params, query
):
    response = twilio_post(f"{STATUS}{query}", params)

    assert response.status_code == 204
    handed_off.refresh_from_db()
    assert handed_off.status == Message.Status.QUEUED


def test_a_status_callback_with_a_nul_in_its_sid_is_ignored(twilio_post, handed_off):
    response = twilio_post(STATUS, {"MessageSid": "SM\x00", "MessageStatus": "sent"})

    assert response.status_code == 204


def test_an_error_code_too_big_to_be_real_is_dropped_not_crashed_on(
    twilio_post, handed_off
):
    params = status_params(handed_off, "failed", ErrorCode="9" * 12)

    response = twilio_post(f"{STATUS}?m={handed_off.pk}", params)

    assert response.status_code == 204
    handed_off.refresh_from_db()
    assert (handed_off.status, handed_off.error_code) == ("failed", None)
