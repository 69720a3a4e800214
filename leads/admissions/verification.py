"""Verification of benefits (VOB): requested by a counselor, worked by a verifier.

A VOB moves requested → in progress → verified / denied / unable to verify; each
step is a `VerificationEvent` with who and when, so the turnaround (request to
result) is measured, not estimated. Requesting one puts the lead in insurance
verification; completing one tells the lead's owner.
"""

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Prefetch, QuerySet
from django.http import Http404
from django.utils import timezone

from crm.fields import decrypt_bytes, encrypt_bytes
from crm.models import User
from crm.services import audit_record

from ..models import (
    Activity,
    Authorization,
    CoveredLevel,
    InsuranceCardImage,
    InsuranceVerification,
    Lead,
    LevelOfCareBenefit,
    Stage,
    VerificationEvent,
)
from ..selectors import leads_visible_to
from ..services import lead_activity_record, lead_transition

logger = logging.getLogger(__name__)

Status = InsuranceVerification.Status

# What the requester fills in: the coverage as the caller reads it off the card.
REQUEST_FIELDS: tuple[str, ...] = (
    "payer",
    "payer_name",
    "plan_type",
    "member_id",
    "group_number",
    "subscriber_name",
    "subscriber_date_of_birth",
    "subscriber_relationship",
    "patient_date_of_birth",
    "secondary_payer_name",
    "secondary_member_id",
    "policy_effective_on",
    "policy_terminates_on",
    "request_note",
)
# What the verifier finds out.
RESULT_FIELDS: tuple[str, ...] = (
    "method",
    "payer_rep_name",
    "call_reference",
    "coverage_active",
    "network_status",
    "deductible_individual_in_network",
    "deductible_individual_in_network_remaining",
    "deductible_family_in_network",
    "deductible_family_in_network_remaining",
    "deductible_individual_out_of_network",
    "deductible_individual_out_of_network_remaining",
    "deductible_family_out_of_network",
    "deductible_family_out_of_network_remaining",
    "oop_max_individual_in_network",
    "oop_max_individual_in_network_remaining",
    "oop_max_family_in_network",
    "oop_max_family_in_network_remaining",
    "oop_max_individual_out_of_network",
    "oop_max_individual_out_of_network_remaining",
    "oop_max_family_out_of_network",
    "oop_max_family_out_of_network_remaining",
    "coinsurance_in_network_percent",
    "coinsurance_out_of_network_percent",
    "copay_in_network",
    "copay_out_of_network",
    "behavioral_health_carve_out",
    "utilization_review_contact",
    "not_a_guarantee",
    "result_notes",
)
BENEFIT_FIELDS: tuple[str, ...] = (
    "covered",
    "prior_auth_required",
    "in_network",
    "day_limit",
    "visit_limit",
    "coinsurance_percent",
    "copay",
    "notes",
)
# Identifiers that never go into the audit trail by value, nor into a list
# unmasked.
SENSITIVE_FIELDS = frozenset(
    {
        "member_id",
        "secondary_member_id",
        "subscriber_date_of_birth",
        "patient_date_of_birth",
    }
)

# The lead's stage on a VOB request: these move to insurance verification; new
# leads pass through "contacted" (someone read them their card) first.
_MOVES_TO_VERIFICATION = frozenset(
    {Stage.CONTACTED, Stage.ASSESSMENT, Stage.CLINICAL_REVIEW}
)
_CONTACTED_FIRST = frozenset({Stage.NEW, Stage.ATTEMPTING_CONTACT})

CARD_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp", "image/heic"})
CARD_IMAGE_MAX_BYTES = 5 * 1024 * 1024
# The industry's mark for a VOB that still converts well (DOMAIN.md §1).
TURNAROUND_TARGET = timedelta(minutes=30)


def turnaround(verification: InsuranceVerification, now: datetime | None = None):
    """Request to result; for a waiting VOB, request to now."""
    end = verification.completed_at or now or timezone.now()
    return end - verification.requested_at


