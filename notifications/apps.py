from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    """SMS and counselor alerts: outbox, Twilio Messaging, consent and opt-out."""

    name = "notifications"
    verbose_name = "Notifications"
