"""The intake packet as plain values, gathered from a lead's records.

`intake_packet` reads the person and caller, the current pre-screen, the current
verification of benefits with its level-of-care benefits, the lead's
authorizations and admissions, its Part 2 consents and the timeline's summary
lines; `packet_contents` names what that discloses, for the accounting.

The member id travels in full: this IS the disclosure to the clinical record, made
under the patient's consent. It never goes to logs or audit details.
"""

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.utils import timezone

from ...models import (
    CallerRelationship,
    Language,
    Lead,
    LevelOfCare,
    Stage,
    Substance,
    Urgency,
    YesNoUnknown,
)
from ..consent import part2_consent_expiry, part2_consent_status, part2_consents_of
from ..models import (
    Admission,
    Authorization,
    InsuranceVerification,
    LevelOfCareBenefit,
    PlanType,
    PreScreen,
    SubscriberRelationship,
)

# An intake packet goes to the program that admits the person, or that prepares
# to: before that there is no clinical record to send it to.
EXPORTABLE_STAGES = (Stage.ADMISSION_SCHEDULED, Stage.ADMITTED)


def _label(choices: Any, value: str) -> str:
    return choices(value).label if value in choices.values else (value or "")


def _full_name(first: str, last: str) -> str:
    return f"{first} {last}".strip()


def _joined(*parts: Any, sep: str = ", ") -> str:
    return sep.join(str(part) for part in parts if part not in (None, ""))


def _percent(value: Decimal | None) -> str:
    return f"{value.normalize():f}%" if value is not None else ""


def _local_time(value: datetime) -> str:
    """A moment as both renderings show it: local time, to the minute, zone named."""
    return f"{timezone.localtime(value):%Y-%m-%d %H:%M %Z}"


# What the payer said of every quote, in both renderings' words.
NOT_A_GUARANTEE = "Quoted benefits are not a guarantee of payment."


# The pre-screen's questions in the order a counselor asks them, by group.
PRESCREEN_GROUPS: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (
    (
        "patient",
        "The patient",
        (
            ("patient_is", "Who the patient is"),
            ("patient_name", "Patient's name"),
            ("patient_age", "Age"),
            ("patient_gender", "Gender"),
        ),
    ),
    (
        "substance-use",
        "Substance use and withdrawal",
        (
            ("substances", "Substances"),
            ("last_use_on", "Last use"),
            ("withdrawal_risk", "Withdrawal risk"),
            ("detox_needed", "Detox needed"),
            ("withdrawal_history", "Withdrawal history"),
        ),
    ),
    (
        "mental-health",
        "Mental health and medications",
        (
            ("co_occurring_mental_health", "Co-occurring mental health condition"),
            ("mental_health_notes", "Mental health notes"),
            ("medications", "Medications"),
        ),
    ),
    (
        "safety",
        "Safety screen",
        (
            ("suicidal_thoughts", "Suicidal thoughts"),
            ("overdose_last_30_days", "Overdose in the last 30 days"),
            ("safety_notes", "Safety notes"),
        ),
    ),
    (
        "legal",
        "Legal",
        (
            ("legal_issues", "Legal issues"),
            ("legal_notes", "Legal notes"),
        ),
    ),
    (
        "asam",
        "ASAM Criteria dimensions (0 none to 4 severe)",
        (
            ("asam_intoxication_withdrawal", "1. Intoxication and withdrawal"),
            ("asam_biomedical", "2. Biomedical conditions"),
            ("asam_emotional_behavioral", "3. Emotional, behavioral, cognitive"),
            ("asam_readiness_to_change", "4. Readiness to change"),
            ("asam_relapse_potential", "5. Relapse or continued use potential"),
            ("asam_recovery_environment", "6. Recovery environment"),
        ),
    ),
    (
        "level-of-care",
        "Level of care and readiness",
        (
            ("level_of_care_indicated", "Level of care indicated"),
            ("readiness", "Readiness"),
            ("notes", "Notes"),
        ),
    ),
)


