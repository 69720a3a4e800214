"""Place calls through Twilio's Calls API with the official client."""

import json
import logging

import requests
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from notifications.backends.twilio import BaseUrlTwilioHttpClient, _proxies_for

from .base import VoiceBackend, VoiceError

logger = logging.getLogger(__name__)

# "answered" arrives as CallStatus=in-progress; without the list Twilio reports
# only the end of the call.
STATUS_CALLBACK_EVENTS = ["initiated", "ringing", "answered", "completed"]


class TwilioVoiceBackend(VoiceBackend):
    def __init__(self) -> None:
        account_sid, auth_token = (
            settings.TWILIO_ACCOUNT_SID,
            settings.TWILIO_AUTH_TOKEN,
        )
        if not account_sid or not auth_token:
            # Otherwise the twilio client silently falls back to os.environ.
            raise ImproperlyConfigured(
                "VOICE_BACKEND=twilio needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN"
            )
        timeout = float(settings.TWILIO_HTTP_TIMEOUT)
        base_url = settings.TWILIO_API_BASE_URL
        # The environment's proxy, read once as the SMS backend does: where egress
        # goes through a proxy, calls must too.
        proxy = _proxies_for(base_url or "https://api.twilio.com")
        http_client = (
            BaseUrlTwilioHttpClient(base_url, timeout=timeout, proxy=proxy)
            if base_url
            else TwilioHttpClient(timeout=timeout, proxy=proxy)
        )
        if http_client.session is not None:
            http_client.session.trust_env = False
        self.client = Client(account_sid, auth_token, http_client=http_client)

    def create_call(
        self, *, to: str, from_: str, url: str, status_callback: str
    ) -> str:
        try:
            call = self.client.calls.create(
                to=to,
                from_=from_,
                url=url,
                method="POST",
                status_callback=status_callback,
                status_callback_method="POST",
                status_callback_event=STATUS_CALLBACK_EVENTS,
            )
        except TwilioRestException as exc:
            logger.warning("voice call refused status=%s code=%s", exc.status, exc.code)
            raise VoiceError(
                f"Twilio refused the call (error {exc.code}).", code=exc.code
            ) from None  # Twilio's own text may quote the full number
        except requests.exceptions.RequestException as exc:
            logger.warning("voice call not placed error=%s", type(exc).__name__)
            raise VoiceError("Twilio could not be reached; try again.") from exc
        except json.JSONDecodeError as exc:
            logger.warning("voice call answer unreadable outcome=unknown")
            raise VoiceError(
                "Twilio's answer was unreadable; the call may not have been placed."
            ) from exc
        return call.sid
