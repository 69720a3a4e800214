"""Pluggable backends chosen by a setting, as Django chooses e-mail backends."""

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.utils.module_loading import import_string


class BackendChoice:
    """The backend a setting names: built once per process, rebuilt when tests
    change that setting or any Twilio setting (a backend reads them once)."""

    def __init__(self, setting: str, backends: dict[str, str]) -> None:
        self.setting = setting
        self.backends = backends
        self._instances: dict[str, object] = {}
        setting_changed.connect(self._forget, weak=False)

    def get(self):
        name = getattr(settings, self.setting)
        if name not in self._instances:
            path = self.backends.get(name, name)
            try:
                backend_class = import_string(path)
            except ImportError as exc:
                raise ImproperlyConfigured(f"Unknown {self.setting} {name!r}") from exc
            self._instances.clear()
            self._instances[name] = backend_class()
        return self._instances[name]

    def _forget(self, *, setting: str, **kwargs) -> None:
        if setting == self.setting or setting.startswith("TWILIO_"):
            self._instances.clear()
