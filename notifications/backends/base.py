"""The interface every SMS backend implements."""

from abc import ABC, abstractmethod
from dataclasses import dataclass


@dataclass(frozen=True)
class SendResult:
    sid: str  # Twilio Message SID ("SM...")
    status: str  # Twilio's status in the create answer: "queued", "accepted", ...


class SmsError(Exception):
    def __init__(
        self, message: str, *, code: int | None = None, http_status: int | None = None
    ):
        super().__init__(message)
        self.code = code
        self.http_status = http_status


class SmsTemporaryError(SmsError):
    """Safe to retry: the request did not reach Twilio, or Twilio said 429 / 5xx."""


class SmsPermanentError(SmsError):
    """Twilio refused the message (e.g. 21211 invalid To, 21610 unsubscribed)."""


class SmsOutcomeUnknown(SmsError):
    """The request may have reached Twilio but no answer came: never resend blindly."""


class SmsBackend(ABC):
    @abstractmethod
    def send(
        self,
        *,
        to: str,
        body: str,
        from_number: str,
        messaging_service_sid: str,
        status_callback: str,
    ) -> SendResult:
        """Hand one message to the provider and return its SID and first status."""
