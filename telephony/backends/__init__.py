"""Voice backends, chosen by settings.VOICE_BACKEND as for SMS."""

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

from .base import VoiceBackend, VoiceError

__all__ = ["VoiceBackend", "VoiceError", "get_backend"]

BACKENDS = {
    "twilio": "telephony.backends.twilio.TwilioVoiceBackend",
    "console": "telephony.backends.console.ConsoleVoiceBackend",
    "locmem": "telephony.backends.locmem.LocmemVoiceBackend",
}

_cache: dict[str, VoiceBackend] = {}


def get_backend() -> VoiceBackend:
    """Return the configured backend; one instance per process."""
    name = settings.VOICE_BACKEND
    if name not in _cache:
        path = BACKENDS.get(name, name)
        try:
            backend_class = import_string(path)
        except ImportError as exc:
            raise ImproperlyConfigured(f"Unknown VOICE_BACKEND {name!r}") from exc
        _cache.clear()
        _cache[name] = backend_class()
    return _cache[name]


@receiver(setting_changed)
def _forget_backend(*, setting: str, **kwargs) -> None:
    if setting == "VOICE_BACKEND" or setting.startswith("TWILIO_"):
        _cache.clear()