def _substance_line(entry: Any) -> str:
    if not isinstance(entry, dict):
        return str(entry)
    name = entry.get("substance", "")
    parts = [_label(Substance, name) or "Unnamed substance"]
    for key in ("route", "frequency", "amount"):
        if entry.get(key):
            value = entry[key]
            parts.append(
                _label(PreScreen.Route, value) if key == "route" else str(value)
            )
    if entry.get("last_use"):
        parts.append(f"last use {entry['last_use']}")
    return ", ".join(parts)


def _prescreen_answer(prescreen: PreScreen, name: str) -> Any:
    value = getattr(prescreen, name)
    if name == "substances":
        return [_substance_line(entry) for entry in value or []]
    field = PreScreen._meta.get_field(name)
    if field.choices and value:
        return dict(field.flatchoices).get(value, value)
    return value


def _prescreen_section(prescreen: PreScreen | None) -> dict[str, Any] | None:
    if prescreen is None:
        return None
    groups = []
    for key, title, questions in PRESCREEN_GROUPS:
        answers = []
        for name, question in questions:
            value = _prescreen_answer(prescreen, name)
            if value in (None, "", []):
                continue
            if value == YesNoUnknown.UNKNOWN.label and name not in (
                "suicidal_thoughts",
                "overdose_last_30_days",
            ):
                # "Unknown" is the default of every yes/no question: saying it
                # for each one would bury the answers; the safety screen's
                # unknowns are said because they matter.
                continue
            answers.append({"key": name, "question": question, "value": value})
        if answers:
            groups.append({"key": key, "title": title, "answers": answers})
    return {
        "id": prescreen.pk,
        "version": prescreen.version,
        "created_at": prescreen.created_at,
        "created_by": str(prescreen.created_by),
        "safety_flagged": prescreen.safety_flagged,
        "level_of_care_indicated": prescreen.level_of_care_indicated,
        "groups": groups,
    }


# Verification amounts: (field, label), each with its "remaining" twin.
VOB_AMOUNTS: tuple[tuple[str, str, str, str], ...] = tuple(
    (f"{kind}_{unit}_{network}", label, unit, network)
    for kind, label in (
        ("deductible", "Deductible"),
        ("oop_max", "Out-of-pocket maximum"),
    )
    for network in ("in_network", "out_of_network")
    for unit in ("individual", "family")
)


def _benefit_dict(benefit: LevelOfCareBenefit) -> dict[str, Any]:
    return {
        "level_of_care": benefit.level_of_care,
        "level_of_care_label": benefit.get_level_of_care_display(),
        "covered": benefit.covered,
        "prior_auth_required": benefit.prior_auth_required,
        "in_network": benefit.in_network,
        "day_limit": benefit.day_limit,
        "visit_limit": benefit.visit_limit,
        "coinsurance_percent": benefit.coinsurance_percent,
        "copay": benefit.copay,
        "notes": benefit.notes,
    }


def _verification_section(vob: InsuranceVerification | None) -> dict[str, Any] | None:
    if vob is None:
        return None
    amounts = []
    for name, label, unit, network in VOB_AMOUNTS:
        total, remaining = getattr(vob, name), getattr(vob, f"{name}_remaining")
        if total is None and remaining is None:
            continue
        amounts.append(
            {
                "label": label,
                "unit": unit,
                "network": network,
                "total": total,
                "remaining": remaining,
            }
        )
    return {
        "id": vob.pk,
        "status": vob.status,
        "status_label": vob.get_status_display(),
        "requested_at": vob.requested_at,
        "completed_at": vob.completed_at,
        "completed_by": str(vob.completed_by) if vob.completed_by_id else "",
        "payer": vob.payer_display,
        "electronic_payer_id": vob.payer.electronic_payer_id if vob.payer_id else "",
        "plan_type": vob.plan_type,
        "plan_type_label": _label(PlanType, vob.plan_type),
        "member_id": vob.member_id,
        "group_number": vob.group_number,
        "subscriber_name": vob.subscriber_name,
        "subscriber_date_of_birth": vob.subscriber_date_of_birth,
        "subscriber_relationship": vob.subscriber_relationship,
        "subscriber_relationship_label": _label(
            SubscriberRelationship, vob.subscriber_relationship
        ),
        "patient_date_of_birth": vob.patient_date_of_birth,
        "secondary_payer_name": vob.secondary_payer_name,
        "secondary_member_id": vob.secondary_member_id,
        "policy_effective_on": vob.policy_effective_on,
        "policy_terminates_on": vob.policy_terminates_on,
        "method_label": vob.get_method_display() if vob.method else "",
        "payer_rep_name": vob.payer_rep_name,
        "call_reference": vob.call_reference,
        "coverage_active": vob.coverage_active,
        "network_status": vob.network_status,
        "network_status_label": vob.get_network_status_display(),
        "amounts": amounts,
        "coinsurance_in_network_percent": vob.coinsurance_in_network_percent,
        "coinsurance_out_of_network_percent": vob.coinsurance_out_of_network_percent,
        "copay_in_network": vob.copay_in_network,
        "copay_out_of_network": vob.copay_out_of_network,
        "behavioral_health_carve_out": vob.behavioral_health_carve_out,
        "utilization_review_contact": vob.utilization_review_contact,
        "not_a_guarantee": vob.not_a_guarantee,
        "result_notes": vob.result_notes,
        "benefits": [_benefit_dict(benefit) for benefit in vob.benefits.all()],
    }


