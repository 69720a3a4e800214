"""Voice backends, chosen by settings.VOICE_BACKEND as for SMS."""

from crm.backends import BackendChoice

from .base import VoiceBackend, VoiceError

__all__ = ["VoiceBackend", "VoiceError", "get_backend"]

BACKENDS = {
    "twilio": "telephony.backends.twilio.TwilioVoiceBackend",
    "console": "telephony.backends.console.ConsoleVoiceBackend",
    "locmem": "telephony.backends.locmem.LocmemVoiceBackend",
}

_choice = BackendChoice("VOICE_BACKEND", BACKENDS)


def get_backend() -> VoiceBackend:
    """Return the configured backend; one instance per process."""
    return _choice.get()
