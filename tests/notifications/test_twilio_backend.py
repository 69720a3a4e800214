"""TwilioBackend through the real twilio client, against a local fake of Twilio."""

import logging
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

import pytest
from django.core.exceptions import ImproperlyConfigured
from twilio.request_validator import RequestValidator

from notifications.backends.base import (
    SendResult,
    SmsError,
    SmsOutcomeUnknown,
    SmsPermanentError,
    SmsTemporaryError,
)
from notifications.backends.twilio import BaseUrlTwilioHttpClient, TwilioBackend
from tests.fakes.twilio_server import FakeTwilio

TO = "+15558675310"
FROM = "+15005550006"
SERVICE_SID = "MG" + "a1" * 16
BODY = "Hi Casey, this is Maya from Outpatient about your intake call."
CALLBACK = "https://crm.example.org/webhooks/twilio/sms-status/"


@pytest.fixture
def backend(fake_twilio: FakeTwilio) -> TwilioBackend:
    return TwilioBackend()


def send(backend: TwilioBackend, **overrides: str) -> SendResult:
    kwargs = {
        "to": TO,
        "body": BODY,
        "from_number": FROM,
        "messaging_service_sid": "",
        "status_callback": CALLBACK,
        **overrides,
    }
    return backend.send(**kwargs)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class CallbackReceiver:
    """A stand-in for our webhook endpoint: keeps what Twilio posted."""

    url: str = ""
    posts: list[tuple[dict[str, str], str]] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, count: int, timeout: float = 2.0) -> list[tuple[dict, str]]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.posts) >= count, timeout)
            return list(self.posts)


@pytest.fixture
def callback_receiver() -> Iterator[CallbackReceiver]:
    receiver = CallbackReceiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            form = dict(parse_qsl(self.rfile.read(length).decode("utf-8")))
            with receiver.arrived:
                receiver.posts.append((form, self.headers["X-Twilio-Signature"]))
                receiver.arrived.notify_all()
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    # A query string is part of what Twilio signs, so include one.
    port = server.server_address[1]
    receiver.url = f"http://127.0.0.1:{port}/webhooks/twilio/sms-status/?team=7"
    yield receiver
    server.shutdown()
    server.server_close()
    thread.join()


def test_send_posts_to_the_account_messages_resource(fake_twilio, backend):
    result = send(backend)

    [request] = fake_twilio.requests
    messages = f"/2010-04-01/Accounts/{fake_twilio.account_sid}/Messages.json"
    assert (request.method, request.path) == ("POST", messages)
    assert request.auth == (fake_twilio.account_sid, fake_twilio.auth_token)
    assert request.form == {
        "To": TO,
        "From": FROM,
        "Body": BODY,
        "StatusCallback": CALLBACK,
    }
    assert result == SendResult(sid=result.sid, status="queued")
    assert result.sid.startswith("SM")
    assert fake_twilio.messages[result.sid]["to"] == TO


def test_send_through_messaging_service_omits_from(fake_twilio, backend):
    result = send(backend, messaging_service_sid=SERVICE_SID)

    [request] = fake_twilio.requests
    assert request.form["MessagingServiceSid"] == SERVICE_SID
    assert "From" not in request.form
    assert result.status == "accepted"
    assert fake_twilio.messages[result.sid]["from"] is None


def test_backend_reuses_one_connection_for_many_sends(fake_twilio, backend):
    for _ in range(3):
        send(backend)

    ports = {request.client_address for request in fake_twilio.requests}
    assert len(ports) == 1


@pytest.mark.parametrize(
    ("url", "path", "query"),
    [
        (
            "https://api.twilio.com/2010-04-01/Accounts/AC0/Calls.json",
            "/2010-04-01/Accounts/AC0/Calls.json",
            "",
        ),
        (
            "https://lookups.twilio.com/v2/PhoneNumbers/+15558675310?Fields=sms_pumping_risk",
            "/v2/PhoneNumbers/+15558675310",
            "Fields=sms_pumping_risk",
        ),
        (
            "https://messaging.dublin.ie1.twilio.com/v1/Services",
            "/v1/Services",
            "",
        ),
    ],
)
def test_base_url_client_sends_twilio_hosts_to_base_url_keeping_the_path(
    fake_twilio, url, path, query
):
    client = BaseUrlTwilioHttpClient(fake_twilio.base_url, timeout=1)

    response = client.request(
        "GET", url, auth=(fake_twilio.account_sid, fake_twilio.auth_token)
    )

    [request] = fake_twilio.requests
    assert (request.path, request.query) == (path, query)
    assert response.status_code == 404  # the fake only knows Messages


@pytest.mark.parametrize(
    "url",
    [
        "https://example.org/2010-04-01/Accounts/AC0/Messages.json",
        "https://api.twilio.com.evil.example/2010-04-01/Accounts",
        "https://nottwilio.com/v1/Services",
    ],
)
def test_base_url_client_leaves_other_hosts_alone(url):
    client = BaseUrlTwilioHttpClient("http://127.0.0.1:8765")

    assert client.rewrite_url(url) == url


