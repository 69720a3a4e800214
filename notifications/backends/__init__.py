"""SMS backends, chosen by settings.SMS_BACKEND as Django chooses e-mail backends."""

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

from .base import SmsBackend

BACKENDS = {
    "twilio": "notifications.backends.twilio.TwilioBackend",
    "console": "notifications.backends.console.ConsoleBackend",
    "locmem": "notifications.backends.locmem.LocmemBackend",
}

_cache: dict[str, SmsBackend] = {}


def get_backend() -> SmsBackend:
    """Return the configured backend; one instance per process keeps its connections."""
    name = settings.SMS_BACKEND
    if name not in _cache:
        path = BACKENDS.get(name, name)
        try:
            backend_class = import_string(path)
        except ImportError as exc:
            raise ImproperlyConfigured(f"Unknown SMS_BACKEND {name!r}") from exc
        _cache.clear()
        _cache[name] = backend_class()
    return _cache[name]


@receiver(setting_changed)
def _forget_backend(*, setting: str, **kwargs) -> None:
    """A backend reads its settings once; rebuild it when tests change them."""
    if setting == "SMS_BACKEND" or setting.startswith("TWILIO_"):
        _cache.clear()
