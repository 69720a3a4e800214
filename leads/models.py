from datetime import time

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from phonenumber_field.modelfields import PhoneNumberField

from crm.fields import EncryptedDateField, EncryptedTextField, WebAddressField
from crm.models import Team

from .geo import USState


class Stage(models.TextChoices):
    NEW = "new", "New"
    ATTEMPTING_CONTACT = "attempting_contact", "Attempting contact"
    CONTACTED = "contacted", "Contacted"
    ASSESSMENT = "assessment", "Pre-screen assessment"
    INSURANCE_VERIFICATION = "insurance_verification", "Insurance verification"
    CLINICAL_REVIEW = "clinical_review", "Clinical review"
    ADMISSION_SCHEDULED = "admission_scheduled", "Admission scheduled"
    ADMITTED = "admitted", "Admitted"
    LOST = "lost", "Lost"
    REFERRED_OUT = "referred_out", "Referred out"


OPEN_STAGES: tuple[str, ...] = (
    Stage.NEW,
    Stage.ATTEMPTING_CONTACT,
    Stage.CONTACTED,
    Stage.ASSESSMENT,
    Stage.INSURANCE_VERIFICATION,
    Stage.CLINICAL_REVIEW,
    Stage.ADMISSION_SCHEDULED,
)
CLOSED_STAGES: tuple[str, ...] = (Stage.ADMITTED, Stage.LOST, Stage.REFERRED_OUT)


class LostReason(models.TextChoices):
    UNREACHABLE = "unreachable", "Unreachable / went cold"
    NOT_READY = "not_ready", "Not ready for treatment"
    CHOSE_OTHER_PROVIDER = "chose_other_provider", "Chose another provider"
    NO_USABLE_COVERAGE = "no_usable_coverage", "No usable coverage"
    CLINICAL_MISMATCH = (
        "clinical_mismatch",
        "Clinical mismatch (level of care / acuity)",
    )
    NO_SHOW = "no_show", "No-show for admission"
    DUPLICATE = "duplicate", "Duplicate"
    SPAM = "spam", "Spam / not a real inquiry"


class LevelOfCare(models.TextChoices):
    DETOX = "detox", "Detox (withdrawal management)"
    RESIDENTIAL = "residential", "Residential"
    PHP = "php", "Partial hospitalization (PHP)"
    IOP = "iop", "Intensive outpatient (IOP)"
    OUTPATIENT = "outpatient", "Outpatient"
    AFTERCARE = "aftercare", "Aftercare / sober living"
    UNSURE = "unsure", "Unsure"


class Substance(models.TextChoices):
    ALCOHOL = "alcohol", "Alcohol"
    OPIOIDS = "opioids", "Opioids (heroin, pills)"
    FENTANYL = "fentanyl", "Fentanyl"
    BENZODIAZEPINES = "benzodiazepines", "Benzodiazepines"
    STIMULANTS = "stimulants", "Stimulants (meth, cocaine)"
    CANNABIS = "cannabis", "Cannabis"
    KRATOM = "kratom", "Kratom"
    OTHER = "other", "Other"


class Urgency(models.TextChoices):
    ROUTINE = "routine", "Routine"
    SOON = "soon", "Wants help this week"
    URGENT = "urgent", "Wants help today"
    CRISIS = "crisis", "Crisis (safety risk)"


class YesNoUnknown(models.TextChoices):
    YES = "yes", "Yes"
    NO = "no", "No"
    UNKNOWN = "unknown", "Unknown"


class CallerRelationship(models.TextChoices):
    SELF = "self", "Self"
    LOVED_ONE = "loved_one", "Loved one (relationship not given)"
    PARENT = "parent", "Parent"
    SPOUSE = "spouse", "Spouse / partner"
    CHILD = "child", "Adult child"
    SIBLING = "sibling", "Sibling"
    FRIEND = "friend", "Friend"
    PROFESSIONAL = "professional", "Professional (therapist, case manager)"
    OTHER = "other", "Other"


class Language(models.TextChoices):
    ENGLISH = "en", "English"
    SPANISH = "es", "Spanish"
    OTHER = "other", "Other"


class Priority(models.IntegerChoices):
    LOW = 0, "Low"
    NORMAL = 1, "Normal"
    HIGH = 2, "High"
    URGENT = 3, "Urgent"


