"""Pre-screens, verifications of benefits, programs, admissions and Part 2 consents.

Nothing here pays or records anything per referral or per admission: paying for
patient referrals is a crime (EKRA, 18 U.S.C. §220; Florida §817.505), so there is
no field a commission could live in.
"""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from crm.fields import EncryptedDateField, EncryptedTextField

from ..geo import USState
from ..models import YesNoUnknown

__all__ = [
    "CoveredLevel",
    "AsamLevel",
    "ASAM_TO_COVERED_LEVEL",
    "PreScreen",
    "Payer",
    "PlanType",
    "SubscriberRelationship",
    "InsuranceVerification",
    "LevelOfCareBenefit",
    "VerificationEvent",
    "InsuranceCardImage",
    "Authorization",
    "Program",
    "PartnerFacility",
    "Admission",
    "Part2Consent",
    "Disclosure",
    "Referral",
]

ASAM_SCORE = [MinValueValidator(0), MaxValueValidator(4)]


class CoveredLevel(models.TextChoices):
    """Levels of care a verification, a program or an admission speaks of."""

    DETOX = "detox", "Detox (withdrawal management)"
    RESIDENTIAL = "residential", "Residential"
    PHP = "php", "Partial hospitalization (PHP)"
    IOP = "iop", "Intensive outpatient (IOP)"
    OUTPATIENT = "outpatient", "Outpatient"


class AsamLevel(models.TextChoices):
    """ASAM Criteria levels of care, with withdrawal management apart."""

    WITHDRAWAL_MANAGEMENT = "wm", "Withdrawal management (detox)"
    LEVEL_0_5 = "0.5", "0.5 Early intervention"
    LEVEL_1 = "1", "1 Outpatient (under 9 h/week)"
    LEVEL_2_1 = "2.1", "2.1 Intensive outpatient (9–19 h/week)"
    LEVEL_2_5 = "2.5", "2.5 Partial hospitalization (20+ h/week)"
    LEVEL_3_1 = "3.1", "3.1 Clinically managed low-intensity residential"
    LEVEL_3_3 = "3.3", "3.3 Clinically managed population-specific residential"
    LEVEL_3_5 = "3.5", "3.5 Clinically managed high-intensity residential"
    LEVEL_3_7 = "3.7", "3.7 Medically monitored intensive inpatient"
    LEVEL_4 = "4", "4 Medically managed intensive inpatient"


# The coarse level of care (a lead's, a program's) each ASAM level falls under.
ASAM_TO_COVERED_LEVEL: dict[str, str] = {
    AsamLevel.WITHDRAWAL_MANAGEMENT: CoveredLevel.DETOX,
    AsamLevel.LEVEL_0_5: CoveredLevel.OUTPATIENT,
    AsamLevel.LEVEL_1: CoveredLevel.OUTPATIENT,
    AsamLevel.LEVEL_2_1: CoveredLevel.IOP,
    AsamLevel.LEVEL_2_5: CoveredLevel.PHP,
    AsamLevel.LEVEL_3_1: CoveredLevel.RESIDENTIAL,
    AsamLevel.LEVEL_3_3: CoveredLevel.RESIDENTIAL,
    AsamLevel.LEVEL_3_5: CoveredLevel.RESIDENTIAL,
    AsamLevel.LEVEL_3_7: CoveredLevel.RESIDENTIAL,
    AsamLevel.LEVEL_4: CoveredLevel.DETOX,
}


# --- Pre-screen ----------------------------------------------------------------------


