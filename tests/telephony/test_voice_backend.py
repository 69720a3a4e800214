"""The Twilio voice backend, through the real `twilio` client, against the fake."""

from collections.abc import Iterator

import pytest
from django.core.exceptions import ImproperlyConfigured

from telephony.backends.base import VoiceError
from telephony.backends.twilio import TwilioVoiceBackend
from tests.fakes.twilio_server import FakeTwilio

COUNSELOR_PHONE = "+13055550111"
CALLER_ID = "+18885550100"
TWIML_URL = "https://crm.example.org/twilio/voice/outbound/?call=7"
STATUS_URL = "https://crm.example.org/twilio/voice/status/?call=7"


@pytest.fixture(scope="module")
def fake_twilio_server() -> Iterator[FakeTwilio]:
    with FakeTwilio() as fake:
        yield fake


@pytest.fixture
def fake_twilio(fake_twilio_server: FakeTwilio, settings) -> FakeTwilio:
    fake_twilio_server.reset()
    settings.TWILIO_ACCOUNT_SID = fake_twilio_server.account_sid
    settings.TWILIO_AUTH_TOKEN = fake_twilio_server.auth_token
    settings.TWILIO_API_BASE_URL = fake_twilio_server.base_url
    settings.TWILIO_HTTP_TIMEOUT = 1
    return fake_twilio_server


def place(backend: TwilioVoiceBackend) -> str:
    return backend.create_call(
        to=COUNSELOR_PHONE, from_=CALLER_ID, url=TWIML_URL, status_callback=STATUS_URL
    )


def test_a_call_is_created_with_our_twiml_and_status_callback(fake_twilio):
    sid = place(TwilioVoiceBackend())

    form = fake_twilio.calls[sid]["form"]
    assert sid.startswith("CA")
    assert (form["To"], form["From"]) == (COUNSELOR_PHONE, CALLER_ID)
    assert (form["Url"], form["Method"]) == (TWIML_URL, "POST")
    assert (form["StatusCallback"], form["StatusCallbackMethod"]) == (
        STATUS_URL,
        "POST",
    )
    # The end of the call reports back, so the call log gets its duration.
    assert "StatusCallbackEvent" in form


def test_a_refused_call_is_a_voice_error_with_twilios_code(fake_twilio):
    fake_twilio.fail_for(COUNSELOR_PHONE, code=21211, status=400)

    with pytest.raises(VoiceError, match="21211"):
        place(TwilioVoiceBackend())

    assert fake_twilio.calls == {}


def test_an_unreachable_twilio_is_a_voice_error(fake_twilio, settings):
    settings.TWILIO_API_BASE_URL = "http://127.0.0.1:9"  # nothing listens there

    with pytest.raises(VoiceError, match="could not be reached"):
        place(TwilioVoiceBackend())


def test_missing_credentials_stop_the_backend_at_once(settings):
    settings.TWILIO_ACCOUNT_SID = ""

    with pytest.raises(ImproperlyConfigured):
        TwilioVoiceBackend()
