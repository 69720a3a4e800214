from django.apps import AppConfig


class TelephonyConfig(AppConfig):
    """Twilio Voice: tracking numbers, inbound calls, call log, click-to-call."""

    name = "telephony"
    verbose_name = "Telephony"
