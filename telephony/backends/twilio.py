"""Place calls through Twilio's Calls API with the official client."""

import logging

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from notifications.backends.twilio import BaseUrlTwilioHttpClient

from .base import VoiceBackend, VoiceError

logger = logging.getLogger(__name__)


class TwilioVoiceBackend(VoiceBackend):
    def __init__(self) -> None:
        account_sid, auth_token = (
            settings.TWILIO_ACCOUNT_SID,
            settings.TWILIO_AUTH_TOKEN,
        )
        if not account_sid or not auth_token:
            raise ImproperlyConfigured(
                "VOICE_BACKEND=twilio needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN"
            )
        timeout = settings.TWILIO_HTTP_TIMEOUT
        base_url = settings.TWILIO_API_BASE_URL
        http_client = (
            BaseUrlTwilioHttpClient(base_url, timeout=timeout)
            if base_url
            else TwilioHttpClient(timeout=timeout)
        )
        if http_client.session is not None:
            # A proxy from the environment must not see call set-ups.
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
                status_callback_event=["initiated", "ringing", "answered", "completed"],
            )
        except TwilioRestException as exc:
            logger.warning("voice call refused status=%s code=%s", exc.status, exc.code)
            raise VoiceError(f"Twilio refused the call (error {exc.code}).") from exc
        except OSError as exc:
            raise VoiceError("Twilio could not be reached; try again.") from exc
        return call.sid