class PreScreen(models.Model):
    """One saved version of a lead's structured pre-screen, filled in on the call.

    Never edited: every save is a new version with who and when, and the lead's
    current pre-screen is its highest version.
    """

    class PatientIs(models.TextChoices):
        CALLER = "caller", "The caller"
        LOVED_ONE = "loved_one", "Someone the caller is calling for"

    class Route(models.TextChoices):
        ORAL = "oral", "Oral"
        SMOKED = "smoked", "Smoked"
        SNORTED = "snorted", "Snorted"
        INJECTED = "injected", "Injected"
        OTHER = "other", "Other"

    class WithdrawalRisk(models.TextChoices):
        NONE = "none", "None expected"
        MILD = "mild", "Mild"
        MODERATE = "moderate", "Moderate"
        SEVERE = "severe", "Severe (seizures, DTs history)"
        UNKNOWN = "unknown", "Unknown"

    class Readiness(models.TextChoices):
        PRECONTEMPLATION = "precontemplation", "Not considering change"
        CONTEMPLATION = "contemplation", "Thinking about it"
        PREPARATION = "preparation", "Preparing: wants help soon"
        ACTION = "action", "Ready now"

    lead = models.ForeignKey(
        "leads.Lead", on_delete=models.CASCADE, related_name="prescreens"
    )
    version = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )

    # Who the patient is.
    patient_is = models.CharField(
        max_length=16, choices=PatientIs, default=PatientIs.CALLER
    )
    patient_name = models.CharField(max_length=200, blank=True)
    patient_age = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(120)]
    )
    patient_gender = models.CharField(max_length=40, blank=True)

    # Use: [{"substance": "alcohol", "route": "oral", "frequency": "daily",
    # "amount": "a fifth", "last_use": "2026-11-27"}], most important first.
    substances = models.JSONField(default=list, blank=True)
    last_use_on = models.DateField(null=True, blank=True)
    withdrawal_risk = models.CharField(
        max_length=16, choices=WithdrawalRisk, default=WithdrawalRisk.UNKNOWN
    )
    detox_needed = models.CharField(
        max_length=8, choices=YesNoUnknown, default=YesNoUnknown.UNKNOWN
    )
    withdrawal_history = models.TextField(blank=True)

    co_occurring_mental_health = models.CharField(
        max_length=8, choices=YesNoUnknown, default=YesNoUnknown.UNKNOWN
    )
    mental_health_notes = models.TextField(blank=True)
    medications = models.TextField(blank=True)

    # Safety screen: a yes makes the lead urgent and shows the crisis script.
    suicidal_thoughts = models.CharField(
        max_length=8, choices=YesNoUnknown, default=YesNoUnknown.UNKNOWN
    )
    overdose_last_30_days = models.CharField(
        max_length=8, choices=YesNoUnknown, default=YesNoUnknown.UNKNOWN
    )
    safety_notes = models.TextField(blank=True)

    legal_issues = models.CharField(
        max_length=8, choices=YesNoUnknown, default=YesNoUnknown.UNKNOWN
    )
    legal_notes = models.TextField(blank=True)

    # ASAM Criteria dimensions, each rated 0 (none) to 4 (severe).
    asam_intoxication_withdrawal = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=ASAM_SCORE
    )
    asam_biomedical = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=ASAM_SCORE
    )
    asam_emotional_behavioral = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=ASAM_SCORE
    )
    asam_readiness_to_change = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=ASAM_SCORE
    )
    asam_relapse_potential = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=ASAM_SCORE
    )
    asam_recovery_environment = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=ASAM_SCORE
    )
    level_of_care_indicated = models.CharField(
        max_length=8, choices=AsamLevel, blank=True
    )
    readiness = models.CharField(max_length=20, choices=Readiness, blank=True)
    notes = models.TextField(blank=True)

    class Meta:
        ordering = ["lead", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["lead", "version"], name="prescreen_one_per_version"
            ),
            *(
                models.CheckConstraint(
                    condition=Q(**{f"{name}__isnull": True}) | Q(**{f"{name}__lte": 4}),
                    name=f"prescreen_{name}_0_4",
                )
                for name in (
                    "asam_intoxication_withdrawal",
                    "asam_biomedical",
                    "asam_emotional_behavioral",
                    "asam_readiness_to_change",
                    "asam_relapse_potential",
                    "asam_recovery_environment",
                )
            ),
        ]

    def __str__(self) -> str:
        return f"Pre-screen v{self.version} of lead #{self.lead_id}"

    @property
    def safety_flagged(self) -> bool:
        return YesNoUnknown.YES in (self.suicidal_thoughts, self.overdose_last_30_days)


