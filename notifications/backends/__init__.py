"""SMS backends, chosen by settings.SMS_BACKEND as Django chooses e-mail backends."""

from crm.backends import BackendChoice

from .base import SmsBackend

BACKENDS = {
    "twilio": "notifications.backends.twilio.TwilioBackend",
    "console": "notifications.backends.console.ConsoleBackend",
    "locmem": "notifications.backends.locmem.LocmemBackend",
}

_choice = BackendChoice("SMS_BACKEND", BACKENDS)


def get_backend() -> SmsBackend:
    """Return the configured backend; one instance per process keeps its connections."""
    return _choice.get()