@pytest.mark.parametrize(
    ("code", "status", "error_class"),
    [
        (21610, 400, SmsPermanentError),
        (21211, 400, SmsPermanentError),
        (20429, 429, SmsTemporaryError),
        (20500, 500, SmsTemporaryError),
        (20503, 503, SmsTemporaryError),
    ],
)
def test_twilio_error_answer_maps_to_retry_kind(
    fake_twilio, backend, code, status, error_class
):
    fake_twilio.fail_next(code=code, status=status)

    with pytest.raises(SmsError) as excinfo:
        send(backend)

    assert type(excinfo.value) is error_class
    assert (excinfo.value.code, excinfo.value.http_status) == (code, status)


def test_refusal_for_one_recipient_leaves_others_alone(fake_twilio, backend):
    message = f"The 'To' number {TO} is not a valid phone number."
    fake_twilio.fail_for(TO, code=21211, message=message)

    with pytest.raises(SmsPermanentError) as excinfo:
        send(backend)
    result = send(backend, to="+15558675311")

    assert excinfo.value.code == 21211
    assert TO not in str(excinfo.value)
    assert "***5310" in str(excinfo.value)
    assert result.sid in fake_twilio.messages


def test_empty_body_is_refused_for_good(fake_twilio, backend):
    with pytest.raises(SmsPermanentError) as excinfo:
        send(backend, body="")

    assert excinfo.value.code == 21602


def test_wrong_auth_token_is_permanent(fake_twilio, settings):
    settings.TWILIO_AUTH_TOKEN = "not-the-token"

    with pytest.raises(SmsPermanentError) as excinfo:
        send(TwilioBackend())

    assert (excinfo.value.code, excinfo.value.http_status) == (20003, 401)


def test_refused_connection_is_temporary(fake_twilio, settings):
    settings.TWILIO_API_BASE_URL = f"http://127.0.0.1:{closed_port()}"

    with pytest.raises(SmsError) as excinfo:
        send(TwilioBackend())

    assert type(excinfo.value) is SmsTemporaryError
    assert excinfo.value.http_status is None


def test_answer_slower_than_timeout_is_outcome_unknown(fake_twilio, backend):
    fake_twilio.delay_next(5)
    started = time.monotonic()

    with pytest.raises(SmsOutcomeUnknown):
        send(backend)

    assert time.monotonic() - started < 2
    assert len(fake_twilio.requests) == 1


def test_dropped_connection_is_outcome_unknown(fake_twilio, backend):
    fake_twilio.drop_next()

    with pytest.raises(SmsOutcomeUnknown):
        send(backend)

    assert len(fake_twilio.requests) == 1


def test_backend_sends_again_after_a_dropped_connection(fake_twilio, backend):
    send(backend)
    fake_twilio.drop_next()
    with pytest.raises(SmsOutcomeUnknown):
        send(backend)

    result = send(backend)

    assert result.sid in fake_twilio.messages


def test_send_logs_neither_body_nor_full_number(fake_twilio, backend, caplog):
    caplog.set_level(logging.DEBUG)
    fake_twilio.fail_for("+15558675399", code=21610)

    send(backend)
    with pytest.raises(SmsPermanentError):
        send(backend, to="+15558675399")

    assert "***5310" in caplog.text
    assert "***5399" in caplog.text
    assert BODY not in caplog.text
    assert "5558675" not in caplog.text


def test_backend_needs_credentials(settings):
    settings.TWILIO_ACCOUNT_SID = ""

    with pytest.raises(ImproperlyConfigured):
        TwilioBackend()


def test_status_callback_is_signed_as_twilio_signs(
    fake_twilio, backend, callback_receiver
):
    result = send(backend, status_callback=callback_receiver.url)

    http_status = fake_twilio.fire_status_callback(
        result.sid, "undelivered", error_code=30006
    )

    [(form, signature)] = callback_receiver.wait_for(1)
    assert http_status == 204
    validator = RequestValidator(fake_twilio.auth_token)
    assert validator.validate(callback_receiver.url, form, signature)
    assert form == {
        "AccountSid": fake_twilio.account_sid,
        "ApiVersion": "2010-04-01",
        "From": FROM,
        "To": TO,
        "MessageSid": result.sid,
        "SmsSid": result.sid,
        "MessageStatus": "undelivered",
        "SmsStatus": "undelivered",
        "ErrorCode": "30006",
    }
    assert fake_twilio.messages[result.sid]["status"] == "undelivered"


def test_auto_callbacks_follow_each_create_in_order(
    fake_twilio, backend, callback_receiver
):
    fake_twilio.auto_callbacks = ["sent", "delivered"]

    result = send(
        backend,
        messaging_service_sid=SERVICE_SID,
        status_callback=callback_receiver.url,
    )

    posts = callback_receiver.wait_for(2)
    assert [form["MessageStatus"] for form, _ in posts] == ["sent", "delivered"]
    assert {form["MessagingServiceSid"] for form, _ in posts} == {SERVICE_SID}
    assert {form["MessageSid"] for form, _ in posts} == {result.sid}
