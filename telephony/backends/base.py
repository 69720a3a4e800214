"""What a voice backend does: place a call that Twilio drives with our TwiML."""

from abc import ABC, abstractmethod


class VoiceError(Exception):
    """The call could not be placed; the message says why (no phone numbers).

    `code` is the provider's error code when it refused the call, else None.
    """

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class VoiceBackend(ABC):
    @abstractmethod
    def create_call(
        self, *, to: str, from_: str, url: str, status_callback: str
    ) -> str:
        """Ring `to` from `from_`; when answered, Twilio fetches `url`. Return the
        call's SID."""