def _authorization_dict(auth: Authorization) -> dict[str, Any]:
    return {
        "id": auth.pk,
        "auth_number": auth.auth_number,
        "level_of_care": auth.level_of_care,
        "level_of_care_label": auth.get_level_of_care_display(),
        "starts_on": auth.starts_on,
        "ends_on": auth.ends_on,
        "units_authorized": auth.units_authorized,
        "unit_type_label": auth.get_unit_type_display(),
        "next_review_on": auth.next_review_on,
        "reviewer_contact": auth.reviewer_contact,
        "notes": auth.notes,
        "created_at": auth.created_at,
    }


def _admission_dict(admission: Admission) -> dict[str, Any]:
    program = admission.program
    return {
        "id": admission.pk,
        "program": program.name,
        "facility_name": program.facility_name,
        "street": program.street,
        "city": program.city,
        "state": program.state,
        "postal_code": program.postal_code,
        "phone": program.phone,
        "level_of_care": admission.level_of_care,
        "level_of_care_label": admission.get_level_of_care_display(),
        "scheduled_for": admission.scheduled_for,
        "status": admission.status,
        "status_label": admission.get_status_display(),
        "admitted_at": admission.admitted_at,
        "travel_arranged": admission.travel_arranged,
        "travel_notes": admission.travel_notes,
        "cancel_reason": admission.cancel_reason,
    }


def _consent_dict(consent, *, at: datetime) -> dict[str, Any]:
    return {
        "id": consent.pk,
        "status": part2_consent_status(consent, at),
        "patient_name": consent.patient_name,
        "disclosing_party": consent.disclosing_party,
        "information_described": consent.information_described,
        "recipients": consent.recipients,
        "partner": consent.partner.name if consent.partner_id else "",
        "purpose": consent.purpose,
        "for_treatment_payment_operations": consent.for_treatment_payment_operations,
        "expires_on": consent.expires_on,
        "expires_on_event": consent.expires_on_event,
        "expiry": part2_consent_expiry(consent),
        "signed_by_name": consent.signed_by_name,
        "signed_at": consent.signed_at,
        "signature_method_label": consent.get_signature_method_display(),
        "signer_is_patient": consent.signer_is_patient,
        "signer_authority": consent.signer_authority,
        "recorded_at": consent.recorded_at,
        "recorded_by": str(consent.recorded_by),
        "revoked_at": consent.revoked_at,
        "revoked_by": str(consent.revoked_by) if consent.revoked_by_id else "",
        "revocation_note": consent.revocation_note,
    }


