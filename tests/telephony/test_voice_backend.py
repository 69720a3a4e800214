"""The Twilio voice backend, through the real `twilio` client, against the fake."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from telephony.backends import get_backend
from telephony.backends.base import VoiceError
from telephony.backends.twilio import TwilioVoiceBackend

COUNSELOR_PHONE = "+13055550111"
CALLER_ID = "+18885550100"
TWIML_URL = "https://crm.example.org/twilio/voice/outbound/?call=7"
STATUS_URL = "https://crm.example.org/twilio/voice/status/?call=7"


def place(backend: TwilioVoiceBackend, to: str = COUNSELOR_PHONE) -> str:
    return backend.create_call(
        to=to, from_=CALLER_ID, url=TWIML_URL, status_callback=STATUS_URL
    )


def test_a_call_is_created_with_our_twiml_and_status_callback(fake_twilio):
    sid = place(TwilioVoiceBackend())

    [request] = fake_twilio.requests
    assert request.method == "POST"
    assert request.path == (
        f"/2010-04-01/Accounts/{fake_twilio.account_sid}/Calls.json"
    )
    assert request.auth == (fake_twilio.account_sid, fake_twilio.auth_token)
    assert fake_twilio.created_by(sid) is request
    form = request.form
    assert (form["To"], form["From"]) == (COUNSELOR_PHONE, CALLER_ID)
    assert (form["Url"], form["Method"]) == (TWIML_URL, "POST")
    assert (form["StatusCallback"], form["StatusCallbackMethod"]) == (
        STATUS_URL,
        "POST",
    )
    # Without the events Twilio reports only the end: no ringing, no answer time.
    assert request.form_lists["StatusCallbackEvent"] == [
        "initiated",
        "ringing",
        "answered",
        "completed",
    ]


def test_the_sid_returned_is_the_one_twilio_gave_the_queued_call(fake_twilio):
    sid = place(TwilioVoiceBackend())

    [(created_sid, call)] = fake_twilio.calls.items()
    assert sid == created_sid
    assert sid.startswith("CA")
    assert len(sid) == 34
    assert (call["status"], call["direction"]) == ("queued", "outbound-api")
    assert (call["to"], call["from"]) == (COUNSELOR_PHONE, CALLER_ID)


def test_a_call_refused_by_twilio_is_a_voice_error_with_its_code(fake_twilio):
    fake_twilio.fail_next(code=21211, status=400)

    with pytest.raises(VoiceError, match="21211") as raised:
        place(TwilioVoiceBackend())

    assert raised.value.code == 21211
    assert fake_twilio.calls == {}


def test_an_invalid_number_is_refused_by_twilios_own_rule(fake_twilio):
    with pytest.raises(VoiceError) as raised:
        place(TwilioVoiceBackend(), to="305-555-0111")

    assert raised.value.code == 21211
    # The message is shown to the counselor and logged: no phone number in it.
    assert "0111" not in str(raised.value)


def test_a_twilio_outage_is_a_voice_error_with_its_code(fake_twilio):
    fake_twilio.fail_next(code=20503, status=503)

    with pytest.raises(VoiceError) as raised:
        place(TwilioVoiceBackend())

    assert raised.value.code == 20503


def test_an_unreachable_twilio_is_a_voice_error(fake_twilio, settings):
    settings.TWILIO_API_BASE_URL = "http://127.0.0.1:9"  # nothing listens there

    with pytest.raises(VoiceError, match="could not be reached") as raised:
        place(TwilioVoiceBackend())

    assert raised.value.code is None


def test_a_twilio_too_slow_to_answer_is_a_voice_error(fake_twilio, settings):
    settings.TWILIO_HTTP_TIMEOUT = 0.2
    fake_twilio.delay_next(2)

    with pytest.raises(VoiceError, match="could not be reached"):
        place(TwilioVoiceBackend())


@pytest.mark.parametrize("missing", ["TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"])
def test_missing_credentials_stop_the_backend_at_once(settings, missing):
    settings.TWILIO_ACCOUNT_SID = "AC" + "0" * 32
    settings.TWILIO_AUTH_TOKEN = "secret"
    setattr(settings, missing, "")

    with pytest.raises(ImproperlyConfigured):
        TwilioVoiceBackend()


def test_voice_backend_twilio_selects_the_twilio_backend_with_current_settings(
    fake_twilio, settings
):
    settings.VOICE_BACKEND = "twilio"
    first = get_backend()
    settings.TWILIO_API_BASE_URL = "http://127.0.0.1:9"

    second = get_backend()

    assert isinstance(first, TwilioVoiceBackend)
    # A changed setting is not served by the backend built from the old one.
    assert second is not first
