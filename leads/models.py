from django.conf import settings
from django.db import models
from django.db.models import Q
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


class LeadSource(models.Model):
    """Where inquiries come from: a web form, a tracking number, a partner."""

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
    last_activity_at = models.DateTimeField(default=timezone.now)

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
        ]
        constraints = [
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
        return f"/api/v1/leads/{self.pk}/"

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