def intake_packet(*, lead: Lead) -> dict[str, Any]:
    """Everything the intake packet holds, as plain values, in a few queries."""
    now = timezone.now()
    prescreen = (
        PreScreen.objects.filter(lead=lead)
        .select_related("created_by")
        .order_by("-version")
        .first()
    )
    vob = (
        InsuranceVerification.objects.filter(lead=lead, is_current=True)
        .select_related("payer", "completed_by")
        .prefetch_related("benefits")
        .first()
    )
    caller = None
    if lead.caller_relationship != CallerRelationship.SELF:
        caller = {
            "relationship": lead.caller_relationship,
            "relationship_label": _label(CallerRelationship, lead.caller_relationship),
            "name": _full_name(lead.caller_first_name, lead.caller_last_name),
            "first_name": lead.caller_first_name,
            "last_name": lead.caller_last_name,
            "phone": str(lead.caller_phone or ""),
            "email": lead.caller_email,
            "patient_consents": lead.patient_consents_to_caller,
            "patient_consents_label": _label(
                YesNoUnknown, lead.patient_consents_to_caller
            ),
        }
    timeline = [
        {
            "at": activity.at,
            "kind": activity.kind,
            "kind_label": activity.get_kind_display(),
            # Summaries only: bodies hold text messages and notes in full.
            "summary": activity.summary,
            "actor": str(activity.actor) if activity.actor_id else "",
        }
        for activity in lead.activities.select_related("actor")
        .only("at", "kind", "summary", "actor")
        .order_by("at", "id")
    ]
    return {
        "lead_id": lead.pk,
        "generated_at": now,
        "patient": {
            "first_name": lead.first_name,
            "last_name": lead.last_name,
            "name": _full_name(lead.first_name, lead.last_name),
            "date_of_birth": lead.date_of_birth
            or (vob.patient_date_of_birth if vob else None),
            "phone": str(lead.phone or ""),
            "email": lead.email,
            "city": lead.city,
            "state": lead.state,
            "time_zone": lead.time_zone,
            "preferred_language": lead.preferred_language,
            "preferred_language_label": _label(Language, lead.preferred_language),
            "gender": prescreen.patient_gender if prescreen else "",
            "stage": lead.stage,
            "stage_label": lead.get_stage_display(),
            "level_of_care_label": _label(LevelOfCare, lead.level_of_care),
            "urgency_label": _label(Urgency, lead.urgency),
            "substances": [_label(Substance, value) for value in lead.substances or []],
            "co_occurring_mental_health_label": _label(
                YesNoUnknown, lead.co_occurring_mental_health
            ),
            "intake_notes": lead.intake_notes,
            "insurance_as_told": {
                "payer": lead.insurance_payer,
                "member_id": lead.insurance_member_id,
                "group_number": lead.insurance_group_number,
                "subscriber_name": lead.insurance_subscriber_name,
            },
        },
        "caller": caller,
        "prescreen": _prescreen_section(prescreen),
        "verification": _verification_section(vob),
        "authorizations": [
            _authorization_dict(auth)
            for auth in Authorization.objects.filter(lead=lead).order_by(
                "-starts_on", "-id"
            )
        ],
        "admissions": [
            _admission_dict(admission)
            for admission in Admission.objects.filter(lead=lead)
            .select_related("program")
            .order_by("-scheduled_for", "-id")
        ],
        "consents": [
            _consent_dict(consent, at=now) for consent in part2_consents_of(lead)
        ],
        "timeline": timeline,
        "disclosure": None,
    }


def packet_contents(packet: dict[str, Any]) -> list[str]:
    """What the packet discloses, section by section, for the accounting."""
    parts = ["identity and contact details"]
    if packet["caller"]:
        parts.append("the caller and the patient's consent to their involvement")
    if packet["prescreen"]:
        parts.append(f"pre-screen (version {packet['prescreen']['version']})")
    if packet["verification"]:
        parts.append("insurance verification with member id and level-of-care benefits")
    elif packet["patient"]["insurance_as_told"]["payer"]:
        parts.append("insurance as told by the caller")
    if packet["authorizations"]:
        parts.append(f"{len(packet['authorizations'])} authorization(s)")
    if packet["admissions"]:
        parts.append(f"{len(packet['admissions'])} admission(s)")
    parts.append(f"{len(packet['consents'])} Part 2 consent(s)")
    parts.append(f"timeline summary ({len(packet['timeline'])} events, no messages)")
    return parts