def format_duration(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min"
    return f"{hours // 24} days"


# --- Writes --------------------------------------------------------------------------


def _event(
    verification: InsuranceVerification, *, status: str, by: User, at, note: str = ""
) -> None:
    VerificationEvent.objects.create(
        verification=verification, status=status, by=by, at=at, note=note
    )


def _audit(
    verification: InsuranceVerification,
    *,
    by: User,
    action: str,
    fields=(),
    detail: str = "",
) -> None:
    audit_record(
        actor=by,
        action=action,
        object_type="insuranceverification",
        object_id=verification.pk,
        lead_id=verification.lead_id,
        fields=sorted(fields),
        detail=detail,
    )


def _assign(verification: InsuranceVerification, data: Mapping[str, Any], names):
    changed = []
    for name in names:
        if name in data and getattr(verification, name) != data[name]:
            setattr(verification, name, data[name])
            changed.append(name)
    return changed


def _clean(verification: InsuranceVerification) -> None:
    try:
        verification.full_clean(exclude=["lead", "requested_by"])
    except ValidationError as exc:
        raise ValidationError(exc.message_dict) from exc
    errors = {}
    effective, terminates = (
        verification.policy_effective_on,
        verification.policy_terminates_on,
    )
    if effective and terminates and terminates < effective:
        errors["policy_terminates_on"] = ["The policy cannot end before it starts."]
    for name in RESULT_FIELDS:
        value = getattr(verification, name)
        if name.endswith("_percent") and value is not None and not 0 <= value <= 100:
            errors[name] = ["Enter a percentage between 0 and 100."]
        elif (
            name.startswith(("deductible_", "oop_max_", "copay_"))
            and value is not None
            and value < 0
        ):
            errors[name] = ["Amounts cannot be negative."]
    for kind in ("deductible", "oop_max"):
        for who in ("individual", "family"):
            for network in ("in_network", "out_of_network"):
                total = getattr(verification, f"{kind}_{who}_{network}")
                left = getattr(verification, f"{kind}_{who}_{network}_remaining")
                if total is not None and left is not None and left > total:
                    errors[f"{kind}_{who}_{network}_remaining"] = [
                        "What remains cannot exceed the total."
                    ]
    if errors:
        raise ValidationError(errors)


def _move_lead_to_verification(lead: Lead, *, by: User, at) -> None:
    if lead.stage in _CONTACTED_FIRST:
        lead = lead_transition(
            lead=lead, to=Stage.CONTACTED, by=by, reason="VOB requested", at=at
        )
    if lead.stage in _MOVES_TO_VERIFICATION:
        lead_transition(
            lead=lead,
            to=Stage.INSURANCE_VERIFICATION,
            by=by,
            reason="VOB requested",
            at=at,
        )


@transaction.atomic
def verification_request(
    *, lead: Lead, by: User, data: Mapping[str, Any], at: datetime | None = None
) -> InsuranceVerification:
    """Ask for a VOB of the lead's coverage; it becomes the lead's current one.

    Fields left out are taken from what the lead told at intake (payer, member
    id, group, subscriber, date of birth).
    """
    # Lead row first, then the old VOB: the order every VOB write takes.
    lead = Lead.objects.select_for_update().get(pk=lead.pk)
    at = at or timezone.now()
    if not lead.is_open:
        raise ValidationError(
            {"lead": [f"The lead is {lead.get_stage_display().lower()}; reopen it."]}
        )
    intake = {
        "payer_name": lead.insurance_payer,
        "member_id": lead.insurance_member_id,
        "group_number": lead.insurance_group_number,
        "subscriber_name": lead.insurance_subscriber_name,
        "patient_date_of_birth": lead.date_of_birth,
    }
    values = {
        **{k: v for k, v in intake.items() if v},
        **{k: v for k, v in data.items() if v not in (None, "")},
    }
    verification = InsuranceVerification(
        lead=lead, requested_by=by, requested_at=at, status=Status.REQUESTED
    )
    filled = _assign(verification, values, REQUEST_FIELDS)
    if verification.payer_id is None and not verification.payer_name.strip():
        raise ValidationError(
            {"payer": ["Pick the payer from the list, or type its name."]}
        )
    _clean(verification)
    InsuranceVerification.objects.filter(lead=lead, is_current=True).update(
        is_current=False
    )
    verification.is_current = True
    verification.save()
    _event(
        verification,
        status=Status.REQUESTED,
        by=by,
        at=at,
        note=verification.request_note,
    )
    _move_lead_to_verification(lead, by=by, at=at)
    lead_activity_record(
        lead=lead,
        kind=Activity.Kind.VERIFICATION,
        actor=by,
        summary=f"VOB requested: {verification.payer_display}",
        body=verification.request_note,
        data={"verification": verification.pk, "status": Status.REQUESTED},
        at=at,
    )
    _audit(verification, by=by, action="create", fields=filled)
    return verification


def _locked(verification: InsuranceVerification) -> InsuranceVerification:
    # The lead before the VOB, as verification_request takes them (deadlocks).
    Lead.objects.select_for_update().filter(pk=verification.lead_id).first()
    # Only the VOB's own row is locked: the payer and verifier may be empty, and
    # PostgreSQL cannot lock the empty side of an outer join.
    return (
        InsuranceVerification.objects.select_for_update(of=("self",))
        .select_related("lead", "verifier", "payer")
        .get(pk=verification.pk)
    )


@transaction.atomic
def verification_start(
    *, verification: InsuranceVerification, by: User, at: datetime | None = None
) -> InsuranceVerification:
    """Take a requested VOB to work on; two verifiers cannot both take it."""
    verification = _locked(verification)
    at = at or timezone.now()
    if verification.status == Status.IN_PROGRESS and verification.verifier_id == by.pk:
        return verification
    if verification.status != Status.REQUESTED:
        state = verification.get_status_display().lower()
        if verification.status == Status.IN_PROGRESS:
            message = f"{verification.verifier} is already working on this VOB."
        else:
            message = f"This VOB is already {state}."
        raise ValidationError({"status": [message]})
    verification.status = Status.IN_PROGRESS
    verification.verifier = by
    verification.started_at = at
    verification.save(update_fields=["status", "verifier", "started_at"])
    _event(verification, status=Status.IN_PROGRESS, by=by, at=at)
    _audit(verification, by=by, action="update", fields=["status"], detail="started")
    return verification


def _benefits_save(
    verification: InsuranceVerification, benefits: Mapping[str, Mapping[str, Any]]
) -> list[str]:
    """Upsert one row per level of care given; a level left all-unknown is dropped."""
    existing = {b.level_of_care: b for b in verification.benefits.all()}
    errors: dict[str, list[str]] = {}
    changed = []
    for level, values in benefits.items():
        if level not in CoveredLevel.values:
            errors["benefits"] = [f"{level!r} is not a level of care."]
            continue
        row = existing.get(level) or LevelOfCareBenefit(
            verification=verification, level_of_care=level
        )
        for name in BENEFIT_FIELDS:
            if name in values:
                setattr(row, name, values[name])
        if (
            row.coinsurance_percent is not None
            and not 0 <= row.coinsurance_percent <= 100
        ):
            errors[f"{level}-coinsurance_percent"] = [
                "Enter a percentage between 0 and 100."
            ]
        blank = (
            row.covered == row.prior_auth_required == row.in_network == "unknown"
            and all(
                getattr(row, name) in (None, "")
                for name in (
                    "day_limit",
                    "visit_limit",
                    "coinsurance_percent",
                    "copay",
                    "notes",
                )
            )
        )
        if blank:
            if row.pk:
                row.delete()
                changed.append(level)
            continue
        row.save()
        changed.append(level)
    if errors:
        raise ValidationError(errors)
    return changed


@transaction.atomic
def verification_save_result(
    *,
    verification: InsuranceVerification,
    by: User,
    data: Mapping[str, Any],
    benefits: Mapping[str, Mapping[str, Any]] | None = None,
) -> InsuranceVerification:
    """Keep what the verifier found so far, without completing the VOB."""
    verification = _locked(verification)
    if not verification.is_waiting:
        raise ValidationError(
            {"status": ["This VOB is done; request a new one to verify again."]}
        )
    changed = _assign(verification, data, REQUEST_FIELDS + RESULT_FIELDS)
    _clean(verification)
    verification.save()
    changed += [
        f"benefit:{level}" for level in _benefits_save(verification, benefits or {})
    ]
    _audit(verification, by=by, action="update", fields=changed, detail="draft")
    return verification


OUTCOMES = (Status.VERIFIED, Status.DENIED, Status.UNABLE)


@transaction.atomic
def verification_complete(
    *,
    verification: InsuranceVerification,
    by: User,
    outcome: str,
    data: Mapping[str, Any] | None = None,
    benefits: Mapping[str, Mapping[str, Any]] | None = None,
    at: datetime | None = None,
) -> InsuranceVerification:
    """Record the result: verified, denied (no coverage) or unable to verify.

    A requested VOB completed straight away counts as started by the same
    person at the same moment. The lead's owner is told.
    """
    verification = _locked(verification)
    at = at or timezone.now()
    data = data or {}
    if outcome not in OUTCOMES:
        raise ValidationError(
            {"outcome": ["Choose verified, denied or unable to verify."]}
        )
    if not verification.is_waiting:
        raise ValidationError(
            {"status": ["This VOB is done; request a new one to verify again."]}
        )
    if (
        verification.status == Status.IN_PROGRESS
        and verification.verifier_id not in (None, by.pk)
        and not by.is_supervisor
    ):
        raise ValidationError(
            {"status": [f"{verification.verifier} is working on this VOB."]}
        )
    changed = _assign(verification, data, REQUEST_FIELDS + RESULT_FIELDS)
    errors: dict[str, list[str]] = {}
    if not verification.method:
        errors["method"] = ["Say how the benefits were verified."]
    if verification.method == InsuranceVerification.Method.PHONE and not (
        verification.payer_rep_name.strip() and verification.call_reference.strip()
    ):
        errors["call_reference"] = [
            "A phone verification needs the representative's name and the call "
            "reference number."
        ]
    if outcome == Status.VERIFIED and verification.coverage_active == "unknown":
        errors["coverage_active"] = ["Say whether the coverage is active."]
    if (
        outcome in (Status.DENIED, Status.UNABLE)
        and not verification.result_notes.strip()
    ):
        errors["result_notes"] = [
            "Say why: what the payer said, or what stopped the verification."
        ]
    if errors:
        raise ValidationError(errors)
    _clean(verification)
    if verification.status == Status.REQUESTED:
        verification.started_at = at
        verification.verifier = by
        _event(verification, status=Status.IN_PROGRESS, by=by, at=at)
    verification.status = outcome
    verification.completed_at = at
    verification.completed_by = by
    verification.save()
    changed += [
        f"benefit:{level}" for level in _benefits_save(verification, benefits or {})
    ]
    _event(verification, status=outcome, by=by, at=at, note=verification.result_notes)
    took = format_duration(turnaround(verification))
    summary = (
        f"VOB {verification.get_status_display().lower()}: {verification.payer_display}"
    )
    if outcome == Status.VERIFIED:
        summary += f", {verification.get_network_status_display().lower()}"
    lead_activity_record(
        lead=verification.lead,
        kind=Activity.Kind.VERIFICATION,
        actor=by,
        summary=f"{summary} (turnaround {took})",
        data={
            "verification": verification.pk,
            "status": outcome,
            "turnaround_seconds": int(turnaround(verification).total_seconds()),
        },
        at=at,
    )
    _audit(
        verification,
        by=by,
        action="update",
        fields=["status", *changed],
        detail=outcome,
    )
    _tell_owner(verification, by=by, took=took)
    return verification


def _tell_owner(verification: InsuranceVerification, *, by: User, took: str) -> None:
    # Imported here: notifications builds on leads, not the other way round.
    from notifications.models import AlertPreference
    from notifications.services import alert_send

    owner = verification.lead.owner
    if owner is None or owner == by or not owner.is_active:
        return
    # The lead's id, not its name: alerts may go out by text.
    alert_send(
        user=owner,
        kind=AlertPreference.Kind.VOB_COMPLETED,
        lead=verification.lead,
        text=f"VOB for lead #{verification.lead_id}: "
        f"{verification.get_status_display().lower()} after {took}.",
    )


@transaction.atomic
def verification_card_image_add(
    *,
    verification: InsuranceVerification,
    side: str,
    content: bytes,
    content_type: str,
    by: User,
) -> InsuranceCardImage:
    """Keep a photo of the card, encrypted; a new photo of a side replaces the old."""
    errors = {}
    if side not in InsuranceCardImage.Side.values:
        errors["side"] = ["Say which side of the card this is."]
    if content_type not in CARD_IMAGE_TYPES:
        errors["image"] = ["Upload a JPEG, PNG, WebP or HEIC photo of the card."]
    elif not content:
        errors["image"] = ["The file is empty."]
    elif len(content) > CARD_IMAGE_MAX_BYTES:
        errors["image"] = ["The photo is over 5 MB; take it again at a lower size."]
    if errors:
        raise ValidationError(errors)
    verification = _locked(verification)
    verification.card_images.filter(side=side).delete()
    image = InsuranceCardImage.objects.create(
        verification=verification,
        side=side,
        content_type=content_type,
        encrypted_image=encrypt_bytes(content),
        size=len(content),
        uploaded_by=by,
    )
    _audit(verification, by=by, action="update", fields=[f"card_{side}"])
    return image


def verification_card_image_read(*, image: InsuranceCardImage, by: User) -> bytes:
    """The photo's bytes, for someone who may see the lead; every look is audited."""
    audit_record(
        actor=by,
        action="view",
        object_type="insurancecardimage",
        object_id=image.pk,
        lead_id=image.verification.lead_id,
    )
    return decrypt_bytes(bytes(image.encrypted_image))


@transaction.atomic
def authorization_add(
    *,
    lead: Lead,
    by: User,
    data: Mapping[str, Any],
    verification: InsuranceVerification | None = None,
) -> Authorization:
    """Record a payer's authorization (number, level of care, dates, units)."""
    authorization = Authorization(
        lead=lead, verification=verification, created_by=by, **dict(data)
    )
    try:
        authorization.full_clean(exclude=["lead", "created_by", "verification"])
    except ValidationError as exc:
        raise ValidationError(exc.message_dict) from exc
    if authorization.ends_on and authorization.ends_on < authorization.starts_on:
        raise ValidationError(
            {"ends_on": ["The authorization cannot end before it starts."]}
        )
    authorization.save()
    lead_activity_record(
        lead=lead,
        kind=Activity.Kind.VERIFICATION,
        actor=by,
        summary=f"Authorization recorded: {authorization.get_level_of_care_display()}",
        data={"authorization": authorization.pk},
    )
    audit_record(
        actor=by,
        action="create",
        object_type="authorization",
        object_id=authorization.pk,
        lead_id=lead.pk,
    )
    return authorization


# --- Reads ---------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueRow:
    verification: InsuranceVerification
    age: timedelta
    age_text: str
    overdue: bool  # past the 30-minute turnaround target


def verification_queue(
    *, user: User, now: datetime | None = None, mine: bool = False
) -> list[QueueRow]:
    """Waiting VOBs of leads the user may see, oldest request first.

    Read off the partial index of waiting VOBs, which stays small however many
    verifications the table holds.
    """
    now = now or timezone.now()
    waiting = (
        InsuranceVerification.objects.waiting()
        .filter(lead__in=leads_visible_to(user))
        .select_related("lead", "lead__owner", "payer", "requested_by", "verifier")
        .order_by("requested_at", "id")
    )
    if mine:
        waiting = waiting.filter(verifier=user)
    rows = []
    for verification in waiting[:500]:
        age = now - verification.requested_at
        rows.append(
            QueueRow(
                verification=verification,
                age=age,
                age_text=format_duration(age),
                overdue=age > TURNAROUND_TARGET,
            )
        )
    return rows


_NOT_FACTS = SENSITIVE_FIELDS | {
    "method",
    "payer_rep_name",
    "call_reference",
    "request_note",
    "payer",
    "payer_name",
}


def verification_result_facts(
    verification: InsuranceVerification,
) -> list[tuple[str, str]]:
    """What a completed VOB found, as (label, value) pairs; identifiers left out."""
    facts = [("Payer", verification.payer_display)]
    for name in (*REQUEST_FIELDS, *RESULT_FIELDS):
        if name in _NOT_FACTS:
            continue
        field = InsuranceVerification._meta.get_field(name)
        value = getattr(verification, name)
        if value in (None, "") or (field.choices and value == "unknown"):
            continue
        if field.choices:
            value = getattr(verification, f"get_{name}_display")()
        elif isinstance(value, bool):
            value = "Yes" if value else "No"
        elif name.endswith("_percent"):
            value = f"{value.normalize():f}%"
        elif field.get_internal_type() == "DecimalField":
            value = f"${value:,.2f}"
        facts.append((str(field.verbose_name).capitalize(), str(value)))
    return facts


def verifications_of(lead: Lead) -> QuerySet[InsuranceVerification]:
    """The lead's VOBs, newest first, with what a card or history shows of each."""
    return (
        InsuranceVerification.objects.filter(lead=lead)
        .select_related("payer", "requested_by", "verifier", "completed_by")
        .prefetch_related(
            Prefetch("benefits", queryset=LevelOfCareBenefit.objects.order_by("id"))
        )
        .order_by("-requested_at", "-id")
    )


def verification_get_for(*, user: User, pk: int) -> InsuranceVerification:
    """The VOB if the user may see its lead; 404 otherwise (never a hint)."""
    verification = (
        InsuranceVerification.objects.filter(pk=pk, lead__in=leads_visible_to(user))
        .select_related(
            "lead", "lead__owner", "payer", "requested_by", "verifier", "completed_by"
        )
        .first()
    )
    if verification is None:
        raise Http404("No such verification.")
    return verification


def card_image_get_for(*, user: User, pk: int) -> InsuranceCardImage:
    """The card photo if the user may see its lead; 404 otherwise (never a hint)."""
    image = (
        InsuranceCardImage.objects.filter(
            pk=pk, verification__lead__in=leads_visible_to(user)
        )
        .select_related("verification")
        .first()
    )
    if image is None:
        raise Http404("No such card photo.")
    return image
