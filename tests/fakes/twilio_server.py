"""A local fake of Twilio's Messages and Calls REST APIs, for tests and benchmarks.

Start it, point ``TWILIO_API_BASE_URL`` at ``fake.base_url`` and the real ``twilio``
client talks to it. The server is stdlib only; Twilio's own ``RequestValidator``
signs the status callbacks, so webhook code is checked against the real algorithm.

    with FakeTwilio() as fake:
        fake.fail_next(code=21610, status=400)
        ...  # send through TwilioBackend
        fake.fire_status_callback(sid, "delivered")
        ...  # place a call through TwilioVoiceBackend
        fake.fire_call_status_callback(call_sid, "completed", duration=95)
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import http.client
import json
import logging
import re
import socket
import threading
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from twilio.request_validator import RequestValidator

logger = logging.getLogger(__name__)

API_VERSION = "2010-04-01"
_MESSAGES = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Messages\.json$")
_MESSAGE = re.compile(
    r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Messages/(?P<sid>[^/]+)\.json$"
)
_CALLS = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Calls\.json$")
_CALL = re.compile(
    r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Calls/(?P<sid>[^/]+)\.json$"
)
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
# What Calls create accepts as a number to ring besides a phone number.
_CALL_ENDPOINTS = ("client:", "sip:")
_CALL_EVENTS = frozenset({"initiated", "ringing", "answered", "completed"})
# The StatusCallbackEvent each call status is reported under.
_CALL_STATUS_EVENTS: dict[str, str] = {
    "initiated": "initiated",
    "ringing": "ringing",
    "in-progress": "answered",
    "completed": "completed",
    "busy": "completed",
    "no-answer": "completed",
    "failed": "completed",
    "canceled": "completed",
}

# Twilio's wording for the errors the fake answers on its own or is told to inject.
ERROR_MESSAGES: dict[int, str] = {
    20003: "Authenticate",
    20404: "The requested resource was not found",
    20429: "Too Many Requests",
    20500: "An internal server error has occurred",
    20503: "Service Unavailable",
    21201: "No 'To' number is specified",
    21205: "Url is not a valid URL",
    21211: "Invalid 'To' Phone Number",
    21212: "Invalid 'From' Phone Number",
    21213: "No 'From' number is specified",
    21602: "Message body is required.",
    21603: "A 'From' phone number is required.",
    21604: "A 'To' phone number is required.",
    21610: "Attempt to send to unsubscribed recipient",
}

# GSM 03.38 decides how many characters fit in one segment (160, else UCS-2's 70).
_GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡"
    "ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENDED = set("^{}\\[~]|€\f")


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str  # without the query string
    query: str
    form: dict[str, str]
    headers: http.client.HTTPMessage  # case-insensitive lookups
    auth: tuple[str, str] | None
    client_address: tuple[str, int]  # one port per kept-alive connection
    # Every value of every field; `form` keeps only the last of a repeated one
    # (StatusCallbackEvent is sent once per event).
    form_lists: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class CallbackResult:
    sid: str
    status: str
    http_status: int | None  # None when the POST itself failed
    error: str = ""


@dataclass(frozen=True)
class _Injected:
    status: int
    code: int
    message: str


@dataclass(frozen=True)
class _Answer:
    status: int
    payload: dict[str, Any]
    created_sid: str | None = None


def twilio_error(status: int, code: int, message: str = "") -> dict[str, Any]:
    """Return an error body shaped like the 2010-04-01 API's."""
    return {
        "code": code,
        "message": message or ERROR_MESSAGES.get(code, f"Twilio error {code}"),
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def segment_count(body: str) -> int:
    if all(c in _GSM7 or c in _GSM7_EXTENDED for c in body):
        units = sum(2 if c in _GSM7_EXTENDED else 1 for c in body)
        single, multi = 160, 153
    else:
        units = len(body.encode("utf-16-le")) // 2
        single, multi = 70, 67
    return 1 if units <= single else -(-units // multi)


def _rfc2822_now() -> str:
    return format_datetime(datetime.now(UTC))


class FakeTwilio:
    """Twilio's Messages and Calls APIs on 127.0.0.1, with recording and failure
    injection.

    Injected delays, drops and errors apply to the next creates, of messages and
    calls alike, in that order: a delayed request can still be dropped or refused.
    """

    def __init__(
        self,
        account_sid: str | None = None,
        auth_token: str | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        service_from_number: str = "+15005550006",
    ) -> None:
        self.account_sid = account_sid or "AC" + uuid.uuid4().hex
        self.auth_token = auth_token or uuid.uuid4().hex
        # The number a Messaging Service "picks" from its pool, shown in callbacks.
        self.service_from_number = service_from_number
        self.auto_callbacks: list[str] = []
        self._address = (host, port)
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._messages: dict[str, dict[str, Any]] = {}
        self._calls: dict[str, dict[str, Any]] = {}
        self._created_by: dict[str, RecordedRequest] = {}
        self._status_callbacks: dict[str, str] = {}
        self._call_events: dict[str, frozenset[str]] = {}
        self._call_sequence: dict[str, int] = {}
        self._callback_results: list[CallbackResult] = []
        self._failures: deque[_Injected] = deque()
        self._failures_for: dict[str, _Injected] = {}
        self._delays: deque[float] = deque()
        self._drops = 0
        # Delayed answers wait on this, so reset() and stop() never wait them out.
        self._wake = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # Lifecycle

    def start(self) -> FakeTwilio:
        if self._server is not None:
            return self
        server = _Server(self._address, _Handler)
        server.fake = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            # A short poll keeps stop() from adding half a second to every test.
            kwargs={"poll_interval": 0.05},
            name="fake-twilio",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        with self._lock:
            self._wake.set()
        server.shutdown()
        server.close_connections()
        server.server_close()
        thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> FakeTwilio:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeTwilio is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # What happened

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def messages(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {sid: dict(message) for sid, message in self._messages.items()}

    @property
    def calls(self) -> dict[str, dict[str, Any]]:
        """Calls created through the Calls API, by SID, as a GET would show them."""
        with self._lock:
            return {sid: dict(call) for sid, call in self._calls.items()}

    def created_by(self, sid: str) -> RecordedRequest:
        """The create request that made message or call `sid` (its form, auth...)."""
        with self._lock:
            return self._created_by[sid]

    @property
    def callback_results(self) -> list[CallbackResult]:
        """Outcomes of the callbacks fired by `auto_callbacks`."""
        with self._lock:
            return list(self._callback_results)

    def reset(self) -> None:
        with self._lock:
            self._requests.clear()
            self._messages.clear()
            self._calls.clear()
            self._created_by.clear()
            self._status_callbacks.clear()
            self._call_events.clear()
            self._call_sequence.clear()
            self._callback_results.clear()
            self._failures.clear()
            self._failures_for.clear()
            self._delays.clear()
            self._drops = 0
            self.auto_callbacks = []
            self._wake.set()
            self._wake = threading.Event()

    # Failure injection

    def fail_next(
        self,
        code: int = 21610,
        status: int = 400,
        message: str = "",
        count: int = 1,
    ) -> None:
        """Answer the next `count` creates (messages or calls) with this error."""
        error = _Injected(status, code, message or ERROR_MESSAGES.get(code, ""))
        with self._lock:
            self._failures.extend([error] * count)

    def fail_for(
        self, to: str, code: int = 21211, status: int = 400, message: str = ""
    ) -> None:
        """Answer every create to `to` with this Twilio error, until reset()."""
        text = message or ERROR_MESSAGES.get(code, "")
        with self._lock:
            self._failures_for[to] = _Injected(status, code, text)

    def delay_next(self, seconds: float, count: int = 1) -> None:
        """Hold the answer to the next `count` creates, to provoke read timeouts."""
        with self._lock:
            self._delays.extend([seconds] * count)

    def drop_next(self, count: int = 1) -> None:
        """Read the next `count` creates, then close the connection unanswered."""
        with self._lock:
            self._drops += count

    # Status callbacks

    def fire_status_callback(
        self, sid: str, status: str, error_code: int | None = None
    ) -> int:
        """POST a signed status callback as Twilio would; return the HTTP status."""
        now = _rfc2822_now()
        with self._lock:
            message = self._messages[sid]
            url = self._status_callbacks.get(sid, "")
            if not url:
                raise ValueError(f"message {sid} was created without a StatusCallback")
            message["status"] = status
            message["date_updated"] = now
            if status in {"sent", "delivered"} and message["date_sent"] is None:
                message["date_sent"] = now
            if error_code is not None:
                message["error_code"] = error_code
            params = {
                "AccountSid": message["account_sid"],
                "ApiVersion": API_VERSION,
                "From": message["from"] or self.service_from_number,
                "MessageSid": sid,
                "MessageStatus": status,
                "SmsSid": sid,
                "SmsStatus": status,
                "To": message["to"],
            }
            if message["messaging_service_sid"]:
                params["MessagingServiceSid"] = message["messaging_service_sid"]
        if error_code is not None:
            params["ErrorCode"] = str(error_code)
        signature = RequestValidator(self.auth_token).compute_signature(url, params)
        return _post_form(url, params, {"X-Twilio-Signature": signature})

    def fire_call_status_callback(
        self,
        sid: str,
        status: str,
        *,
        duration: int | None = None,
        answered_by: str = "",
    ) -> int | None:
        """POST a signed call status callback as Twilio would; return the HTTP
        status, or None when Twilio would not send it: the call did not ask for
        the status's event (only "completed" is sent unasked)."""
        event = _CALL_STATUS_EVENTS.get(status)
        if event is None:
            raise ValueError(f"unknown call status {status!r}")
        now = _rfc2822_now()
        with self._lock:
            call = self._calls[sid]
            url = self._status_callbacks.get(sid, "")
            if not url:
                raise ValueError(f"call {sid} was created without a StatusCallback")
            call["status"] = status
            call["date_updated"] = now
            if call["start_time"] is None:
                call["start_time"] = now  # dialled
            if event == "completed":
                call["end_time"] = now
                call["duration"] = str(duration or 0)
            if answered_by:
                call["answered_by"] = answered_by
            if event not in self._call_events.get(sid, frozenset()):
                return None
            sequence = self._call_sequence.get(sid, 0)
            self._call_sequence[sid] = sequence + 1
            params = {
                "AccountSid": call["account_sid"],
                "ApiVersion": API_VERSION,
                "CallSid": sid,
                "CallStatus": status,
                "CallbackSource": "call-progress-events",
                "Called": call["to"],
                "Caller": call["from"],
                "Direction": call["direction"],
                "From": call["from"],
                "SequenceNumber": str(sequence),
                "Timestamp": now,
                "To": call["to"],
            }
        if event == "completed":
            seconds = duration or 0
            params["CallDuration"] = str(seconds)
            params["Duration"] = str(-(-seconds // 60))  # billed minutes
        if answered_by:
            params["AnsweredBy"] = answered_by
        signature = RequestValidator(self.auth_token).compute_signature(url, params)
        return _post_form(url, params, {"X-Twilio-Signature": signature})

    def _fire_auto_callbacks(self, sid: str, statuses: list[str]) -> None:
        for status in statuses:
            try:
                result = CallbackResult(
                    sid, status, self.fire_status_callback(sid, status)
                )
            except (OSError, http.client.HTTPException, ValueError) as exc:
                logger.debug("fake twilio callback failed sid=%s error=%r", sid, exc)
                result = CallbackResult(sid, status, None, repr(exc))
            with self._lock:
                self._callback_results.append(result)

    # Answering

    def _answer(self, request: RecordedRequest) -> _Answer | None:
        """Return the answer to `request`, or None to drop the connection."""
        creates = request.method == "POST" and _MESSAGES.match(request.path)
        placing = request.method == "POST" and _CALLS.match(request.path)
        with self._lock:
            self._requests.append(request)
            any_create = creates or placing
            delay = self._delays.popleft() if any_create and self._delays else 0.0
            drop = bool(any_create and self._drops)
            if drop:
                self._drops -= 1
            wake = self._wake
        if delay:
            wake.wait(delay)
        if drop:
            return None

        if request.auth != (self.account_sid, self.auth_token):
            return _Answer(401, twilio_error(401, 20003))
        not_found = _Answer(
            404,
            twilio_error(
                404, 20404, f"The requested resource {request.path} was not found"
            ),
        )
        if creates:
            if creates["account"] != self.account_sid:
                return not_found
            return self._create(request)
        if placing:
            if placing["account"] != self.account_sid:
                return not_found
            return self._create_call(request)
        found = _MESSAGE.match(request.path)
        if request.method == "GET" and found and found["account"] == self.account_sid:
            with self._lock:
                message = self._messages.get(found["sid"])
            return _Answer(200, dict(message)) if message else not_found
        found = _CALL.match(request.path)
        if request.method == "GET" and found and found["account"] == self.account_sid:
            with self._lock:
                call = self._calls.get(found["sid"])
            return _Answer(200, dict(call)) if call else not_found
        return not_found

    def _create(self, request: RecordedRequest) -> _Answer:
        form = request.form
        to = form.get("To", "")
        with self._lock:
            injected = self._failures.popleft() if self._failures else None
            injected = injected or self._failures_for.get(to)
        if injected:
            return _Answer(
                injected.status,
                twilio_error(injected.status, injected.code, injected.message),
            )

        body = form.get("Body", "")
        from_number = form.get("From", "")
        service_sid = form.get("MessagingServiceSid", "")
        if not to:
            return _Answer(400, twilio_error(400, 21604))
        if not from_number and not service_sid:
            return _Answer(400, twilio_error(400, 21603))
        if from_number and service_sid:
            # Twilio accepts both; the fake is stricter because our backend must
            # choose one, and a mix-up should fail loudly in tests.
            text = "Use exactly one of 'From' and 'MessagingServiceSid'."
            return _Answer(400, twilio_error(400, 21603, text))
        if not body:
            return _Answer(400, twilio_error(400, 21602))

        sid = "SM" + uuid.uuid4().hex
        now = _rfc2822_now()
        base = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}"
        message: dict[str, Any] = {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": body,
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": from_number or None,
            "messaging_service_sid": service_sid or None,
            "num_media": "0",
            # Twilio answers 0 through a Messaging Service: no sender chosen yet.
            "num_segments": "0" if service_sid else str(segment_count(body)),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "accepted" if service_sid else "queued",
            "subresource_uris": {"media": f"{base}/Media.json"},
            "to": to,
            "uri": f"{base}.json",
        }
        with self._lock:
            self._messages[sid] = message
            self._created_by[sid] = request
            self._status_callbacks[sid] = form.get("StatusCallback", "")
            answer = dict(message)
        return _Answer(201, answer, created_sid=sid)

    def _create_call(self, request: RecordedRequest) -> _Answer:
        """Twilio's Calls create: a number to ring, a caller ID, and TwiML to run."""
        form = request.form
        to, from_number = form.get("To", ""), form.get("From", "")
        with self._lock:
            injected = self._failures.popleft() if self._failures else None
            injected = injected or self._failures_for.get(to)
        if injected:
            return _Answer(
                injected.status,
                twilio_error(injected.status, injected.code, injected.message),
            )
        refused = _invalid_call_form(request)
        if refused is not None:
            return refused
        sid = "CA" + uuid.uuid4().hex
        now = _rfc2822_now()
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Calls/{sid}"
        call: dict[str, Any] = {
            "account_sid": self.account_sid,
            "annotation": None,
            "answered_by": None,
            "api_version": API_VERSION,
            "caller_name": None,
            "date_created": now,
            "date_updated": now,
            "direction": "outbound-api",
            "duration": None,
            "end_time": None,
            "forwarded_from": None,
            "from": from_number,
            "from_formatted": _formatted(from_number),
            "group_sid": None,
            "parent_call_sid": None,
            "phone_number_sid": "PN" + uuid.uuid4().hex,
            "price": None,
            "price_unit": "USD",
            "queue_time": "0",
            "sid": sid,
            "start_time": None,
            "status": "queued",
            "subresource_uris": {
                name: f"{uri}/{name.title().replace('_', '')}.json"
                for name in ("notifications", "recordings", "payments", "events")
            },
            "to": to,
            "to_formatted": _formatted(to),
            "trunk_sid": None,
            "uri": f"{uri}.json",
        }
        events = set(request.form_lists.get("StatusCallbackEvent", []))
        with self._lock:
            self._calls[sid] = call
            self._created_by[sid] = request
            self._status_callbacks[sid] = form.get("StatusCallback", "")
            # "completed" is reported whether or not it was asked for.
            self._call_events[sid] = frozenset(events | {"completed"})
            answer = dict(call)
        return _Answer(201, answer)

    def _after_answer(self, answer: _Answer) -> None:
        with self._lock:
            statuses = list(self.auto_callbacks)
        if answer.created_sid and statuses:
            threading.Thread(
                target=self._fire_auto_callbacks,
                args=(answer.created_sid, statuses),
                name="fake-twilio-callbacks",
                daemon=True,
            ).start()


def _invalid_call_form(request: RecordedRequest) -> _Answer | None:
    """Twilio's answer to a Calls create it refuses, or None when it is valid."""
    form = request.form

    def refuse(code: int, message: str = "") -> _Answer:
        return _Answer(400, twilio_error(400, code, message))

    to, from_number = form.get("To", ""), form.get("From", "")
    if not to:
        return refuse(21201)
    if not (_E164.match(to) or to.startswith(_CALL_ENDPOINTS)):
        return refuse(21211)
    if not from_number:
        return refuse(21213)
    if not (_E164.match(from_number) or from_number.startswith("client:")):
        return refuse(21212)
    instructions = [
        name for name in ("Url", "Twiml", "ApplicationSid") if form.get(name)
    ]
    if not instructions:
        return refuse(21205, "Url, Twiml or ApplicationSid is required")
    if len(instructions) > 1:
        # Twilio ignores all but one; our backend must not leave it guessing.
        return refuse(21205, "Use exactly one of Url, Twiml and ApplicationSid")
    for name in ("Url", "StatusCallback", "FallbackUrl"):
        if form.get(name) and not _absolute_url(form[name]):
            return refuse(21205, f"{name} is not a valid URL")
    for name in ("Method", "StatusCallbackMethod", "FallbackMethod"):
        if form.get(name, "POST").upper() not in {"GET", "POST"}:
            return refuse(21205, f"{name} must be GET or POST")
    unknown = set(request.form_lists.get("StatusCallbackEvent", [])) - _CALL_EVENTS
    if unknown:
        text = f"Invalid StatusCallbackEvent: {', '.join(sorted(unknown))}"
        return refuse(21205, text)
    return None


def _absolute_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in {"http", "https"} and bool(parts.netloc)


def _formatted(number: str) -> str:
    """A number as Twilio shows it: (212) 555-0142 for a US one."""
    if re.fullmatch(r"\+1[0-9]{10}", number):
        return f"({number[2:5]}) {number[5:8]}-{number[8:]}"
    return number


def _post_form(url: str, params: dict[str, str], headers: dict[str, str]) -> int:
    # http.client rather than urllib: environment proxies must not catch a
    # callback aimed at a local test server.
    parts = urlsplit(url)
    connection_class = (
        http.client.HTTPSConnection
        if parts.scheme == "https"
        else http.client.HTTPConnection
    )
    connection = connection_class(parts.hostname or "", parts.port, timeout=5)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request(
            "POST",
            target,
            body=urlencode(params),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "User-Agent": "TwilioProxy/1.1",
                "I-Twilio-Idempotency-Token": uuid.uuid4().hex,
                **headers,
            },
        )
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def _basic_auth(header: str | None) -> tuple[str, str] | None:
    if not header or not header.startswith("Basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:], validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, sep, password = decoded.partition(":")
    return (username, password) if sep else None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    fake: FakeTwilio

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """End kept-alive connections, whose threads would otherwise linger."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            # OSError: the client closed it already.
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    # Keep-alive, and no Nagle delay on the small answers, for benchmark throughput.
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass  # the records are the log; stderr noise would drown test output

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        pairs: list[tuple[str, str]] = []
        if self.headers.get_content_type() == "application/x-www-form-urlencoded":
            pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True)
        form_lists: dict[str, list[str]] = {}
        for name, value in pairs:
            form_lists.setdefault(name, []).append(value)
        request = RecordedRequest(
            method=self.command,
            path=parts.path,
            query=parts.query,
            form=dict(pairs),
            headers=self.headers,
            auth=_basic_auth(self.headers.get("Authorization")),
            client_address=self.client_address,
            form_lists=form_lists,
        )
        answer = self.server.fake._answer(request)
        if answer is None:
            self.close_connection = True
            return
        body = json.dumps(answer.payload).encode("utf-8")
        try:
            self.send_response(answer.status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Twilio-Request-Id", "RQ" + uuid.uuid4().hex)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up first (a provoked read timeout).
            self.close_connection = True
            return
        self.server.fake._after_answer(answer)