# --- Payers and verification of benefits --------------------------------------------


class Payer(models.Model):
    """An insurer from the maintained payer list (admins keep it current)."""

    name = models.CharField(max_length=200, unique=True)
    # The id clearinghouses route a 270 by; empty when the payer takes no EDI.
    electronic_payer_id = models.CharField(max_length=20, blank=True)
    provider_services_phone = models.CharField(max_length=40, blank=True)
    behavioral_health_vendor = models.CharField(
        max_length=200,
        blank=True,
        help_text="Carve-out / utilization-review company that manages SUD benefits.",
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class PlanType(models.TextChoices):
    PPO = "ppo", "PPO"
    HMO = "hmo", "HMO"
    EPO = "epo", "EPO"
    POS = "pos", "POS"
    HDHP = "hdhp", "High-deductible (HDHP)"
    MEDICAID = "medicaid", "Medicaid / managed Medicaid"
    MEDICARE = "medicare", "Medicare"
    MEDICARE_ADVANTAGE = "medicare_advantage", "Medicare Advantage"
    TRICARE = "tricare", "TRICARE"
    OTHER = "other", "Other"
    UNKNOWN = "unknown", "Unknown"


class SubscriberRelationship(models.TextChoices):
    SELF = "self", "Self"
    SPOUSE = "spouse", "Spouse"
    CHILD = "child", "Child"
    OTHER = "other", "Other dependent"


class VerificationQuerySet(models.QuerySet):
    def waiting(self) -> "VerificationQuerySet":
        return self.filter(status__in=InsuranceVerification.WAITING_STATUSES)


class InsuranceVerification(models.Model):
    """One verification of benefits (VOB) of a lead's coverage.

    A lead may have many (a new card, a re-check before admission); the newest
    one requested is current. Status moves requested → in progress → verified /
    denied / unable to verify, each step kept with who and when in
    `VerificationEvent`.
    """

    class Status(models.TextChoices):
        REQUESTED = "requested", "Requested"
        IN_PROGRESS = "in_progress", "In progress"
        VERIFIED = "verified", "Verified"
        DENIED = "denied", "Denied (no coverage)"
        UNABLE = "unable", "Unable to verify"

    class Method(models.TextChoices):
        PORTAL = "portal", "Payer portal"
        PHONE = "phone", "Phone call to the payer"
        ELECTRONIC = "electronic", "Electronic eligibility (270/271)"

    class Network(models.TextChoices):
        IN_NETWORK = "in", "In network"
        OUT_OF_NETWORK = "out", "Out of network"
        UNKNOWN = "unknown", "Unknown"

    WAITING_STATUSES = (Status.REQUESTED, Status.IN_PROGRESS)
    DONE_STATUSES = (Status.VERIFIED, Status.DENIED, Status.UNABLE)

    lead = models.ForeignKey(
        "leads.Lead", on_delete=models.CASCADE, related_name="verifications"
    )
    is_current = models.BooleanField(default=True)
    status = models.CharField(max_length=16, choices=Status, default=Status.REQUESTED)

    requested_at = models.DateTimeField(default=timezone.now)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    request_note = models.TextField(blank=True)
    verifier = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="verifications_worked",
    )
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )

    # The coverage, as on the card.
    payer = models.ForeignKey(
        Payer, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    payer_name = models.CharField(
        max_length=200, blank=True, help_text="When the payer is not on the list."
    )
    plan_type = models.CharField(
        max_length=20, choices=PlanType, default=PlanType.UNKNOWN
    )
    member_id = EncryptedTextField(blank=True)
    group_number = models.CharField(max_length=60, blank=True)
    subscriber_name = models.CharField(max_length=200, blank=True)
    subscriber_date_of_birth = EncryptedDateField(null=True, blank=True)
    subscriber_relationship = models.CharField(
        max_length=8,
        choices=SubscriberRelationship,
        default=SubscriberRelationship.SELF,
    )
    patient_date_of_birth = EncryptedDateField(null=True, blank=True)
    secondary_payer_name = models.CharField(max_length=200, blank=True)
    secondary_member_id = EncryptedTextField(blank=True)
    policy_effective_on = models.DateField(null=True, blank=True)
    policy_terminates_on = models.DateField(null=True, blank=True)

    # How it was verified.
    method = models.CharField(max_length=12, choices=Method, blank=True)
    payer_rep_name = models.CharField(max_length=100, blank=True)
    call_reference = models.CharField(max_length=60, blank=True)
    eligibility_trace = models.CharField(
        max_length=60, blank=True, help_text="TRN of the 270 sent for this check."
    )

    # The result.
    coverage_active = models.CharField(
        max_length=8, choices=YesNoUnknown, default=YesNoUnknown.UNKNOWN
    )
    network_status = models.CharField(
        max_length=8, choices=Network, default=Network.UNKNOWN
    )
    deductible_individual_in_network = models.DecimalField(
        max_digits=10, decimal_places=2, null=True, blank=True
    )
    deductible_individual_in_network_remaining = models.DecimalField(
        max_digits=10, decimal_places=2, null=True, blank=True
    )
    deductible_family_in_network = models.DecimalField(
        max_digits=10, decimal_places=2, null=True, blank=True
    )
    deductible_family_in_network_remaining = models.DecimalField(
        max_digits=10, decimal_places=2, null=True, blank=True
    )
    deductible_individual_out_of_network = models.DecimalField(
        max_digits=10, decimal_places=2, null=True, blank=True
    )
    deductible_individual_out_of_network_remaining = models.DecimalField(
        max_digits=10, decimal_places=2, null=True, blank=True
    )
    deductible_family_out_of_network = models.DecimalField(
        max_digits=10, decimal_places=2, null=True, blank=True
    )
    deductible_family_out_of_network_remaining = models.DecimalField(
        max_digits=10, decimal_places=2, null=True, blank=True
    )
    oop_max_individual_in_network = models.DecimalField(
        max_digits=10, decimal_places=2, null=True, blank=True
    )
    oop_max_individual_in_network_remaining = models.DecimalField(
        max_digits=10, decimal_places=2, null=True, blank=True
    )
    oop_max_family_in_network = models.DecimalField(
        max_digits=10, decimal_places=2, null=True, blank=True
    )
    oop_max_family_in_network_remaining = models.DecimalField(
        max_digits=10, decimal_places=2, null=True, blank=True
    )
    oop_max_individual_out_of_network = models.DecimalField(
        max_digits=10, decimal_places=2, null=True, blank=True
    )
    oop_max_individual_out_of_network_remaining = models.DecimalField(
        max_digits=10, decimal_places=2, null=True, blank=True
    )
    oop_max_family_out_of_network = models.DecimalField(
        max_digits=10, decimal_places=2, null=True, blank=True
    )
    oop_max_family_out_of_network_remaining = models.DecimalField(
        max_digits=10, decimal_places=2, null=True, blank=True
    )
    coinsurance_in_network_percent = models.DecimalField(
        max_digits=5, decimal_places=2, null=True, blank=True
    )
    coinsurance_out_of_network_percent = models.DecimalField(
        max_digits=5, decimal_places=2, null=True, blank=True
    )
    copay_in_network = models.DecimalField(
        max_digits=10, decimal_places=2, null=True, blank=True
    )
    copay_out_of_network = models.DecimalField(
        max_digits=10, decimal_places=2, null=True, blank=True
    )
    behavioral_health_carve_out = models.CharField(max_length=200, blank=True)
    utilization_review_contact = models.CharField(max_length=200, blank=True)
    # Every payer says so and counselors must repeat it: quoted benefits are
    # not a promise to pay.
    not_a_guarantee = models.BooleanField(default=True)
    result_notes = models.TextField(blank=True)
    # The 271 the result was read from, kept encrypted: it carries the member's
    # name, id and date of birth.
    eligibility_response = EncryptedTextField(blank=True)

    objects = VerificationQuerySet.as_manager()

    class Meta:
        ordering = ["-requested_at", "-id"]
        indexes = [
            # The verifiers' queue: waiting ones, oldest request first.
            models.Index(
                fields=["requested_at", "id"],
                condition=Q(status__in=["requested", "in_progress"]),
                name="vob_waiting",
            ),
            models.Index(fields=["lead", "-requested_at"], name="vob_lead"),
            # The dashboard's turnaround: completed ones by when they completed.
            models.Index(
                fields=["completed_at"],
                condition=Q(completed_at__isnull=False),
                name="vob_completed",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["lead"], condition=Q(is_current=True), name="vob_one_current"
            ),
            models.CheckConstraint(
                condition=Q(
                    status__in=[
                        "requested",
                        "in_progress",
                        "verified",
                        "denied",
                        "unable",
                    ]
                ),
                name="vob_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["requested", "in_progress"])
                | Q(completed_at__isnull=False),
                name="vob_done_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"VOB #{self.pk} of lead #{self.lead_id} ({self.get_status_display()})"

    @property
    def payer_display(self) -> str:
        return (
            self.payer.name if self.payer_id else (self.payer_name or "Unknown payer")
        )

    @property
    def is_waiting(self) -> bool:
        return self.status in self.WAITING_STATUSES


class LevelOfCareBenefit(models.Model):
    """What a verification found for one level of care."""

    verification = models.ForeignKey(
        InsuranceVerification, on_delete=models.CASCADE, related_name="benefits"
    )
    level_of_care = models.CharField(max_length=16, choices=CoveredLevel)
    covered = models.CharField(
        max_length=8, choices=YesNoUnknown, default=YesNoUnknown.UNKNOWN
    )
    prior_auth_required = models.CharField(
        max_length=8, choices=YesNoUnknown, default=YesNoUnknown.UNKNOWN
    )
    in_network = models.CharField(
        max_length=8, choices=YesNoUnknown, default=YesNoUnknown.UNKNOWN
    )
    day_limit = models.PositiveIntegerField(null=True, blank=True)
    visit_limit = models.PositiveIntegerField(null=True, blank=True)
    coinsurance_percent = models.DecimalField(
        max_digits=5, decimal_places=2, null=True, blank=True
    )
    copay = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    notes = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["verification", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["verification", "level_of_care"], name="benefit_once_per_level"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_level_of_care_display()}: {self.get_covered_display()}"


class VerificationEvent(models.Model):
    """One step of a verification: who moved it to which status, and when."""

    verification = models.ForeignKey(
        InsuranceVerification, on_delete=models.CASCADE, related_name="events"
    )
    status = models.CharField(max_length=16, choices=InsuranceVerification.Status)
    at = models.DateTimeField(default=timezone.now)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.get_status_display()} at {self.at:%Y-%m-%d %H:%M}"


class InsuranceCardImage(models.Model):
    """A photo of an insurance card side, encrypted at rest like the member id."""

    class Side(models.TextChoices):
        FRONT = "front", "Front"
        BACK = "back", "Back"

    verification = models.ForeignKey(
        InsuranceVerification, on_delete=models.CASCADE, related_name="card_images"
    )
    side = models.CharField(max_length=8, choices=Side)
    content_type = models.CharField(max_length=40)
    # Fernet ciphertext of the image bytes (see crm.fields).
    encrypted_image = models.BinaryField()
    size = models.PositiveIntegerField()
    uploaded_at = models.DateTimeField(default=timezone.now)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["verification", "side", "-uploaded_at"]

    def __str__(self) -> str:
        return f"{self.get_side_display()} of the card on VOB #{self.verification_id}"


class Authorization(models.Model):
    """A payer's authorization for a level of care: its own record, reviewed on."""

    class UnitType(models.TextChoices):
        DAYS = "days", "Days"
        VISITS = "visits", "Visits"
        UNITS = "units", "Units"

    lead = models.ForeignKey(
        "leads.Lead", on_delete=models.CASCADE, related_name="authorizations"
    )
    verification = models.ForeignKey(
        InsuranceVerification,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="authorizations",
    )
    auth_number = models.CharField(max_length=60)
    level_of_care = models.CharField(max_length=16, choices=CoveredLevel)
    starts_on = models.DateField()
    ends_on = models.DateField(null=True, blank=True)
    units_authorized = models.PositiveIntegerField(null=True, blank=True)
    unit_type = models.CharField(max_length=8, choices=UnitType, default=UnitType.DAYS)
    next_review_on = models.DateField(null=True, blank=True)
    reviewer_contact = models.CharField(max_length=200, blank=True)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["lead", "-starts_on", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_on__isnull=True)
                | Q(ends_on__gte=models.F("starts_on")),
                name="authorization_dates_ordered",
            )
        ]

    def __str__(self) -> str:
        return f"Auth {self.auth_number} ({self.get_level_of_care_display()})"


