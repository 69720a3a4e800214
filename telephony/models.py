"""Tracking numbers, the call log and the do-not-call list."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from phonenumber_field.modelfields import PhoneNumberField

from crm.fields import WebAddressField


class TrackingNumber(models.Model):
    """A number printed on a treatment page or an ad: who called it, from where."""

    number = PhoneNumberField(unique=True)
    name = models.CharField(max_length=120)
    source = models.ForeignKey(
        "leads.LeadSource",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="tracking_numbers",
    )
    campaign = models.CharField(max_length=200, blank=True)
    landing_page = WebAddressField(max_length=2000, blank=True)
    team = models.ForeignKey(
        "crm.Team",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="tracking_numbers",
        help_text="Team whose counselors are rung; empty: the routing rules decide.",
    )
    greeting = models.CharField(
        max_length=300,
        blank=True,
        help_text="Said first, e.g. “Thank you for calling Harbor Recovery.”",
    )
    record_calls = models.BooleanField(default=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.number})"


class Call(models.Model):
    """One phone call, in or out, as Twilio reported it; written only by services."""

    class Direction(models.TextChoices):
        INBOUND = "inbound", "Inbound"
        OUTBOUND = "outbound", "Outbound (click-to-call)"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        INITIATED = "initiated", "Initiated"
        RINGING = "ringing", "Ringing"
        IN_PROGRESS = "in-progress", "In progress"
        COMPLETED = "completed", "Completed"
        BUSY = "busy", "Busy"
        NO_ANSWER = "no-answer", "No answer"
        FAILED = "failed", "Failed"
        CANCELED = "canceled", "Canceled"
        BLOCKED = "blocked", "Not placed"

    sid = models.CharField(max_length=34, null=True, blank=True, unique=True)
    direction = models.CharField(max_length=8, choices=Direction)
    status = models.CharField(max_length=12, choices=Status, default=Status.RINGING)
    from_number = models.CharField(max_length=40, blank=True)
    to_number = models.CharField(max_length=40, blank=True)
    lead = models.ForeignKey(
        "leads.Lead",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="calls",
    )
    counselor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="calls",
        help_text="Who answered (inbound) or placed (outbound) the call.",
    )
    tracking_number = models.ForeignKey(
        TrackingNumber,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="calls",
    )
    caller_city = models.CharField(max_length=100, blank=True)
    caller_state = models.CharField(max_length=40, blank=True)

    # Ringing: the counselors to ring, in order, and how far we got.
    ring_list = models.JSONField(default=list, blank=True)
    ring_index = models.PositiveSmallIntegerField(default=0)
    dial_status = models.CharField(max_length=16, blank=True)

    started_at = models.DateTimeField(default=timezone.now)
    answered_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    duration_seconds = models.PositiveIntegerField(null=True, blank=True)
    talk_seconds = models.PositiveIntegerField(null=True, blank=True)
    answered_by = models.CharField(max_length=24, blank=True)

    recording_sid = models.CharField(max_length=34, blank=True)
    recording_url = models.URLField(max_length=500, blank=True)
    recording_duration = models.PositiveIntegerField(null=True, blank=True)
    is_voicemail = models.BooleanField(default=False)
    transcription = models.TextField(blank=True)

    missed_at = models.DateTimeField(null=True, blank=True)
    quiet_hours_override = models.BooleanField(default=False)
    disposition = models.CharField(max_length=16, blank=True)
    disposition_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    disposition_at = models.DateTimeField(null=True, blank=True)
    error_message = models.CharField(max_length=255, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [
            models.Index(fields=["lead", "-started_at"], name="call_lead_at"),
            models.Index(fields=["counselor", "-started_at"], name="call_counselor_at"),
            models.Index(fields=["status", "-started_at"], name="call_status_at"),
            # The dashboard: calls of a date range per counselor with their talk
            # time, read from the index alone; and today's missed calls (partial:
            # most calls are never missed).
            models.Index(
                fields=["started_at", "counselor", "talk_seconds"],
                name="call_started_talk",
            ),
            models.Index(
                fields=["missed_at"],
                condition=Q(missed_at__isnull=False),
                name="call_missed_at",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_direction_display()} call {self.sid or self.pk}"

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_STATUSES


LIVE_STATUSES = frozenset(
    {
        Call.Status.QUEUED,
        Call.Status.INITIATED,
        Call.Status.RINGING,
        Call.Status.IN_PROGRESS,
    }
)


class DoNotCall(models.Model):
    """A number that asked not to be called (internal do-not-call list)."""

    phone = PhoneNumberField(unique=True)
    reason = models.CharField(max_length=300, blank=True)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    added_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "do-not-call number"

    def __str__(self) -> str:
        return str(self.phone)
