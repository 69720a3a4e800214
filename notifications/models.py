"""Text messages, the consent ledger, message templates and counselor alerts."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from phonenumber_field.modelfields import PhoneNumberField


class ConsentEvent(models.Model):
    """One change of a phone number's permission to be texted, never edited.

    The current state of a number is its newest event: the ledger is the evidence
    (TCPA: what was shown, when, from where, by which channel) and the history.
    """

    class Kind(models.TextChoices):
        OPT_IN = "opt_in", "Consented"
        OPT_OUT = "opt_out", "Opted out"

    class Source(models.TextChoices):
        WEB_FORM = "web_form", "Web form consent"
        INBOUND_SMS = "inbound_sms", "Texted us first"
        KEYWORD = "keyword", "Keyword reply"
        PLAIN_LANGUAGE = "plain_language", "Asked in their own words"
        TWILIO_OPT_OUT = "twilio_opt_out", "Twilio Advanced Opt-Out"
        TWILIO_ERROR = "twilio_error", "Twilio error 21610"
        COUNSELOR = "counselor", "Recorded by staff"
        IMPORT = "import", "Imported"

    # Indexed with the time in Meta: the newest entry per number is the state.
    phone = PhoneNumberField()
    kind = models.CharField(max_length=8, choices=Kind)
    source = models.CharField(max_length=16, choices=Source)
    at = models.DateTimeField(default=timezone.now)
    lead = models.ForeignKey(
        "leads.Lead",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    # The disclosure shown (web form), the keyword or words received, or a note.
    text = models.TextField(blank=True)
    text_version = models.CharField(max_length=32, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["phone", "-at", "-id"], name="consent_phone_at")
        ]

    def __str__(self) -> str:
        return f"{self.phone} {self.kind} ({self.source})"


class MessageTemplate(models.Model):
    """Editable text of an automated message: placeholders only, no health details."""

    class Key(models.TextChoices):
        WEB_AUTO_REPLY = "web_auto_reply", "Auto-reply to a new web lead"
        MISSED_CALL = "missed_call", "Sorry we missed your call"
        CALLBACK_REMINDER = "callback_reminder", "Call-back reminder"
        OPT_OUT_CONFIRMATION = "opt_out_confirmation", "Opt-out confirmation"
        OPT_IN_CONFIRMATION = "opt_in_confirmation", "Opt-in confirmation"
        HELP = "help", "HELP reply"
        FIRST_MESSAGE_FOOTER = "first_message_footer", "First-message disclosure"
        ALERT_LEAD_ASSIGNED = "alert_lead_assigned", "Alert: new lead assigned"
        ALERT_LEAD_REPLIED = "alert_lead_replied", "Alert: lead replied"
        ALERT_CALLBACK_DUE = "alert_callback_due", "Alert: call-back due"
        ALERT_SLA_BREACH = "alert_sla_breach", "Alert: SLA breach"
        ALERT_LEAD_WAITING = "alert_lead_waiting", "Alert: lead waits in the queue"
        ALERT_REPEAT_INQUIRY = "alert_repeat_inquiry", "Alert: repeat inquiry"
        CADENCE_NO_ANSWER = "cadence_no_answer", "Follow-up text after no answer"
        ALERT_MISSED_CALL = "alert_missed_call", "Alert: missed call"
        ALERT_VOICEMAIL = "alert_voicemail", "Alert: new voicemail"

    key = models.CharField(max_length=32, choices=Key, unique=True)
    body = models.TextField()
    is_active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.get_key_display()


class MessageQuerySet(models.QuerySet):
    def for_lead(self, lead) -> "MessageQuerySet":
        return self.filter(lead=lead).order_by("created_at", "id")


class Message(models.Model):
    """One text, in or out. Outbound rows are the outbox: stored, then sent."""

    class Direction(models.TextChoices):
        OUTBOUND = "outbound", "Sent"
        INBOUND = "inbound", "Received"

    class Kind(models.TextChoices):
        MANUAL = "manual", "Written by a counselor"
        AUTOMATED = "automated", "Automated"
        ALERT = "alert", "Alert to staff"
        REPLY = "reply", "Keyword reply"
        INBOUND = "inbound", "From the lead"

    class Status(models.TextChoices):
        # Ours: the outbox's own states before and around the hand-off.
        PENDING = "pending", "Waiting to send"
        SCHEDULED = "scheduled", "Deferred (quiet hours)"
        SENDING = "sending", "Sending"
        BLOCKED = "blocked", "Not sent"
        UNKNOWN = "unknown", "Outcome unknown"
        REPLIED = "replied", "Sent as webhook reply"
        # Twilio's, from the create answer and status callbacks.
        ACCEPTED = "accepted", "Accepted"
        QUEUED = "queued", "Queued"
        SENT = "sent", "Sent"
        DELIVERED = "delivered", "Delivered"
        UNDELIVERED = "undelivered", "Undelivered"
        FAILED = "failed", "Failed"
        RECEIVED = "received", "Received"

    class BlockedReason(models.TextChoices):
        NO_CONSENT = "no_consent", "No consent to text this number"
        OPTED_OUT = "opted_out", "The number opted out"
        QUIET_HOURS = "quiet_hours", "Outside the lead's quiet hours"
        NO_PHONE = "no_phone", "No mobile number"
        NO_SENDER = "no_sender", "No sending number configured"

    direction = models.CharField(max_length=8, choices=Direction)
    kind = models.CharField(max_length=10, choices=Kind)
    status = models.CharField(max_length=12, choices=Status)
    # Indexed with created_at in Meta (the conversation's order).
    lead = models.ForeignKey(
        "leads.Lead",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="messages",
        db_index=False,
    )
    # Alerts go to a member of staff, not to a lead.
    recipient_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    to = models.CharField(max_length=20)
    from_number = models.CharField(max_length=20, blank=True)
    messaging_service_sid = models.CharField(max_length=34, blank=True)
    body = models.TextField()
    template = models.ForeignKey(
        MessageTemplate,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    twilio_sid = models.CharField(max_length=34, null=True, blank=True, unique=True)
    error_code = models.PositiveIntegerField(null=True, blank=True)
    error_message = models.CharField(max_length=255, blank=True)
    blocked_reason = models.CharField(max_length=16, choices=BlockedReason, blank=True)
    quiet_hours_override = models.BooleanField(default=False)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    scheduled_for = models.DateTimeField(null=True, blank=True)
    # When the outbox may try next: now, or later after a temporary failure.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    sending_started_at = models.DateTimeField(null=True, blank=True)
    handed_off_at = models.DateTimeField(null=True, blank=True)
    # Inbound: when the lead was found or created and its owner told.
    processed_at = models.DateTimeField(null=True, blank=True)
    status_changed_at = models.DateTimeField(default=timezone.now)

    objects = MessageQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["lead", "created_at"], name="message_lead_created"),
            # The sweeper's and the dispatcher's scans touch only unsettled rows.
            models.Index(
                fields=["status", "next_attempt_at"],
                name="message_outbox_due",
                condition=models.Q(status__in=["pending", "scheduled", "sending"]),
            ),
            models.Index(fields=["to", "-created_at"], name="message_to_created"),
        ]
        constraints = [
            models.CheckConstraint(
                name="message_blocked_has_reason",
                condition=~models.Q(status="blocked") | ~models.Q(blocked_reason=""),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_direction_display()} {self.to} ({self.status})"


OUTBOX_STATUSES = frozenset(
    {Message.Status.PENDING, Message.Status.SCHEDULED, Message.Status.SENDING}
)


class AlertPreference(models.Model):
    """How one member of staff wants to hear about one kind of event."""

    class Kind(models.TextChoices):
        LEAD_ASSIGNED = "lead_assigned", "New lead assigned to me"
        LEAD_REPLIED = "lead_replied", "A lead replied"
        CALLBACK_DUE = "callback_due", "A call-back is due"
        SLA_BREACH = "sla_breach", "A lead waits past its SLA"
        MESSAGE_UNKNOWN = "message_unknown", "A text's outcome is unknown"
        LEAD_WAITING = "lead_waiting", "A lead waits with no counselor free"
        REPEAT_INQUIRY = "repeat_inquiry", "A lead of mine reached out again"
        MISSED_CALL = "missed_call", "A call nobody answered, or a voicemail"
        VOB_COMPLETED = "vob_completed", "An insurance verification of mine is done"
        LEAD_CRISIS = "lead_crisis", "A pre-screen reports a safety risk"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    kind = models.CharField(max_length=16, choices=Kind)
    by_sms = models.BooleanField(default=False)
    in_app = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "kind"], name="alertpref_once")
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.kind}"


class Alert(models.Model):
    """An in-app notification for one member of staff."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    kind = models.CharField(max_length=16, choices=AlertPreference.Kind)
    lead = models.ForeignKey(
        "leads.Lead", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    text = models.CharField(max_length=255)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["user", "read_at", "-created_at"], name="alert_inbox")
        ]

    def __str__(self) -> str:
        return f"{self.user}: {self.text}"
