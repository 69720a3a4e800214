"""Referring a lead out to a partner facility: a disclosure, then the lead closes.

A referral tells another provider who the person is and what care they need, so
it is a Part 2 disclosure: it needs the patient's consent naming that partner (or
a consent for treatment, payment and operations) and is kept for the accounting.
Nothing here is paid for or priced: paying or being paid for referrals is patient
brokering (EKRA, 18 U.S.C. §220; Florida §817.505).
"""

import logging

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from crm.models import User
from crm.services import audit_record

from ..models import CLOSED_STAGES, Lead, LevelOfCare, Stage
from ..services import lead_transition
from .consent import disclosure_record, part2_consent_for
from .models import (
    ASAM_TO_COVERED_LEVEL,
    CoveredLevel,
    Disclosure,
    InsuranceVerification,
    PartnerFacility,
    PreScreen,
    Referral,
)

logger = logging.getLogger(__name__)

REASON_MAX_LENGTH = 2000


def _level_of_care_needed(lead: Lead) -> str:
    """The pre-screen's indicated level when there is one, else what was sought."""
    indicated = (
        PreScreen.objects.filter(lead=lead)
        .order_by("-version")
        .values_list("level_of_care_indicated", flat=True)
        .first()
    )
    if indicated:
        return CoveredLevel(ASAM_TO_COVERED_LEVEL[indicated]).label
    return LevelOfCare(lead.level_of_care).label


def _insurance_summary(lead: Lead) -> str:
    """Payer, plan and what the verification found; never the member id."""
    vob = (
        InsuranceVerification.objects.filter(lead=lead, is_current=True)
        .select_related("payer")
        .first()
    )
    if vob is None:
        payer = lead.insurance_payer.strip()
        return f"{payer} (as told, not verified)" if payer else "none given"
    parts = [vob.payer_display, vob.get_plan_type_display()]
    if vob.status == InsuranceVerification.Status.VERIFIED:
        parts.append(
            f"verified {timezone.localdate(vob.completed_at):%Y-%m-%d}: coverage "
            f"active {vob.get_coverage_active_display().lower()}, "
            f"{vob.get_network_status_display().lower()}"
        )
    else:
        parts.append(f"verification {vob.get_status_display().lower()}")
    return ", ".join(parts)


def referral_information(lead: Lead) -> str:
    """What a referral tells the partner: who, how to reach them, what care, cover."""
    contact = ", ".join(
        label
        for label, value in (("phone", lead.phone), ("e-mail", lead.email))
        if value
    )
    return (
        f"Name: {lead.display_name}; contact details: {contact or 'none on file'}; "
        f"level of care needed: {_level_of_care_needed(lead)}; "
        f"insurance: {_insurance_summary(lead)}."
    )


@transaction.atomic
def lead_refer_out(
    *, lead: Lead, partner: PartnerFacility, reason: str, by: User
) -> Referral:
    """Refer the lead to `partner` under the patient's consent, and close it.

    Refused unless an active Part 2 consent covers that partner. The disclosure,
    the referral and the stage change are written together or not at all.
    """
    reason = (reason or "").strip()
    errors: dict[str, list[str]] = {}
    if not reason:
        errors["reason"] = ["Say why the lead is referred out."]
    elif len(reason) > REASON_MAX_LENGTH:
        errors["reason"] = [f"Keep the reason under {REASON_MAX_LENGTH:,} characters."]
    if not partner.is_active:
        errors["partner"] = [f"{partner} is no longer an active partner facility."]
    if errors:
        raise ValidationError(errors)
    # Lock the lead: a referral and another stage change must not cross.
    lead = Lead.objects.select_for_update().get(pk=lead.pk)
    if lead.stage in CLOSED_STAGES:
        raise ValidationError(
            f"This lead is closed ({lead.get_stage_display()}): only an open lead "
            "can be referred out."
        )
    consent = part2_consent_for(lead=lead, partner=partner)
    if consent is None:
        raise ValidationError(
            {
                "partner": [
                    "A disclosure needs a structured Part 2 consent on file: no "
                    f"active consent names {partner.name} or covers treatment, "
                    "payment and health care operations. Record the patient's "
                    "signed consent first."
                ]
            }
        )
    disclosure = disclosure_record(
        lead=lead,
        consent=consent,
        kind=Disclosure.Kind.REFERRAL,
        recipient=partner.name,
        purpose=f"Referral for treatment: {reason}",
        information=referral_information(lead),
        format="",
        by=by,
    )
    referral = Referral.objects.create(
        lead=lead,
        partner=partner,
        reason=reason,
        disclosure=disclosure,
        referred_at=disclosure.disclosed_at,
        referred_by=by,
    )
    audit_record(
        actor=by,
        action="create",
        object_type="referral",
        object_id=referral.pk,
        lead_id=lead.pk,
        fields=["partner", "reason", "disclosure"],
    )
    lead_transition(
        lead=lead,
        to=Stage.REFERRED_OUT,
        by=by,
        reason=reason,
        referred_to=partner.name,
    )
    logger.info(
        "lead referred out lead_id=%s referral_id=%s partner_id=%s",
        lead.pk,
        referral.pk,
        partner.pk,
    )
    return referral
