from django.apps import AppConfig
from django.db.models.signals import post_migrate


class NotificationsConfig(AppConfig):
    """SMS and counselor alerts: outbox, Twilio Messaging, consent and opt-out."""

    name = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        # After every migrate (and every flush between tests), the texts the code
        # relies on exist; edits made in the admin are kept.
        post_migrate.connect(_ensure_templates, sender=self)


def _ensure_templates(**kwargs) -> None:
    from .services import templates_ensure_defaults

    templates_ensure_defaults(using=kwargs.get("using", "default"))