class Channel(models.TextChoices):
    WEB_FORM = "web_form", "Web form"
    PHONE = "phone", "Phone call"
    SMS = "sms", "Text message"
    CHAT = "chat", "Chat"
    EMAIL = "email", "E-mail"
    REFERRAL = "referral", "Referral"
    MANUAL = "manual", "Manual entry"
    IMPORT = "import", "Import"


DEFAULT_CONSENT_TEXT = (
    "By checking this box I agree that {brand} may call and text me at the number "
    "above, including by automated means, about my inquiry. Consent is not a "
    "condition of treatment. Msg & data rates may apply. Reply STOP to opt out."
)
DEFAULT_SUCCESS_MESSAGE = (
    "Thank you. An admissions counselor will call you shortly, usually within "
    "minutes during business hours."
)


class LeadSource(models.Model):
    """Where inquiries come from: a web form, a tracking number, a partner.

    A source that posts to the intake API holds a key; only its SHA-256 is stored,
    and `key_prefix` lets staff tell keys apart without seeing them.
    """

    class Kind(models.TextChoices):
        WEB_FORM = "web_form", "Web form"
        PHONE = "phone", "Phone"
        SMS = "sms", "SMS"
        CHAT = "chat", "Chat"
        REFERRAL = "referral", "Referral"
        PARTNER = "partner", "Partner"
        MANUAL = "manual", "Manual entry"
        IMPORT = "import", "Import"

    name = models.CharField(max_length=120, unique=True)
    slug = models.SlugField(max_length=120, unique=True)
    kind = models.CharField(max_length=16, choices=Kind)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    key_hash = models.CharField(
        max_length=64, unique=True, null=True, blank=True, editable=False
    )
    key_prefix = models.CharField(max_length=12, blank=True, editable=False)
    key_rotated_at = models.DateTimeField(null=True, blank=True, editable=False)

    team = models.ForeignKey(
        Team,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="sources",
        help_text="Team that gets this source's leads when no routing rule matches.",
    )
    sla_minutes = models.PositiveSmallIntegerField(
        default=5,
        validators=[MinValueValidator(1), MaxValueValidator(24 * 60)],
        help_text="A new lead must get a first response within this many minutes "
        "during the team's business hours.",
    )
    cadence = models.ForeignKey(
        "leads.Cadence",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="sources",
        help_text="Follow-up attempts after a no-answer; empty uses the default.",
    )
    consent_text = models.TextField(
        default=DEFAULT_CONSENT_TEXT,
        help_text="Shown next to the consent box of the hosted form; {brand} is "
        "replaced by the center's name.",
    )
    consent_text_version = models.CharField(max_length=32, default="2026-11")
    success_message = models.CharField(max_length=300, default=DEFAULT_SUCCESS_MESSAGE)
    gravity_forms_mapping = models.JSONField(
        default=dict,
        blank=True,
        help_text='Gravity Forms field id to lead field, e.g. {"1.3": "first_name", '
        '"1.6": "last_name", "3": "phone", "4": "email", "6": "sms_consent"}.',
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Attribution(models.Model):
    """Marketing attribution of one touch; the lead keeps its first touch's copy."""

    source = models.ForeignKey(
        LeadSource, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    campaign = models.CharField(max_length=200, blank=True)
    tracking_number = PhoneNumberField(blank=True)
    landing_page = WebAddressField(max_length=2000, blank=True)
    referrer = WebAddressField(max_length=2000, blank=True)
    utm_source = models.CharField(max_length=200, blank=True)
    utm_medium = models.CharField(max_length=200, blank=True)
    utm_campaign = models.CharField(max_length=200, blank=True)
    utm_term = models.CharField(max_length=200, blank=True)
    utm_content = models.CharField(max_length=200, blank=True)
    gclid = models.CharField(max_length=255, blank=True)
    gbraid = models.CharField(max_length=255, blank=True)
    wbraid = models.CharField(max_length=255, blank=True)
    fbclid = models.CharField(max_length=255, blank=True)
    msclkid = models.CharField(max_length=255, blank=True)

    class Meta:
        abstract = True


ATTRIBUTION_FIELDS: tuple[str, ...] = (
    "source",
    "campaign",
    "tracking_number",
    "landing_page",
    "referrer",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "gclid",
    "gbraid",
    "wbraid",
    "fbclid",
    "msclkid",
)


class LeadQuerySet(models.QuerySet):
    def open(self) -> "LeadQuerySet":
        return self.filter(stage__in=OPEN_STAGES)

    def visible_to(self, user) -> "LeadQuerySet":
        """Limit to what `user` may see: admins all, others their teams' leads."""
        if not user.is_authenticated or not user.is_active:
            return self.none()
        if user.sees_all_leads:
            return self
        team_ids = (
            Team.objects.filter(Q(members=user) | Q(supervisors=user))
            .values_list("id", flat=True)
            .distinct()
        )
        return self.filter(team_id__in=list(team_ids))


class Lead(Attribution):
    """A person seeking treatment (or someone calling for them), from first touch on.

    The attribution fields inherited from `Attribution` are the first touch; every
    later inquiry is a `Touch`, and `last_touch` points at the newest.
    """

    # The person who may become a patient.
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    phone = PhoneNumberField(blank=True, db_index=True)
    email = models.EmailField(blank=True, db_index=True)
    date_of_birth = EncryptedDateField(null=True, blank=True)
    state = models.CharField(max_length=2, choices=USState, blank=True)
    city = models.CharField(max_length=100, blank=True)
    time_zone = models.CharField(max_length=64, blank=True)
    preferred_language = models.CharField(
        max_length=8, choices=Language, default=Language.ENGLISH
    )

    # Who reached out, when it is not the person themselves.
    caller_relationship = models.CharField(
        max_length=16, choices=CallerRelationship, default=CallerRelationship.SELF
    )
    caller_first_name = models.CharField(max_length=100, blank=True)
    caller_last_name = models.CharField(max_length=100, blank=True)
    caller_phone = PhoneNumberField(blank=True)
    caller_email = models.EmailField(blank=True)
    patient_consents_to_caller = models.CharField(
        max_length=8,
        choices=YesNoUnknown,
        default=YesNoUnknown.UNKNOWN,
        help_text="42 CFR Part 2: may we discuss the patient with this caller?",
    )

    # Clinical intake, as told on first contact.
    substances = models.JSONField(default=list, blank=True)
    level_of_care = models.CharField(
        max_length=16, choices=LevelOfCare, default=LevelOfCare.UNSURE
    )
    co_occurring_mental_health = models.CharField(
        max_length=8, choices=YesNoUnknown, default=YesNoUnknown.UNKNOWN
    )
    urgency = models.CharField(max_length=16, choices=Urgency, default=Urgency.ROUTINE)
    intake_notes = models.TextField(blank=True)

    # Insurance as the caller reads it off the card; verification comes later.
    insurance_payer = models.CharField(max_length=200, blank=True)
    insurance_member_id = EncryptedTextField(blank=True)
    insurance_group_number = models.CharField(max_length=100, blank=True)
    insurance_subscriber_name = models.CharField(max_length=200, blank=True)

    # Work.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="owned_leads",
    )
    team = models.ForeignKey(
        Team,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="leads",
    )
    priority = models.PositiveSmallIntegerField(
        choices=Priority, default=Priority.NORMAL
    )
    stage = models.CharField(max_length=32, choices=Stage, default=Stage.NEW)
    stage_changed_at = models.DateTimeField(default=timezone.now)
    stage_before_close = models.CharField(max_length=32, choices=Stage, blank=True)
    lost_reason = models.CharField(max_length=32, choices=LostReason, blank=True)
    referred_to = models.CharField(max_length=200, blank=True)
    closed_reason_note = models.TextField(blank=True)

    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    first_response_at = models.DateTimeField(null=True, blank=True)
    first_response_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    last_activity_at = models.DateTimeField(default=timezone.now)
    last_inquiry_at = models.DateTimeField(default=timezone.now)
    inquiry_count = models.PositiveIntegerField(default=1)

    # Speed to lead: when the first response is due, and how far the escalation
    # went (supervisor alerted, then handed to the next counselor).
    sla_due_at = models.DateTimeField(null=True, blank=True)
    sla_escalated_at = models.DateTimeField(null=True, blank=True)
    sla_reassigned_at = models.DateTimeField(null=True, blank=True)

    # Follow-up cadence: attempts made after no answer, and when the lead closes
    # as unreachable unless a counselor acts first.
    cadence_attempt = models.PositiveSmallIntegerField(default=0)
    cadence_started_at = models.DateTimeField(null=True, blank=True)
    cadence_close_at = models.DateTimeField(null=True, blank=True)

    first_touch = models.ForeignKey(
        "leads.Touch",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    last_touch = models.ForeignKey(
        "leads.Touch",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    objects = LeadQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["team", "stage", "-created_at", "-id"], name="lead_team_stage"
            ),
            models.Index(
                fields=["stage", "-created_at", "-id"], name="lead_stage_created"
            ),
            models.Index(fields=["owner", "stage"], name="lead_owner_stage"),
            models.Index(fields=["-created_at", "-id"], name="lead_created"),
            models.Index(fields=["source", "-created_at"], name="lead_source_created"),
            # Open leads still waiting for a first response: the SLA sweep and the
            # dashboard's "SLA breaches now" tile. Only open ones: a lead closed
            # unanswered would otherwise stay in it for good.
            models.Index(
                fields=["sla_due_at"],
                condition=Q(
                    first_response_at__isnull=True,
                    sla_due_at__isnull=False,
                    stage__in=OPEN_STAGES,
                ),
                name="lead_sla_waiting",
            ),
            # The dashboard's "waiting unassigned" tile: few rows, open and unowned.
            models.Index(
                fields=["team"],
                condition=Q(owner__isnull=True, stage__in=OPEN_STAGES),
                name="lead_open_unowned",
            ),
            models.Index(
                fields=["cadence_close_at"],
                condition=Q(cadence_close_at__isnull=False),
                name="lead_cadence_closing",
            ),
            models.Index(
                fields=["first_response_by", "created_at"], name="lead_responder"
            ),
        ]
        constraints = [
            # Dedupe, in the database: two posts racing with one number cannot
            # both create an open lead.
            models.UniqueConstraint(
                fields=["phone"],
                condition=Q(stage__in=OPEN_STAGES) & ~Q(phone=""),
                name="lead_one_open_per_phone",
            ),
            models.CheckConstraint(
                condition=~Q(stage="lost") | ~Q(lost_reason=""),
                name="lead_lost_needs_reason",
            ),
            models.CheckConstraint(
                condition=~Q(stage="referred_out") | ~Q(referred_to=""),
                name="lead_referred_out_needs_partner",
            ),
            models.CheckConstraint(
                condition=Q(priority__gte=0) & Q(priority__lte=3),
                name="lead_priority_range",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.display_name}"

    def get_absolute_url(self) -> str:
        return reverse("lead-detail", args=[self.pk])

    @property
    def display_name(self) -> str:
        name = f"{self.first_name} {self.last_name}".strip()
        return name or str(self.phone or self.email or "Unknown caller")

    @property
    def is_open(self) -> bool:
        return self.stage in OPEN_STAGES


class Touch(Attribution):
    """One inquiry on a lead: a form post, a call, a text. The first one created it."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="touches")
    channel = models.CharField(max_length=16, choices=Channel)
    occurred_at = models.DateTimeField(default=timezone.now)
    summary = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [models.Index(fields=["lead", "-occurred_at"], name="touch_lead_at")]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} on lead #{self.lead_id}"


class StageChange(models.Model):
    """One move through the pipeline: from, to, who, when, why."""

    lead = models.ForeignKey(
        Lead, on_delete=models.CASCADE, related_name="stage_changes"
    )
    from_stage = models.CharField(max_length=32, choices=Stage, blank=True)
    to_stage = models.CharField(max_length=32, choices=Stage)
    lost_reason = models.CharField(max_length=32, choices=LostReason, blank=True)
    reason = models.TextField(blank=True)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["at", "id"]
        indexes = [
            models.Index(fields=["lead", "at"], name="stagechange_lead_at"),
            models.Index(fields=["to_stage", "at"], name="stagechange_to_at"),
            # The dashboard's leaderboard reads the moves of a date range (to where,
            # by whom, which lead) from this index alone, never the table.
            models.Index(
                fields=["at", "to_stage", "lead", "by"], name="stagechange_at_cover"
            ),
            # The dashboard's funnel reads only the moves back down the pipeline
            # (FORWARD_AND_BACK's; a test keeps them in step): rare, so tiny.
            models.Index(
                fields=["at"],
                condition=Q(
                    from_stage=Stage.INSURANCE_VERIFICATION, to_stage=Stage.ASSESSMENT
                )
                | Q(
                    from_stage=Stage.CLINICAL_REVIEW,
                    to_stage=Stage.INSURANCE_VERIFICATION,
                )
                | Q(
                    from_stage=Stage.ADMISSION_SCHEDULED,
                    to_stage=Stage.CLINICAL_REVIEW,
                ),
                name="stagechange_backward",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.lead_id}: {self.from_stage or '-'} → {self.to_stage}"


class Activity(models.Model):
    """One line of a lead's timeline. Written only by services."""

    class Kind(models.TextChoices):
        CREATED = "created", "Lead created"
        TOUCH = "touch", "New inquiry"
        STAGE_CHANGE = "stage_change", "Stage changed"
        NOTE = "note", "Note"
        ASSIGNMENT = "assignment", "Assigned"
        UPDATE = "update", "Details changed"
        CALL = "call", "Call"
        SMS = "sms", "Text message"
        CALLBACK = "callback", "Call-back"
        PRESCREEN = "prescreen", "Pre-screen"
        VERIFICATION = "verification", "Insurance verification"
        ADMISSION = "admission", "Admission"
        CONSENT = "consent", "Part 2 consent"
        DISCLOSURE = "disclosure", "Disclosure"

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="activities")
    kind = models.CharField(max_length=16, choices=Kind)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    at = models.DateTimeField(default=timezone.now)
    summary = models.CharField(max_length=500)
    body = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name_plural = "activities"
        indexes = [
            models.Index(fields=["lead", "-at", "-id"], name="activity_lead_at"),
            models.Index(fields=["lead", "kind", "-at"], name="activity_lead_kind"),
        ]

    def __str__(self) -> str:
        return f"#{self.lead_id} {self.kind}: {self.summary}"


class CallDisposition(models.TextChoices):
    REACHED = "reached", "Reached"
    NO_ANSWER = "no_answer", "No answer"
    LEFT_VOICEMAIL = "left_voicemail", "Left voicemail"
    WRONG_NUMBER = "wrong_number", "Wrong number"
    NOT_INTERESTED = "not_interested", "Not interested"
    CALL_BACK_LATER = "call_back_later", "Call back later"


# Outcomes that mean "we tried and did not get through": the cadence goes on.
UNANSWERED_DISPOSITIONS: frozenset[str] = frozenset(
    {CallDisposition.NO_ANSWER, CallDisposition.LEFT_VOICEMAIL}
)


class Cadence(models.Model):
    """The follow-up attempts after a call that nobody answered.

    Attempt 1 is the first follow-up after the first unanswered call; each step
    says when its attempt is due. After `max_attempts` unanswered follow-ups the lead
    closes as unreachable, `close_after_hours` later, unless a counselor acts.
    """

    name = models.CharField(max_length=100, unique=True)
    is_default = models.BooleanField(
        default=False, help_text="Used by sources that name no cadence."
    )
    max_attempts = models.PositiveSmallIntegerField(
        default=6, validators=[MinValueValidator(1), MaxValueValidator(20)]
    )
    close_after_hours = models.PositiveSmallIntegerField(
        default=24,
        help_text="Grace after the last unanswered attempt before the lead closes "
        "as unreachable.",
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"],
                condition=Q(is_default=True),
                name="cadence_one_default",
            )
        ]

    def __str__(self) -> str:
        return self.name


