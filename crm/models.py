from datetime import time

from django.contrib.auth.models import AbstractUser, UserManager
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from phonenumber_field.modelfields import PhoneNumberField


class UserQuerySet(models.QuerySet):
    def counselors(self) -> "UserQuerySet":
        return self.filter(role=User.Role.COUNSELOR, is_active=True)


class CrmUserManager(UserManager.from_queryset(UserQuerySet)):
    pass


class User(AbstractUser):
    """A person who signs in: counselor, supervisor or admin."""

    class Role(models.TextChoices):
        COUNSELOR = "counselor", "Admissions counselor"
        SUPERVISOR = "supervisor", "Supervisor"
        # Works the insurance verification queue; sees their teams' leads.
        VERIFIER = "verifier", "Insurance verifier"
        ADMIN = "admin", "Administrator"

    class Presence(models.TextChoices):
        AVAILABLE = "available", "Available"
        BUSY = "busy", "Busy"
        AWAY = "away", "Away"
        OFFLINE = "offline", "Offline"

    role = models.CharField(max_length=16, choices=Role, default=Role.COUNSELOR)
    phone = PhoneNumberField(
        blank=True, help_text="Counselor's own phone, for alerts and bridged calls."
    )
    presence = models.CharField(
        max_length=16, choices=Presence, default=Presence.OFFLINE
    )
    presence_changed_at = models.DateTimeField(default=timezone.now)
    max_open_leads = models.PositiveIntegerField(
        default=40, help_text="Capacity: routing stops at this many open leads."
    )
    # Round-robin turn: the available counselor routed to longest ago goes next.
    last_routed_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = CrmUserManager()

    class Meta:
        ordering = ["username"]
        constraints = [
            models.CheckConstraint(
                condition=Q(role__in=["counselor", "supervisor", "verifier", "admin"]),
                name="user_role_valid",
            ),
            models.CheckConstraint(
                condition=Q(presence__in=["available", "busy", "away", "offline"]),
                name="user_presence_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.get_full_name() or self.username

    @property
    def sees_all_leads(self) -> bool:
        return self.is_superuser or self.role == self.Role.ADMIN

    @property
    def is_supervisor(self) -> bool:
        return self.role == self.Role.SUPERVISOR or self.sees_all_leads


def all_week() -> list[int]:
    return [0, 1, 2, 3, 4, 5, 6]


def validate_weekdays(value: object) -> None:
    if not isinstance(value, list) or not all(
        isinstance(day, int) and not isinstance(day, bool) and 0 <= day <= 6
        for day in value
    ):
        raise ValidationError(
            "Write a list of weekday numbers, Monday = 0 … Sunday = 6, e.g. "
            "[0, 1, 2, 3, 4]."
        )


class Team(models.Model):
    """A group of counselors working one queue, led by one or more supervisors."""

    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)
    members = models.ManyToManyField(User, related_name="teams", blank=True)
    supervisors = models.ManyToManyField(
        User, related_name="supervised_teams", blank=True
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    # Business hours decide which SLA a new lead gets: the source's during them,
    # `after_hours_sla_minutes` outside.
    time_zone = models.CharField(max_length=64, default="America/New_York")
    business_hours_start = models.TimeField(default=time(8, 0))
    business_hours_end = models.TimeField(default=time(20, 0))
    business_days = models.JSONField(
        default=all_week,
        validators=[validate_weekdays],
        help_text="Weekdays open, Monday = 0 … Sunday = 6.",
    )
    after_hours_sla_minutes = models.PositiveSmallIntegerField(
        default=30, validators=[MinValueValidator(1), MaxValueValidator(24 * 60)]
    )

    class RingStrategy(models.TextChoices):
        SEQUENTIAL = "sequential", "One counselor at a time"
        SIMULTANEOUS = "simultaneous", "All available counselors at once"

    ring_strategy = models.CharField(
        max_length=12, choices=RingStrategy, default=RingStrategy.SEQUENTIAL
    )
    ring_timeout_seconds = models.PositiveSmallIntegerField(
        default=20,
        validators=[MinValueValidator(5), MaxValueValidator(60)],
        help_text="How long each counselor's phone rings before the next one.",
    )
    sla_reassign_after_minutes = models.PositiveSmallIntegerField(
        default=5,
        validators=[MinValueValidator(1), MaxValueValidator(24 * 60)],
        help_text="After the SLA is missed and the supervisor alerted, the lead goes "
        "to the next available counselor this many minutes later.",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class AuditEvent(models.Model):
    """One append-only line of who viewed, changed or exported which record.

    Rows are never updated or deleted (HIPAA §164.312(b); kept six years). Values of
    changed fields are not copied here, only their names, so the trail itself does
    not spread health information.
    """

    class Action(models.TextChoices):
        VIEW = "view", "Viewed"
        LIST = "list", "Listed"
        CREATE = "create", "Created"
        UPDATE = "update", "Changed"
        EXPORT = "export", "Exported"
        DELETE = "delete", "Deleted"

    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_username = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=16, choices=Action)
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64)
    lead_id = models.BigIntegerField(null=True, blank=True)
    fields = models.JSONField(default=list, blank=True)
    detail = models.CharField(max_length=255, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=255, blank=True)
    channel = models.CharField(max_length=16, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["lead_id", "-at"], name="audit_lead_at"),
            models.Index(fields=["actor", "-at"], name="audit_actor_at"),
        ]

    def __str__(self) -> str:
        who = self.actor_username or "system"
        return f"{who} {self.action} {self.object_type} #{self.object_id}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise PermissionError("audit events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("audit events are append-only")