# --- Programs, referrals, admissions -------------------------------------------------


class Program(models.Model):
    """A program the call center admits into: where, what care, whose insurance."""

    name = models.CharField(max_length=200, unique=True)
    facility_name = models.CharField(max_length=200)
    street = models.CharField(max_length=200, blank=True)
    city = models.CharField(max_length=100)
    state = models.CharField(max_length=2, choices=USState)
    postal_code = models.CharField(max_length=10, blank=True)
    phone = models.CharField(max_length=40, blank=True)
    levels_of_care = models.JSONField(
        default=list, help_text="CoveredLevel values offered."
    )
    payers = models.ManyToManyField(Payer, blank=True, related_name="programs")
    accepts_self_pay = models.BooleanField(default=True)
    states_served = models.JSONField(
        default=list, help_text="Two-letter states it admits from; empty: any state."
    )
    capacity = models.PositiveIntegerField(default=0, help_text="Beds or slots.")
    open_beds = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(open_beds__lte=models.F("capacity")),
                name="program_open_beds_within_capacity",
            )
        ]

    def __str__(self) -> str:
        return self.name


class PartnerFacility(models.Model):
    """A provider outside the network that leads are referred out to."""

    name = models.CharField(max_length=200, unique=True)
    city = models.CharField(max_length=100, blank=True)
    state = models.CharField(max_length=2, choices=USState, blank=True)
    phone = models.CharField(max_length=40, blank=True)
    levels_of_care = models.JSONField(default=list, blank=True)
    notes = models.TextField(blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "partner facilities"

    def __str__(self) -> str:
        return self.name


class Admission(models.Model):
    """A lead's admission into a program, from scheduled to admitted or not."""

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        ADMITTED = "admitted", "Admitted"
        NO_SHOW = "no_show", "No-show"
        CANCELLED = "cancelled", "Cancelled"

    lead = models.ForeignKey(
        "leads.Lead", on_delete=models.CASCADE, related_name="admissions"
    )
    program = models.ForeignKey(
        Program, on_delete=models.PROTECT, related_name="admissions"
    )
    level_of_care = models.CharField(max_length=16, choices=CoveredLevel)
    scheduled_for = models.DateTimeField()
    travel_arranged = models.BooleanField(default=False)
    travel_notes = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status, default=Status.SCHEDULED)
    status_changed_at = models.DateTimeField(default=timezone.now)
    status_changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    admitted_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-scheduled_for", "-id"]
        indexes = [
            models.Index(fields=["status", "scheduled_for"], name="admission_status"),
            models.Index(
                fields=["admitted_at"],
                condition=Q(admitted_at__isnull=False),
                name="admission_admitted_at",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["lead"],
                condition=Q(status="scheduled"),
                name="admission_one_scheduled_per_lead",
            ),
            models.CheckConstraint(
                condition=~Q(status="admitted") | Q(admitted_at__isnull=False),
                name="admission_admitted_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"Admission of lead #{self.lead_id} to {self.program} ({self.status})"


# --- 42 CFR Part 2 -------------------------------------------------------------------


class Part2Consent(models.Model):
    """A patient's written consent to disclose their records (42 CFR §2.31).

    Every element the rule asks for is a field: who may disclose, what, to whom,
    why, until when, the signature and its date, and the right to revoke.
    """

    class SignatureMethod(models.TextChoices):
        ELECTRONIC = "electronic", "Electronic signature"
        PAPER = "paper", "Signed paper form (scanned)"

    lead = models.ForeignKey(
        "leads.Lead", on_delete=models.CASCADE, related_name="part2_consents"
    )
    patient_name = models.CharField(max_length=200)
    disclosing_party = models.CharField(
        max_length=200, help_text="Who may disclose (this program, by name)."
    )
    information_described = models.TextField(
        help_text="What may be disclosed, specifically."
    )
    recipients = models.TextField(
        help_text="To whom: a named person or organisation, or for treatment, "
        "payment and health care operations, the class of recipients."
    )
    partner = models.ForeignKey(
        PartnerFacility,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="When the recipient is one partner facility.",
    )
    purpose = models.CharField(max_length=300)
    for_treatment_payment_operations = models.BooleanField(
        default=False, help_text="A single consent for all future TPO uses."
    )
    expires_on = models.DateField(null=True, blank=True)
    expires_on_event = models.CharField(
        max_length=200, blank=True, help_text='e.g. "end of treatment", or "none" (TPO)'
    )
    signed_by_name = models.CharField(max_length=200)
    signed_at = models.DateTimeField()
    signature_method = models.CharField(max_length=12, choices=SignatureMethod)
    signer_is_patient = models.BooleanField(default=True)
    signer_authority = models.CharField(
        max_length=200, blank=True, help_text="When someone signs for the patient."
    )
    recorded_at = models.DateTimeField(default=timezone.now)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    revocation_note = models.TextField(blank=True)

    class Meta:
        ordering = ["lead", "-signed_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(expires_on__isnull=False) | ~Q(expires_on_event=""),
                name="part2consent_has_expiry",
            )
        ]

    def __str__(self) -> str:
        return f"Part 2 consent #{self.pk} of lead #{self.lead_id}"


class Disclosure(models.Model):
    """A disclosure of a lead's records, for the patient's accounting (§2.24/§2.25)."""

    class Kind(models.TextChoices):
        INTAKE_PACKET = "intake_packet", "Intake packet export"
        REFERRAL = "referral", "Referral to a partner facility"

    lead = models.ForeignKey(
        "leads.Lead", on_delete=models.CASCADE, related_name="disclosures"
    )
    consent = models.ForeignKey(
        Part2Consent, on_delete=models.PROTECT, related_name="disclosures"
    )
    kind = models.CharField(max_length=16, choices=Kind)
    recipient = models.CharField(max_length=300)
    purpose = models.CharField(max_length=300)
    information_disclosed = models.TextField()
    format = models.CharField(max_length=20, blank=True)
    notice_text = models.TextField(help_text="The §2.32 notice sent with it.")
    disclosed_at = models.DateTimeField(default=timezone.now)
    disclosed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["lead", "-disclosed_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} to {self.recipient}"


class Referral(models.Model):
    """A lead referred out to a partner facility, with the reason and the consent."""

    lead = models.ForeignKey(
        "leads.Lead", on_delete=models.CASCADE, related_name="referrals"
    )
    partner = models.ForeignKey(
        PartnerFacility, on_delete=models.PROTECT, related_name="referrals"
    )
    reason = models.TextField()
    disclosure = models.OneToOneField(
        Disclosure, on_delete=models.PROTECT, related_name="referral"
    )
    referred_at = models.DateTimeField(default=timezone.now)
    referred_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-referred_at", "-id"]

    def __str__(self) -> str:
        return f"Lead #{self.lead_id} referred to {self.partner}"