class CadenceStep(models.Model):
    """When one follow-up attempt is due: minutes after the last try, or a day.

    `on_day` counts calendar days in the lead's own time zone from the day of the
    first unanswered call (1 = the next day), at `at_local_time`.
    """

    cadence = models.ForeignKey(Cadence, on_delete=models.CASCADE, related_name="steps")
    attempt = models.PositiveSmallIntegerField(validators=[MinValueValidator(1)])
    after_minutes = models.PositiveIntegerField(null=True, blank=True)
    on_day = models.PositiveSmallIntegerField(null=True, blank=True)
    at_local_time = models.TimeField(default=time(10, 0))
    leave_voicemail = models.BooleanField(default=False)
    send_text = models.BooleanField(
        default=False, help_text="Text the lead at this attempt when they consented."
    )

    class Meta:
        ordering = ["cadence", "attempt"]
        constraints = [
            models.UniqueConstraint(
                fields=["cadence", "attempt"], name="cadencestep_once"
            ),
            models.CheckConstraint(
                condition=Q(after_minutes__isnull=False, on_day__isnull=True)
                | Q(after_minutes__isnull=True, on_day__isnull=False),
                name="cadencestep_minutes_or_day",
            ),
        ]

    def __str__(self) -> str:
        if self.after_minutes is not None:
            return f"Attempt {self.attempt}: +{self.after_minutes} min"
        return f"Attempt {self.attempt}: day {self.on_day} {self.at_local_time:%H:%M}"


