"""Send SMS through Twilio's Messages API with the official client."""

import json
import logging
import os
import re
import urllib.request
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from requests.adapters import HTTPAdapter
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client
from urllib3.exceptions import ClosedPoolError, MaxRetryError, NewConnectionError

from .base import (
    SendResult,
    SmsBackend,
    SmsError,
    SmsOutcomeUnknown,
    SmsPermanentError,
    SmsTemporaryError,
)

logger = logging.getLogger(__name__)

# Twilio's error texts can quote the recipient ("The 'To' number +1555... is not
# valid"); anything that looks like a phone number is masked before it is logged.
_PHONE_LIKE = re.compile(r"\+?\d[\d\s().-]{5,}\d")


def _last4(number: str) -> str:
    return "***" + re.sub(r"\D", "", number)[-4:]


def _redact(text: str) -> str:
    return _PHONE_LIKE.sub(lambda match: _last4(match.group()), text)


def _is_twilio_host(host: str) -> bool:
    return host == "twilio.com" or host.endswith(".twilio.com")


class BaseUrlTwilioHttpClient(TwilioHttpClient):
    """Send every request meant for a Twilio host to `base_url` instead.

    The path and query are kept, so a fake (or a recording proxy) sees the same
    requests Twilio would, for every product (api, lookups, messaging...).
    """

    def __init__(self, base_url: str, **kwargs: object) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ValueError(f"base_url must be an absolute http(s) URL: {base_url!r}")
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.base_url = base_url.rstrip("/")
        # The parent only sizes the https:// pool; a local fake is plain http.
        if self.session is not None and kwargs.get("max_retries") is None:
            self.session.mount(
                "http://", HTTPAdapter(pool_maxsize=min(32, (os.cpu_count() or 1) + 4))
            )

    def rewrite_url(self, url: str) -> str:
        parts = urlsplit(url)
        if not _is_twilio_host(parts.hostname or ""):
            return url
        query = f"?{parts.query}" if parts.query else ""
        return f"{self.base_url}{parts.path}{query}"

    def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        return super().request(
            method,
            self.rewrite_url(url),
            params=params,
            data=data,
            headers=headers,
            auth=auth,
            timeout=timeout,
            allow_redirects=allow_redirects,
        )


def _never_connected(exc: requests.exceptions.ConnectionError) -> bool:
    """Tell a refused or unresolvable connection from one lost mid-request.

    requests wraps both in ConnectionError: a failed connect arrives as
    MaxRetryError(reason=NewConnectionError), a lost one as ProtocolError
    ("Connection aborted", RemoteDisconnected(...)).
    """
    reason = exc.args[0] if exc.args else None
    if isinstance(reason, MaxRetryError):
        reason = reason.reason
    return isinstance(reason, NewConnectionError | ClosedPoolError)


def _proxies_for(url: str) -> dict[str, str] | None:
    """The HTTP(S)_PROXY settings of the environment, unless NO_PROXY covers `url`."""
    host = urlsplit(url).hostname or ""
    if urllib.request.proxy_bypass(host):
        return None
    proxies = {
        scheme: address
        for scheme, address in urllib.request.getproxies().items()
        if scheme in ("http", "https")
    }
    return proxies or None


class TwilioBackend(SmsBackend):
    def __init__(self) -> None:
        account_sid = settings.TWILIO_ACCOUNT_SID
        auth_token = settings.TWILIO_AUTH_TOKEN
        if not account_sid or not auth_token:
            # Otherwise the twilio client silently falls back to os.environ.
            raise ImproperlyConfigured(
                "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are required"
            )
        base_url = getattr(settings, "TWILIO_API_BASE_URL", "")
        timeout = float(getattr(settings, "TWILIO_HTTP_TIMEOUT", 10))
        # One client, hence one requests.Session and its connection pool, per
        # backend: a TLS handshake per message would cap throughput.
        proxy = _proxies_for(base_url or "https://api.twilio.com")
        http_client = (
            BaseUrlTwilioHttpClient(base_url, timeout=timeout, proxy=proxy)
            if base_url
            else TwilioHttpClient(timeout=timeout, proxy=proxy)
        )
        if http_client.session is not None:
            # requests re-reads the proxy variables on every request otherwise;
            # they were read once above.
            http_client.session.trust_env = False
        self.client = Client(account_sid, auth_token, http_client=http_client)

    def send(
        self,
        *,
        to: str,
        body: str,
        from_number: str,
        messaging_service_sid: str,
        status_callback: str,
    ) -> SendResult:
        sender = (
            {"messaging_service_sid": messaging_service_sid}
            if messaging_service_sid
            else {"from_": from_number}
        )
        try:
            message = self.client.messages.create(
                to=to, body=body, status_callback=status_callback, **sender
            )
        except (TwilioRestException, TwilioServiceException) as exc:
            raise self._refused(exc, to=to) from None
        except requests.exceptions.RequestException as exc:
            raise self._transport_failed(exc, to=to) from exc
        except json.JSONDecodeError as exc:
            # Twilio said 2xx, so the message exists, but we never learnt its SID.
            logger.warning("sms answer unreadable outcome=unknown to=%s", _last4(to))
            raise SmsOutcomeUnknown("Twilio accepted the message unreadably") from exc
        # DEBUG: the outbox logs every hand-off already, with the message id.
        logger.debug(
            "sms sent sid=%s status=%s to=%s", message.sid, message.status, _last4(to)
        )
        return SendResult(sid=str(message.sid), status=str(message.status))

    def _refused(
        self, exc: TwilioRestException | TwilioServiceException, *, to: str
    ) -> SmsError:
        if exc.status == 429 or exc.status >= 500:
            error_class: type[SmsError] = SmsTemporaryError
        else:
            error_class = SmsPermanentError
        text = exc.msg if isinstance(exc, TwilioRestException) else exc.title
        # `from None` above: Twilio's own exception text may quote the full number.
        message = _redact(f"Twilio answered {exc.status} code={exc.code}: {text}")
        logger.warning(
            "sms refused kind=%s http_status=%s code=%s to=%s",
            error_class.__name__,
            exc.status,
            exc.code,
            _last4(to),
        )
        return error_class(message, code=exc.code, http_status=exc.status)

    def _transport_failed(
        self, exc: requests.exceptions.RequestException, *, to: str
    ) -> SmsError:
        # ConnectTimeout is also a ConnectionError and a Timeout: test it first.
        if isinstance(exc, requests.exceptions.ConnectTimeout) or (
            isinstance(exc, requests.exceptions.ConnectionError)
            and _never_connected(exc)
        ):
            error_class: type[SmsError] = SmsTemporaryError
            message = "Could not connect to Twilio; the message was not sent"
        else:
            # Read timeouts, dropped connections, broken chunked answers, TLS
            # errors whose phase is unknowable: Twilio may have queued the
            # message, and resending could text the person twice.
            error_class = SmsOutcomeUnknown
            message = "No answer from Twilio; the message may have been sent"
        logger.warning(
            "sms transport failed kind=%s error=%s to=%s",
            error_class.__name__,
            type(exc).__name__,
            _last4(to),
        )
        return error_class(f"{message} ({type(exc).__name__})")