class RoutingRule(models.Model):
    """Send matching leads to a team. Rules run by position; the first match wins.

    An empty list matches anything, so a rule with no conditions catches the rest.
    """

    position = models.PositiveIntegerField(default=100)
    name = models.CharField(max_length=120)
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="rules")
    states = models.JSONField(default=list, blank=True)
    levels_of_care = models.JSONField(default=list, blank=True)
    languages = models.JSONField(default=list, blank=True)
    sources = models.ManyToManyField(LeadSource, blank=True, related_name="+")
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return f"{self.position}. {self.name} → {self.team}"


class CallBackQuerySet(models.QuerySet):
    def open(self) -> "CallBackQuerySet":
        return self.filter(status__in=CALLBACK_OPEN_STATUSES)


class CallBack(models.Model):
    """A call someone owes a lead, due at a time: the unit of the counselor's queue."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DUE = "due", "Due"
        DONE = "done", "Done"
        MISSED = "missed", "Missed"
        CANCELLED = "cancelled", "Cancelled"

    class Reason(models.TextChoices):
        NEW_LEAD = "new_lead", "New lead: call now"
        REPEAT_INQUIRY = "repeat_inquiry", "Reached out again"
        SCHEDULED = "scheduled", "Scheduled call-back"
        CADENCE = "cadence", "Follow-up attempt"
        REPLIED = "replied", "Texted back"
        MISSED_CALL = "missed_call", "Missed call"
        SLA_REASSIGNED = "sla_reassigned", "Reassigned: no response in time"

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="callbacks")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="callbacks",
        help_text="Empty: anyone in the lead's team queue.",
    )
    due_at = models.DateTimeField()
    status = models.CharField(max_length=12, choices=Status, default=Status.PENDING)
    reason = models.CharField(max_length=16, choices=Reason)
    attempt = models.PositiveSmallIntegerField(default=0)
    leave_voicemail = models.BooleanField(default=False)
    send_text = models.BooleanField(default=False)
    note = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    outcome = models.CharField(max_length=16, choices=CallDisposition, blank=True)

    objects = CallBackQuerySet.as_manager()

    class Meta:
        ordering = ["due_at", "id"]
        indexes = [
            models.Index(
                fields=["due_at"],
                condition=Q(status="pending"),
                name="callback_pending_due",
            ),
            models.Index(
                fields=["dispatched_at"],
                condition=Q(status="due"),
                name="callback_due_since",
            ),
            models.Index(fields=["owner", "status", "due_at"], name="callback_queue"),
            models.Index(fields=["lead", "status"], name="callback_lead_status"),
        ]

    def __str__(self) -> str:
        return f"{self.get_reason_display()} for lead #{self.lead_id} at {self.due_at}"


CALLBACK_OPEN_STATUSES: tuple[str, ...] = (
    CallBack.Status.PENDING,
    CallBack.Status.DUE,
    CallBack.Status.MISSED,
)


class IntakeReceipt(models.Model):
    """The first answer to an intake post that carried an `Idempotency-Key`.

    A retry with the same key gets the same answer instead of a second inquiry.
    """

    source = models.ForeignKey(LeadSource, on_delete=models.CASCADE, related_name="+")
    idempotency_key = models.CharField(max_length=255)
    request_digest = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    response = models.JSONField(default=dict)
    lead = models.ForeignKey(
        Lead, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["source", "idempotency_key"], name="intakereceipt_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.source} {self.idempotency_key}"


# The second half of the funnel, registered with this app; imported last because
# those models build on the ones above.
from .admissions.models import *  # noqa: E402, F403
