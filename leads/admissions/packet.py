"""The intake packet: what the receiving program's clinical record needs of a lead.

`intake_packet` gathers it (the person and caller, the current pre-screen, the
current verification of benefits with its level-of-care benefits, the lead's
authorizations and admissions, its Part 2 consents and the timeline's summary
lines). `packet_fhir_json` shapes it as a FHIR R4 Bundle and `packet_pdf` as a
printable document; both carry the 42 CFR §2.32 notice. Exporting one is a
disclosure: `intake_packet_export` refuses without a covering consent and logs it.

The member id travels in full: this IS the disclosure to the clinical record, made
under the patient's consent. It never goes to logs or audit details.

Where the FHIR Bundle carries the §2.32 notice: a Bundle has no extensions and
`meta.security` holds only codes, so the Bundle is labelled (confidentiality R,
42CFRPart2, ETH, NORDSCLCD) and its first entry is a `Composition` whose first
section is the notice, word for word, followed by the disclosure (to whom, why,
under which consent) and sections pointing at the other entries.
"""

import base64
import json
import logging
import uuid
from collections.abc import Callable, Iterable
from datetime import date, datetime
from decimal import Decimal
from html import escape
from io import BytesIO
from typing import Any
from xml.sax.saxutils import escape as xml_escape

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import LETTER
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import inch
from reportlab.platypus import (
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from crm.models import User
from crm.services import audit_record

from ..models import (
    CallerRelationship,
    Language,
    Lead,
    LevelOfCare,
    Stage,
    Substance,
    Urgency,
    YesNoUnknown,
)
from .consent import (
    REDISCLOSURE_NOTICE,
    REVOCATION_RIGHT,
    TPO_HIPAA_STATEMENT,
    disclosure_record,
    part2_consent_expiry,
    part2_consent_for,
    part2_consent_status,
    part2_consents_of,
)
from .models import (
    Admission,
    Authorization,
    CoveredLevel,
    Disclosure,
    InsuranceVerification,
    LevelOfCareBenefit,
    PlanType,
    PreScreen,
    SubscriberRelationship,
)

logger = logging.getLogger(__name__)

# An intake packet goes to the program that admits the person, or that prepares
# to: before that there is no clinical record to send it to.
EXPORTABLE_STAGES = (Stage.ADMISSION_SCHEDULED, Stage.ADMITTED)
FORMATS: dict[str, str] = {"pdf": "application/pdf", "json": "application/fhir+json"}

# --- Gathering -----------------------------------------------------------------------


def _label(choices: Any, value: str) -> str:
    return choices(value).label if value in choices.values else (value or "")


def _full_name(first: str, last: str) -> str:
    return f"{first} {last}".strip()


def _joined(*parts: Any, sep: str = ", ") -> str:
    return sep.join(str(part) for part in parts if part not in (None, ""))


def _percent(value: Decimal | None) -> str:
    return f"{value.normalize():f}%" if value is not None else ""


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


# --- FHIR R4 -------------------------------------------------------------------------

HL7 = "http://terminology.hl7.org/CodeSystem/"
EXTENSION_BASE = "urn:admissions-crm:fhir:extension:"
SECURITY_LABELS = [
    {"system": HL7 + "v3-Confidentiality", "code": "R", "display": "restricted"},
    {"system": HL7 + "v3-ActCode", "code": "42CFRPart2", "display": "42 CFR Part2"},
    {
        "system": HL7 + "v3-ActCode",
        "code": "ETH",
        "display": "substance abuse information sensitivity",
    },
    {
        "system": HL7 + "v3-ActCode",
        "code": "NORDSCLCD",
        "display": "no redisclosure without consent directive",
    },
]
CALLER_ROLE_CODES = {
    CallerRelationship.PARENT: "PRN",
    CallerRelationship.SPOUSE: "SPS",
    CallerRelationship.CHILD: "CHILD",
    CallerRelationship.SIBLING: "SIB",
    CallerRelationship.FRIEND: "FRND",
}
YES_NO = {YesNoUnknown.YES: True, YesNoUnknown.NO: False}
ENCOUNTER_STATUS = {
    Admission.Status.SCHEDULED: "planned",
    Admission.Status.ADMITTED: "in-progress",
    Admission.Status.NO_SHOW: "cancelled",
    Admission.Status.CANCELLED: "cancelled",
}
ELIGIBILITY_OUTCOME = {
    InsuranceVerification.Status.REQUESTED: "queued",
    InsuranceVerification.Status.IN_PROGRESS: "queued",
    InsuranceVerification.Status.VERIFIED: "complete",
    InsuranceVerification.Status.DENIED: "complete",
    InsuranceVerification.Status.UNABLE: "error",
}
RESIDENTIAL_LEVELS = (CoveredLevel.DETOX, CoveredLevel.RESIDENTIAL)
GENDERS = {"male", "female", "other", "unknown"}


def _instant(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _day(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _money(value: Decimal | None) -> dict[str, Any] | None:
    return None if value is None else {"value": float(value), "currency": "USD"}


def _concept(
    system: str | None, code: str | None, *, display: str = "", text: str = ""
) -> dict[str, Any]:
    """A CodeableConcept; `system` short names are HL7 terminology code systems."""
    coding = []
    if code:
        url = system if system and ":" in system else HL7 + (system or "")
        coding.append({"system": url, "code": code, "display": display})
    return {"coding": coding, "text": text}


def _ident(kind: str, value: object) -> dict[str, str]:
    return {"system": EXTENSION_BASE + kind, "value": str(value)}


def _name(text: str, first: str, last: str) -> list[dict[str, Any]]:
    return [{"text": text, "family": last, "given": [first] if first else []}]


def _prune(value: Any) -> Any:
    """Drop empty values: FHIR forbids empty strings, lists and objects."""
    if isinstance(value, dict):
        pruned = {key: _prune(item) for key, item in value.items()}
        return {
            key: item
            for key, item in pruned.items()
            if item is not None and item not in ("", [], {})
        }
    if isinstance(value, list):
        pruned = [_prune(item) for item in value]
        return [item for item in pruned if item not in ({}, [])]
    return value


def _narrative(*paragraphs: str) -> dict[str, str]:
    body = "".join(
        f"<p>{escape(line)}</p>" for text in paragraphs for line in text.splitlines()
    )
    return {
        "status": "generated",
        "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{body}</div>',
    }


class _Bundle:
    """Entries of one Bundle, each with a stable urn:uuid per lead and role."""

    def __init__(self, lead_id: int) -> None:
        self.lead_id = lead_id
        self.entries: list[dict[str, Any]] = []

    def ref(self, role: str) -> str:
        base = settings.PUBLIC_BASE_URL.rstrip("/")
        name = f"{base}/leads/{self.lead_id}/{role}"
        return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, name)}"

    def add(self, role: str, resource: dict[str, Any]) -> str:
        url = self.ref(role)
        self.entries.append({"fullUrl": url, "resource": _prune(resource)})
        return url


def _answer(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, list):
        return [{"valueString": str(item)} for item in value]
    if isinstance(value, bool):
        return [{"valueBoolean": value}]
    if isinstance(value, int):
        return [{"valueInteger": value}]
    if isinstance(value, date):
        return [{"valueDate": value.isoformat()}]
    return [{"valueString": str(value)}]


def _telecom(phone: str, email: str) -> list[dict[str, str]]:
    items = [{"system": "phone", "value": phone}, {"system": "email", "value": email}]
    return [item for item in items if item["value"]]


def _patient(packet: dict[str, Any], bundle: _Bundle) -> str:
    person = packet["patient"]
    gender = (person["gender"] or "").strip().lower()
    language = person["preferred_language"]
    language_code = language if language != Language.OTHER else None
    base = settings.PUBLIC_BASE_URL.rstrip("/")
    return bundle.add(
        "patient",
        {
            "resourceType": "Patient",
            "meta": {"security": SECURITY_LABELS},
            "identifier": [
                {"system": f"{base}/leads", "value": str(packet["lead_id"])}
            ],
            "name": _name(person["name"], person["first_name"], person["last_name"]),
            "telecom": _telecom(person["phone"], person["email"]),
            "gender": gender if gender in GENDERS else None,
            "birthDate": _day(person["date_of_birth"]),
            "address": [{"city": person["city"], "state": person["state"]}],
            "communication": [
                {
                    "language": _concept(
                        "urn:ietf:bcp:47",
                        language_code,
                        text=person["preferred_language_label"],
                    ),
                    "preferred": True,
                }
            ],
        },
    )


def _related_person(caller: dict[str, Any], bundle: _Bundle, patient: str) -> str:
    relationship = _concept(
        "v3-RoleCode",
        CALLER_ROLE_CODES.get(caller["relationship"]),
        text=caller["relationship_label"],
    )
    return bundle.add(
        "caller",
        {
            "resourceType": "RelatedPerson",
            "extension": [
                {
                    # 42 CFR Part 2: may staff discuss the patient with this caller?
                    "url": EXTENSION_BASE + "patient-consents-to-caller",
                    "valueCodeableConcept": {"text": caller["patient_consents_label"]},
                }
            ],
            "active": YES_NO.get(caller["patient_consents"]),
            "patient": {"reference": patient},
            "relationship": [relationship],
            "name": _name(caller["name"], caller["first_name"], caller["last_name"]),
            "telecom": _telecom(caller["phone"], caller["email"]),
        },
    )


def _questionnaire_response(
    prescreen: dict[str, Any], bundle: _Bundle, patient: str
) -> str:
    items = [
        {
            "linkId": group["key"],
            "text": group["title"],
            "item": [
                {
                    "linkId": f"{group['key']}.{answer['key']}",
                    "text": answer["question"],
                    "answer": _answer(answer["value"]),
                }
                for answer in group["answers"]
            ],
        }
        for group in prescreen["groups"]
    ]
    return bundle.add(
        f"prescreen-{prescreen['id']}",
        {
            "resourceType": "QuestionnaireResponse",
            "identifier": _ident(
                "prescreen", f"{prescreen['id']}-v{prescreen['version']}"
            ),
            "status": "completed",
            "subject": {"reference": patient},
            "authored": _instant(prescreen["created_at"]),
            "author": {"display": prescreen["created_by"]},
            "item": items,
        },
    )


def _payer(name: str, payer_id: str, bundle: _Bundle, role: str) -> str:
    return bundle.add(
        role,
        {
            "resourceType": "Organization",
            "identifier": [_ident("electronic-payer-id", payer_id)] if payer_id else [],
            "type": [_concept("organization-type", "ins", display="Insurance Company")],
            "name": name,
        },
    )


def _group_class(group_number: str) -> list[dict[str, Any]]:
    if not group_number:
        return []
    return [{"type": _concept("coverage-class", "group"), "value": group_number}]


def _coverage(
    packet: dict[str, Any], bundle: _Bundle, patient: str
) -> tuple[str | None, str | None]:
    """The primary Coverage (and a secondary one when known), and the payer."""
    vob = packet["verification"]
    told = packet["patient"]["insurance_as_told"]
    if vob is None and not told["payer"]:
        return None, None
    if vob is None:
        # Only what the caller read off the card: a draft until verified.
        payer = _payer(told["payer"], "", bundle, "payer-as-told")
        coverage = bundle.add(
            "coverage-as-told",
            {
                "resourceType": "Coverage",
                "status": "draft",
                "subscriberId": told["member_id"],
                "beneficiary": {"reference": patient},
                "subscriber": {"display": told["subscriber_name"]},
                "payor": [{"reference": payer}],
                "class": _group_class(told["group_number"]),
            },
        )
        return coverage, payer
    payer = _payer(vob["payer"], vob["electronic_payer_id"], bundle, "payer")
    relationship = vob["subscriber_relationship"]
    if relationship == SubscriberRelationship.SELF:
        subscriber = {"reference": patient}
    else:
        subscriber = {"display": vob["subscriber_name"]}
    coverage = bundle.add(
        f"coverage-{vob['id']}",
        {
            "resourceType": "Coverage",
            "status": "cancelled" if vob["coverage_active"] == "no" else "active",
            "type": {"text": vob["plan_type_label"]},
            "subscriber": subscriber,
            "subscriberId": vob["member_id"],
            "beneficiary": {"reference": patient},
            "relationship": _concept(
                "subscriber-relationship",
                relationship,
                text=vob["subscriber_relationship_label"],
            ),
            "period": {
                "start": _day(vob["policy_effective_on"]),
                "end": _day(vob["policy_terminates_on"]),
            },
            "payor": [{"reference": payer}],
            "class": _group_class(vob["group_number"]),
            "order": 1,
        },
    )
    if vob["secondary_payer_name"]:
        secondary = _payer(vob["secondary_payer_name"], "", bundle, "payer-secondary")
        bundle.add(
            f"coverage-{vob['id']}-secondary",
            {
                "resourceType": "Coverage",
                "status": "active",
                "subscriberId": vob["secondary_member_id"],
                "beneficiary": {"reference": patient},
                "payor": [{"reference": secondary}],
                "order": 2,
            },
        )
    return coverage, payer


def _network(in_network: bool | None) -> dict[str, Any] | None:
    if in_network is None:
        return None
    return _concept("benefit-network", "in" if in_network else "out")


def _benefit_item(benefit: dict[str, Any]) -> dict[str, Any]:
    percent = benefit["coinsurance_percent"]
    allowances = [
        ("visit", "Day limit", "allowedUnsignedInt", benefit["day_limit"]),
        ("visit", "Visit limit", "allowedUnsignedInt", benefit["visit_limit"]),
        ("copay", "Copay", "allowedMoney", _money(benefit["copay"])),
        ("copay-percent", "Coinsurance", "allowedString", _percent(percent) or None),
    ]
    excluded = {YesNoUnknown.YES: False, YesNoUnknown.NO: True}
    return {
        "category": {"text": benefit["level_of_care_label"]},
        "excluded": excluded.get(benefit["covered"]),
        "network": _network(YES_NO.get(benefit["in_network"])),
        "authorizationRequired": YES_NO.get(benefit["prior_auth_required"]),
        "description": benefit["notes"],
        "benefit": [
            {"type": _concept("benefit-type", code, text=text), key: value}
            for code, text, key, value in allowances
            if value is not None
        ],
    }


def _plan_items(vob: dict[str, Any]) -> list[dict[str, Any]]:
    items = []
    for amount in vob["amounts"]:
        total, remaining = amount["total"], amount["remaining"]
        used = None
        if total is not None and remaining is not None:
            used = total - remaining
        # benefit-type has a code for deductibles, none for out-of-pocket maximums.
        code = "deductible" if amount["label"] == "Deductible" else None
        items.append(
            {
                "category": {"text": "Plan (all levels of care)"},
                "network": _network(amount["network"] == "in_network"),
                "unit": _concept("benefit-unit", amount["unit"]),
                "term": _concept("benefit-term", "annual"),
                "benefit": [
                    {
                        "type": _concept("benefit-type", code, text=amount["label"]),
                        "allowedMoney": _money(total),
                        "usedMoney": _money(used),
                    }
                ],
                "description": f"Remaining: ${remaining}"
                if remaining is not None
                else "",
            }
        )
    return items


def _eligibility_response(
    vob: dict[str, Any], bundle: _Bundle, patient: str, coverage: str, payer: str
) -> str:
    disposition = [vob["status_label"] + "."]
    if vob["not_a_guarantee"]:
        disposition.append("Quoted benefits are not a guarantee of payment.")
    if vob["behavioral_health_carve_out"]:
        carve_out = vob["behavioral_health_carve_out"]
        disposition.append(f"Behavioral health carve-out: {carve_out}.")
    if vob["utilization_review_contact"]:
        contact = vob["utilization_review_contact"]
        disposition.append(f"Utilization review contact: {contact}.")
    if vob["result_notes"]:
        disposition.append(vob["result_notes"])
    method = vob["method_label"] or "method not recorded"
    return bundle.add(
        f"eligibility-{vob['id']}",
        {
            "resourceType": "CoverageEligibilityResponse",
            "identifier": [_ident("verification", vob["id"])],
            "status": "active",
            "purpose": ["benefits"],
            "patient": {"reference": patient},
            "created": _instant(vob["completed_at"] or vob["requested_at"]),
            "requestor": {"display": vob["completed_by"]},
            # The request was a phone call, a portal look-up or a 270 kept
            # elsewhere: named, not linked.
            "request": {
                "identifier": _ident("verification", vob["id"]),
                "display": f"Verification of benefits #{vob['id']} ({method})",
            },
            "outcome": ELIGIBILITY_OUTCOME[vob["status"]],
            "disposition": " ".join(disposition),
            "insurer": {"reference": payer},
            "insurance": [
                {
                    "coverage": {"reference": coverage},
                    "inforce": YES_NO.get(vob["coverage_active"]),
                    "benefitPeriod": {
                        "start": _day(vob["policy_effective_on"]),
                        "end": _day(vob["policy_terminates_on"]),
                    },
                    "item": [
                        *_plan_items(vob),
                        *(_benefit_item(benefit) for benefit in vob["benefits"]),
                    ],
                }
            ],
        },
    )


def _authorization(
    auth: dict[str, Any], bundle: _Bundle, patient: str, payer: str | None
) -> str:
    """A payer's authorization, as the ClaimResponse of a pre-authorization."""
    notes = [f"{auth['level_of_care_label']}."]
    if auth["units_authorized"] is not None:
        unit = auth["unit_type_label"].lower()
        notes.append(f"{auth['units_authorized']} {unit} authorized.")
    if auth["next_review_on"]:
        notes.append(f"Next review {auth['next_review_on']:%Y-%m-%d}.")
    if auth["reviewer_contact"]:
        notes.append(f"Reviewer: {auth['reviewer_contact']}.")
    if auth["notes"]:
        notes.append(auth["notes"])
    insurer = {"reference": payer} if payer else {"display": "Payer not recorded"}
    return bundle.add(
        f"authorization-{auth['id']}",
        {
            "resourceType": "ClaimResponse",
            "identifier": [_ident("authorization", auth["id"])],
            "status": "active",
            "type": _concept("claim-type", "institutional"),
            "use": "preauthorization",
            "patient": {"reference": patient},
            "created": _instant(auth["created_at"]),
            "insurer": insurer,
            "outcome": "complete",
            "preAuthRef": auth["auth_number"],
            "preAuthPeriod": {
                "start": _day(auth["starts_on"]),
                "end": _day(auth["ends_on"]),
            },
            "processNote": [{"type": "display", "text": " ".join(notes)}],
        },
    )


def _encounter(admission: dict[str, Any], bundle: _Bundle, patient: str) -> str:
    residential = admission["level_of_care"] in RESIDENTIAL_LEVELS
    state_zip = f"{admission['state']} {admission['postal_code']}".strip()
    address = _joined(admission["street"], admission["city"], state_zip)
    provider = f"{admission['facility_name']} ({admission['program']})"
    arrangements = [{"text": "Travel arranged"}] if admission["travel_arranged"] else []
    return bundle.add(
        f"admission-{admission['id']}",
        {
            "resourceType": "Encounter",
            "identifier": [_ident("admission", admission["id"])],
            "status": ENCOUNTER_STATUS[admission["status"]],
            "class": {
                "system": HL7 + "v3-ActCode",
                "code": "IMP" if residential else "AMB",
                "display": "inpatient encounter" if residential else "ambulatory",
            },
            "serviceType": {"text": admission["level_of_care_label"]},
            "subject": {"reference": patient},
            "period": {
                "start": _instant(
                    admission["admitted_at"] or admission["scheduled_for"]
                )
            },
            "reasonCode": [{"text": admission["cancel_reason"]}],
            "serviceProvider": {"display": provider},
            "location": [{"location": {"display": address}}] if address else [],
            "hospitalization": {
                "admitSource": {"text": admission["travel_notes"]},
                "specialArrangement": arrangements,
            },
        },
    )


def consent_copy(consent: dict[str, Any]) -> str:
    """The consent in words: the copy §2.32(b) asks to send with a disclosure."""
    signed_at = timezone.localtime(consent["signed_at"])
    signature = (
        f"Signed by {consent['signed_by_name']} on {signed_at:%Y-%m-%d %H:%M %Z} "
        f"({consent['signature_method_label'].lower()})"
    )
    if not consent["signer_is_patient"]:
        signature += f", as {consent['signer_authority']}"
    lines = [
        f"Patient: {consent['patient_name']}",
        f"Who may disclose: {consent['disclosing_party']}",
        f"Information to be disclosed: {consent['information_described']}",
        f"Recipients: {consent['recipients']}",
        f"Purpose: {consent['purpose']}",
        f"Expires: {consent['expiry']}",
        signature,
        REVOCATION_RIGHT,
    ]
    if consent["for_treatment_payment_operations"]:
        lines.append(TPO_HIPAA_STATEMENT)
    if consent["revoked_at"]:
        revoked_at = timezone.localtime(consent["revoked_at"])
        lines.append(
            f"Revoked {revoked_at:%Y-%m-%d %H:%M %Z}: {consent['revocation_note']}"
        )
    return "\n".join(lines)


def _consent_extensions(consent: dict[str, Any]) -> list[dict[str, Any]]:
    extensions = [
        {"url": EXTENSION_BASE + "consent-purpose", "valueString": consent["purpose"]},
    ]
    if consent["expires_on_event"]:
        extensions.append(
            {
                "url": EXTENSION_BASE + "consent-expiry-event",
                "valueString": consent["expires_on_event"],
            }
        )
    if consent["revoked_at"]:
        # R4's Consent has no revocation element: when, by whom, and how.
        extensions.append(
            {
                "url": EXTENSION_BASE + "consent-revocation",
                "extension": [
                    {
                        "url": "revokedAt",
                        "valueDateTime": _instant(consent["revoked_at"]),
                    },
                    {"url": "recordedBy", "valueString": consent["revoked_by"]},
                    {"url": "note", "valueString": consent["revocation_note"]},
                ],
            }
        )
    return extensions


def _consent(consent: dict[str, Any], bundle: _Bundle, patient: str) -> str:
    if consent["for_treatment_payment_operations"]:
        purposes = [
            {"system": HL7 + "v3-ActReason", "code": code, "display": display}
            for code, display in (
                ("TREAT", "treatment"),
                ("HPAYMT", "healthcare payment"),
                ("HOPERAT", "healthcare operations"),
            )
        ]
    else:
        purposes = [{"display": consent["purpose"]}]
    signer = consent["signed_by_name"]
    if not consent["signer_is_patient"]:
        signer = f"{signer} ({consent['signer_authority']})"
    if consent["revoked_at"]:
        ends = _instant(consent["revoked_at"])
    else:
        ends = _day(consent["expires_on"])
    copy = consent_copy(consent)
    recipient_role = _concept(
        "v3-ParticipationType", "IRCP", display="information recipient"
    )
    return bundle.add(
        f"consent-{consent['id']}",
        {
            "resourceType": "Consent",
            "meta": {"security": SECURITY_LABELS},
            "text": _narrative(copy),
            "extension": _consent_extensions(consent),
            "identifier": [_ident("part2-consent", consent["id"])],
            "status": "active" if consent["status"] == "active" else "inactive",
            "scope": _concept("consentscope", "patient-privacy"),
            "category": [
                _concept("http://loinc.org", "59284-0", display="Patient Consent")
            ],
            "patient": {"reference": patient},
            "dateTime": _instant(consent["signed_at"]),
            "performer": [{"display": signer}],
            "organization": [{"display": consent["disclosing_party"]}],
            "sourceAttachment": {
                "contentType": "text/plain; charset=utf-8",
                "data": base64.b64encode(copy.encode()).decode(),
                "title": f"Part 2 consent #{consent['id']}",
                "creation": _instant(consent["signed_at"]),
            },
            "policyRule": _concept("v3-ActCode", "42CFRPart2", display="42 CFR Part2"),
            "verification": [
                {
                    "verified": True,
                    "verifiedWith": {"display": signer},
                    "verificationDate": _instant(consent["recorded_at"]),
                }
            ],
            "provision": {
                "type": "permit",
                "period": {"start": _instant(consent["signed_at"]), "end": ends},
                "actor": [
                    {
                        "role": recipient_role,
                        "reference": {"display": consent["recipients"]},
                    }
                ],
                "purpose": purposes,
                "code": [{"text": consent["information_described"]}],
            },
        },
    )


def _insurance_entries(
    packet: dict[str, Any], bundle: _Bundle, patient: str
) -> list[str]:
    coverage, payer = _coverage(packet, bundle, patient)
    refs = [coverage] if coverage else []
    vob = packet["verification"]
    if vob is not None and coverage and payer:
        refs.append(_eligibility_response(vob, bundle, patient, coverage, payer))
    refs += [
        _authorization(auth, bundle, patient, payer)
        for auth in packet["authorizations"]
    ]
    return refs


def _timeline_text(packet: dict[str, Any]) -> str:
    lines = []
    for row in packet["timeline"]:
        at = timezone.localtime(row["at"])
        line = f"{at:%Y-%m-%d %H:%M %Z} {row['kind_label']}: {row['summary']}"
        lines.append(f"{line} ({row['actor']})" if row["actor"] else line)
    return "\n".join(lines) or "Nothing happened on this lead yet."


def _disclosure_section(disclosure: dict[str, Any], bundle: _Bundle) -> dict:
    at = timezone.localtime(disclosure["at"])
    return {
        "title": "Disclosure",
        "text": _narrative(
            f"Disclosed to: {disclosure['recipient']}",
            f"Purpose: {disclosure['purpose']}",
            f"Under Part 2 consent #{disclosure['consent_id']} (copy enclosed)",
            f"By {disclosure['by']} on {at:%Y-%m-%d %H:%M %Z}",
        ),
        "entry": [{"reference": bundle.ref(f"consent-{disclosure['consent_id']}")}],
    }


def packet_fhir_json(packet: dict[str, Any], *, notice: str) -> dict[str, Any]:
    """The packet as a FHIR R4 Bundle (collection), the notice in its Composition."""
    bundle = _Bundle(packet["lead_id"])
    patient = _patient(packet, bundle)
    sections: list[tuple[str, list[str]]] = [("Patient", [patient])]
    if packet["caller"]:
        caller = _related_person(packet["caller"], bundle, patient)
        sections.append(("Caller", [caller]))
    if packet["prescreen"]:
        answers = _questionnaire_response(packet["prescreen"], bundle, patient)
        sections.append(("Pre-screen", [answers]))
    sections.append(("Insurance", _insurance_entries(packet, bundle, patient)))
    admissions = [_encounter(item, bundle, patient) for item in packet["admissions"]]
    sections.append(("Admissions", admissions))
    consents = [_consent(item, bundle, patient) for item in packet["consents"]]
    sections.append(("42 CFR Part 2 consents", consents))

    composition_sections = [
        {
            "title": "Notice to accompany disclosure (42 CFR §2.32)",
            "code": {"text": "42 CFR §2.32 redisclosure notice"},
            "text": _narrative(notice),
        }
    ]
    disclosure = packet["disclosure"]
    if disclosure:
        composition_sections.append(_disclosure_section(disclosure, bundle))
    composition_sections += [
        {"title": title, "entry": [{"reference": ref} for ref in refs]}
        for title, refs in sections
        if refs
    ]
    composition_sections.append(
        {"title": "Timeline summary", "text": _narrative(_timeline_text(packet))}
    )
    generated = _instant(packet["generated_at"])
    author = (disclosure or {}).get("disclosing_party") or settings.SMS_BRAND_NAME
    resources = bundle.entries
    bundle.entries = []
    bundle.add(
        f"composition-{packet['generated_at']:%Y%m%dT%H%M%S%f}",
        {
            "resourceType": "Composition",
            "meta": {"security": SECURITY_LABELS},
            "status": "final",
            "type": {"text": "Intake packet"},
            "subject": {"reference": patient},
            "date": generated,
            "author": [{"display": author}],
            "title": f"Intake packet, lead #{packet['lead_id']}",
            "confidentiality": "R",
            "section": composition_sections,
        },
    )
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "meta": {"lastUpdated": generated, "security": SECURITY_LABELS},
        "identifier": _ident(
            "intake-packet",
            f"lead-{packet['lead_id']}-{packet['generated_at']:%Y%m%dT%H%M%S}",
        ),
        "type": "collection",
        "timestamp": generated,
        "entry": [*bundle.entries, *resources],
    }


# --- PDF -----------------------------------------------------------------------------

PAGE_WIDTH, PAGE_HEIGHT = LETTER
MARGIN = 0.7 * inch
FOOTER_FONT_SIZE = 5.6
CONTENT_WIDTH = PAGE_WIDTH - 2 * MARGIN
Styles = dict[str, ParagraphStyle]


def _styles() -> dict[str, ParagraphStyle]:
    base = getSampleStyleSheet()
    body = ParagraphStyle(
        "packet-body", parent=base["BodyText"], fontSize=9, leading=11.5
    )
    return {
        "title": ParagraphStyle(
            "packet-title", parent=base["Title"], fontSize=16, alignment=TA_LEFT
        ),
        "h2": ParagraphStyle(
            "packet-h2",
            parent=base["Heading2"],
            fontSize=12,
            spaceBefore=10,
            keepWithNext=1,
        ),
        "h3": ParagraphStyle(
            "packet-h3",
            parent=base["Heading3"],
            fontSize=10,
            spaceBefore=6,
            keepWithNext=1,
        ),
        "body": body,
        "small": ParagraphStyle("packet-small", parent=body, fontSize=8, leading=10),
        "label": ParagraphStyle(
            "packet-label", parent=body, fontName="Helvetica-Bold", fontSize=8.5
        ),
        "notice": ParagraphStyle("packet-notice", parent=body, fontSize=8, leading=10),
        "footer": ParagraphStyle(
            "packet-footer",
            parent=body,
            fontSize=FOOTER_FONT_SIZE,
            leading=FOOTER_FONT_SIZE + 1.2,
            textColor=colors.HexColor("#333333"),
        ),
    }


def _text(value: Any) -> str:
    """A value as the reader should see it, escaped for reportlab's markup."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, datetime):
        value = f"{timezone.localtime(value):%Y-%m-%d %H:%M %Z}"
    elif isinstance(value, date):
        value = f"{value:%Y-%m-%d}"
    elif isinstance(value, Decimal):
        value = f"{value:,.2f}"
    elif isinstance(value, list):
        value = "; ".join(str(item) for item in value) or "—"
    return xml_escape(str(value)).replace("\n", "<br/>")


def _notice_markup(notice: str) -> str:
    return xml_escape(notice).replace("\n", "<br/>")


def _facts(rows: Iterable[tuple[str, Any]], styles: dict[str, ParagraphStyle]):
    data = [
        [
            Paragraph(xml_escape(label), styles["label"]),
            Paragraph(_text(value), styles["body"]),
        ]
        for label, value in rows
    ]
    if not data:
        return Paragraph("Nothing recorded.", styles["body"])
    table = Table(data, colWidths=[1.9 * inch, PAGE_WIDTH - 2 * MARGIN - 1.9 * inch])
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.HexColor("#dddddd")),
                ("TOPPADDING", (0, 0), (-1, -1), 2),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
            ]
        )
    )
    return table


def _grid(
    header: list[str],
    rows: list[list[Any]],
    widths: list[float],
    styles: dict[str, ParagraphStyle],
):
    data = [[Paragraph(xml_escape(cell), styles["label"]) for cell in header]]
    data += [[Paragraph(_text(cell), styles["small"]) for cell in row] for row in rows]
    table = Table(data, colWidths=[width * inch for width in widths], repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eef1f5")),
                ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.HexColor("#dddddd")),
                ("TOPPADDING", (0, 0), (-1, -1), 2),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
            ]
        )
    )
    return table


def _yes_no(value: str) -> str:
    return _label(YesNoUnknown, value)


def _pdf_header(packet: dict[str, Any], notice: str, styles: Styles) -> list[Any]:
    title = f"Intake packet · lead #{packet['lead_id']}"
    heading = (
        "<b>Confidential: 42 CFR Part 2 record. Notice to accompany disclosure "
        "(42 CFR §2.32)</b>"
    )
    box = Table(
        [
            [Paragraph(heading, styles["notice"])],
            [Paragraph(_notice_markup(notice), styles["notice"])],
        ],
        colWidths=[CONTENT_WIDTH],
    )
    box.setStyle(
        TableStyle(
            [
                ("BOX", (0, 0), (-1, -1), 1, colors.HexColor("#9b1c1c")),
                ("BACKGROUND", (0, 0), (-1, -1), colors.HexColor("#fdf2f2")),
                ("LEFTPADDING", (0, 0), (-1, -1), 6),
                ("RIGHTPADDING", (0, 0), (-1, -1), 6),
            ]
        )
    )
    disclosure = packet["disclosure"]
    if disclosure:
        facts = [
            ("Disclosed to", disclosure["recipient"]),
            ("Purpose", disclosure["purpose"]),
            ("Under consent", f"Part 2 consent #{disclosure['consent_id']}"),
            ("Disclosed by", f"{disclosure['by']}, {_text(disclosure['at'])}"),
            ("Who discloses", disclosure["disclosing_party"]),
        ]
    else:
        facts = [("Generated", packet["generated_at"])]
    return [Paragraph(title, styles["title"]), box, Spacer(1, 6), _facts(facts, styles)]


def _pdf_people(packet: dict[str, Any], styles: Styles) -> list[Any]:
    person = packet["patient"]
    story: list[Any] = [
        Paragraph("Patient", styles["h2"]),
        _facts(
            [
                ("Name", person["name"]),
                ("Date of birth", person["date_of_birth"]),
                ("Phone", person["phone"]),
                ("E-mail", person["email"]),
                ("City, state", _joined(person["city"], person["state"])),
                ("Preferred language", person["preferred_language_label"]),
                ("Stage", person["stage_label"]),
                ("Level of care sought", person["level_of_care_label"]),
                ("Urgency", person["urgency_label"]),
                ("Substances (first contact)", person["substances"]),
                (
                    "Co-occurring mental health",
                    person["co_occurring_mental_health_label"],
                ),
                ("Intake notes", person["intake_notes"]),
            ],
            styles,
        ),
        Paragraph("Caller", styles["h2"]),
    ]
    caller = packet["caller"]
    if caller is None:
        story.append(Paragraph("The patient called for themselves.", styles["body"]))
        return story
    story.append(
        _facts(
            [
                ("Name", caller["name"]),
                ("Relationship", caller["relationship_label"]),
                ("Phone", caller["phone"]),
                ("E-mail", caller["email"]),
                ("Patient consents to caller", caller["patient_consents_label"]),
            ],
            styles,
        )
    )
    return story


def _pdf_prescreen(prescreen: dict[str, Any] | None, styles: Styles) -> list[Any]:
    story: list[Any] = [Paragraph("Pre-screen", styles["h2"])]
    if prescreen is None:
        return [*story, Paragraph("No pre-screen recorded.", styles["body"])]
    saved = (
        f"Version {prescreen['version']}, saved by "
        f"{xml_escape(prescreen['created_by'])} on {_text(prescreen['created_at'])}."
    )
    if prescreen["safety_flagged"]:
        saved += " <b>Safety screen positive.</b>"
    story.append(Paragraph(saved, styles["body"]))
    for group in prescreen["groups"]:
        rows = [(answer["question"], answer["value"]) for answer in group["answers"]]
        story += [
            Paragraph(xml_escape(group["title"]), styles["h3"]),
            _facts(rows, styles),
        ]
    return story


def _benefit_row(benefit: dict[str, Any]) -> list[Any]:
    days, visits = benefit["day_limit"], benefit["visit_limit"]
    copay = benefit["copay"]
    return [
        benefit["level_of_care_label"],
        _yes_no(benefit["covered"]),
        _yes_no(benefit["prior_auth_required"]),
        _yes_no(benefit["in_network"]),
        _joined(
            f"{days} days" if days is not None else "",
            f"{visits} visits" if visits is not None else "",
        ),
        _joined(
            _percent(benefit["coinsurance_percent"]),
            f"${copay} copay" if copay is not None else "",
        ),
        benefit["notes"],
    ]


def _pdf_verification(packet: dict[str, Any], styles: Styles) -> list[Any]:
    story: list[Any] = [Paragraph("Insurance verification", styles["h2"])]
    vob = packet["verification"]
    if vob is None:
        story.append(Paragraph("No verification of benefits on file.", styles["body"]))
        told = packet["patient"]["insurance_as_told"]
        if told["payer"]:
            rows = [
                ("Payer (as told)", told["payer"]),
                ("Member id (as told)", told["member_id"]),
                ("Group number (as told)", told["group_number"]),
                ("Subscriber (as told)", told["subscriber_name"]),
            ]
            story.append(_facts(rows, styles))
        return story
    method = _joined(
        vob["method_label"] or "Method not recorded",
        f"rep {vob['payer_rep_name']}" if vob["payer_rep_name"] else "",
        f"ref {vob['call_reference']}" if vob["call_reference"] else "",
    )
    policy_dates = (vob["policy_effective_on"], vob["policy_terminates_on"])
    policy = (
        " to ".join(_text(day) for day in policy_dates) if any(policy_dates) else ""
    )
    coinsurance = " / ".join(
        _percent(vob[name]) or "—"
        for name in (
            "coinsurance_in_network_percent",
            "coinsurance_out_of_network_percent",
        )
    )
    copay = " / ".join(
        _text(vob[name]) for name in ("copay_in_network", "copay_out_of_network")
    )
    rows = [
        ("Status", vob["status_label"]),
        ("Payer", vob["payer"]),
        ("Plan type", vob["plan_type_label"]),
        ("Member id", vob["member_id"]),
        ("Group number", vob["group_number"]),
        ("Subscriber", vob["subscriber_name"]),
        ("Subscriber's date of birth", vob["subscriber_date_of_birth"]),
        ("Relationship to subscriber", vob["subscriber_relationship_label"]),
        (
            "Secondary coverage",
            _joined(vob["secondary_payer_name"], vob["secondary_member_id"], sep=" "),
        ),
        ("Policy dates", policy),
        ("Verified by", method),
        ("Completed", vob["completed_at"]),
        ("Coverage active", _yes_no(vob["coverage_active"])),
        ("Network", vob["network_status_label"]),
        ("Coinsurance in / out of network", coinsurance),
        ("Copay in / out of network", copay),
        ("Behavioral health carve-out", vob["behavioral_health_carve_out"]),
        ("Utilization review", vob["utilization_review_contact"]),
        ("Notes", vob["result_notes"]),
    ]
    story.append(_facts(rows, styles))
    if vob["not_a_guarantee"]:
        guarantee = "<i>Quoted benefits are not a guarantee of payment.</i>"
        story.append(Paragraph(guarantee, styles["small"]))
    if vob["amounts"]:
        amounts = [
            [
                amount["label"],
                "In" if amount["network"] == "in_network" else "Out",
                amount["unit"].capitalize(),
                amount["total"],
                amount["remaining"],
            ]
            for amount in vob["amounts"]
        ]
        header = ["", "Network", "Individual / family", "Total", "Remaining"]
        story += [
            Paragraph("Deductibles and out-of-pocket maximums", styles["h3"]),
            _grid(header, amounts, [2.0, 0.8, 1.4, 1.4, 1.4], styles),
        ]
    if vob["benefits"]:
        header = [
            "Level of care",
            "Covered",
            "Pre-auth",
            "In network",
            "Limits",
            "Cost share",
            "Notes",
        ]
        benefits = [_benefit_row(benefit) for benefit in vob["benefits"]]
        story += [
            Paragraph("Coverage by level of care", styles["h3"]),
            _grid(header, benefits, [1.2, 0.75, 0.7, 0.75, 0.9, 1.0, 1.8], styles),
        ]
    return story


def _pdf_authorizations(packet: dict[str, Any], styles: Styles) -> list[Any]:
    story: list[Any] = [Paragraph("Authorizations", styles["h2"])]
    if not packet["authorizations"]:
        return [*story, Paragraph("None recorded.", styles["body"])]
    rows = [
        [
            auth["auth_number"],
            auth["level_of_care_label"],
            f"{_text(auth['starts_on'])} to {_text(auth['ends_on'])}",
            _joined(auth["units_authorized"], auth["unit_type_label"].lower(), sep=" ")
            if auth["units_authorized"] is not None
            else "",
            auth["next_review_on"],
            auth["reviewer_contact"],
        ]
        for auth in packet["authorizations"]
    ]
    header = ["Auth number", "Level of care", "Dates", "Authorized", "Next review"]
    header.append("Reviewer")
    story.append(_grid(header, rows, [1.1, 1.1, 1.5, 0.9, 0.9, 1.5], styles))
    return story


def _pdf_admissions(packet: dict[str, Any], styles: Styles) -> list[Any]:
    story: list[Any] = [Paragraph("Admissions", styles["h2"])]
    if not packet["admissions"]:
        return [*story, Paragraph("None recorded.", styles["body"])]
    rows = []
    for item in packet["admissions"]:
        where = _joined(item["facility_name"], item["city"], item["state"])
        travel = "Arranged" if item["travel_arranged"] else "Not arranged"
        rows.append(
            [
                f"{item['program']} ({where})",
                item["level_of_care_label"],
                item["scheduled_for"],
                _joined(item["status_label"], item["cancel_reason"], sep=": "),
                item["admitted_at"],
                _joined(travel, item["travel_notes"], sep=". "),
            ]
        )
    header = ["Program", "Level of care", "Scheduled", "Status", "Admitted", "Travel"]
    story.append(_grid(header, rows, [1.9, 1.0, 1.1, 1.0, 1.1, 0.9], styles))
    return story


def _pdf_consents(packet: dict[str, Any], styles: Styles) -> list[Any]:
    story: list[Any] = [Paragraph("42 CFR Part 2 consents", styles["h2"])]
    if not packet["consents"]:
        return [*story, Paragraph("None recorded.", styles["body"])]
    for consent in packet["consents"]:
        title = f"Consent #{consent['id']} ({consent['status']})"
        story.append(
            KeepTogether(
                [
                    Paragraph(title, styles["h3"]),
                    Paragraph(_text(consent_copy(consent)), styles["small"]),
                ]
            )
        )
    return story


def _pdf_timeline(packet: dict[str, Any], styles: Styles) -> list[Any]:
    explanation = (
        "Events on the lead, oldest first; the words of messages and notes are "
        "not included."
    )
    story: list[Any] = [
        Paragraph("Timeline summary", styles["h2"]),
        Paragraph(explanation, styles["small"]),
    ]
    rows = [
        [row["at"], row["kind_label"], row["summary"], row["actor"]]
        for row in packet["timeline"]
    ]
    if rows:
        header = ["When", "What", "Summary", "By"]
        story.append(_grid(header, rows, [1.5, 1.1, 3.4, 1.1], styles))
    return story


def _pdf_story(packet: dict[str, Any], notice: str, styles: Styles) -> list[Any]:
    return [
        *_pdf_header(packet, notice, styles),
        *_pdf_people(packet, styles),
        *_pdf_prescreen(packet["prescreen"], styles),
        *_pdf_verification(packet, styles),
        *_pdf_authorizations(packet, styles),
        *_pdf_admissions(packet, styles),
        *_pdf_consents(packet, styles),
        *_pdf_timeline(packet, styles),
    ]


def packet_pdf(packet: dict[str, Any], *, notice: str) -> bytes:
    """The packet as a PDF: the notice atop page 1 and in every page's footer."""
    styles = _styles()
    width = PAGE_WIDTH - 2 * MARGIN
    footer = Paragraph(_notice_markup(notice), styles["footer"])
    _, footer_height = footer.wrap(width, PAGE_HEIGHT)
    bottom_margin = MARGIN + footer_height + 18
    lead_id = packet["lead_id"]

    def draw_footer(canvas, doc) -> None:
        canvas.saveState()
        top = MARGIN + footer_height + 8
        canvas.setStrokeColor(colors.HexColor("#999999"))
        canvas.setLineWidth(0.5)
        canvas.line(MARGIN, top + 2, PAGE_WIDTH - MARGIN, top + 2)
        canvas.setFont("Helvetica", 7)
        canvas.drawString(
            MARGIN,
            top + 6,
            f"Intake packet, lead #{lead_id} · confidential 42 CFR Part 2 record",
        )
        canvas.drawRightString(PAGE_WIDTH - MARGIN, top + 6, f"Page {doc.page}")
        footer.drawOn(canvas, MARGIN, MARGIN)
        canvas.restoreState()

    buffer = BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=LETTER,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=bottom_margin,
        # The title shows in viewers' tabs and recent-file lists: no name in it.
        title=f"Intake packet, lead #{lead_id}",
        author=(packet["disclosure"] or {}).get("disclosing_party", ""),
        subject="42 CFR Part 2 protected record",
    )
    document.build(
        _pdf_story(packet, notice, styles),
        onFirstPage=draw_footer,
        onLaterPages=draw_footer,
    )
    return buffer.getvalue()


# --- Export --------------------------------------------------------------------------

RENDERERS: dict[str, Callable[[dict[str, Any], str], bytes]] = {
    "pdf": lambda packet, notice: packet_pdf(packet, notice=notice),
    "json": lambda packet, notice: json.dumps(
        packet_fhir_json(packet, notice=notice), indent=2, ensure_ascii=False
    ).encode("utf-8"),
}


@transaction.atomic
def intake_packet_export(
    *, lead: Lead, by: User, format: str, recipient: str, purpose: str
) -> tuple[str, str, bytes]:
    """Build the lead's intake packet for `recipient` and log the disclosure.

    Refused unless the lead is admitted or its admission is scheduled, and unless
    an active Part 2 consent covers the recipient. Returns the file's name,
    content type and bytes.
    """
    recipient, purpose = (recipient or "").strip(), (purpose or "").strip()
    errors: dict[str, list[str]] = {}
    if format not in FORMATS:
        errors["format"] = ["Choose PDF or FHIR JSON."]
    if not recipient:
        errors["recipient"] = ["Name who receives the packet."]
    if not purpose:
        errors["purpose"] = ["Say what the packet is for (e.g. admission intake)."]
    if errors:
        raise ValidationError(errors)
    if lead.stage not in EXPORTABLE_STAGES:
        raise ValidationError(
            f"The intake packet goes to the receiving program of an admitted lead or "
            f"one whose admission is scheduled; this lead is in "
            f"{lead.get_stage_display()}."
        )
    now = timezone.now()
    consent = part2_consent_for(lead=lead, recipient=recipient, at=now)
    if consent is None:
        raise ValidationError(
            {
                "recipient": [
                    "A disclosure needs a structured Part 2 consent on file: no "
                    f'active consent names "{recipient}" or covers treatment, '
                    "payment and health care operations. Record the patient's "
                    "signed consent first."
                ]
            }
        )
    packet = intake_packet(lead=lead)
    packet["disclosure"] = {
        "recipient": recipient,
        "purpose": purpose,
        "consent_id": consent.pk,
        "disclosing_party": consent.disclosing_party,
        "by": str(by),
        "at": now,
    }
    content = RENDERERS[format](packet, REDISCLOSURE_NOTICE)
    contents = packet_contents(packet)
    disclosure = disclosure_record(
        lead=lead,
        consent=consent,
        kind=Disclosure.Kind.INTAKE_PACKET,
        recipient=recipient,
        purpose=purpose,
        information="Intake packet: " + "; ".join(contents) + ".",
        format=format,
        by=by,
    )
    audit_record(
        actor=by,
        action="export",
        object_type="lead",
        object_id=lead.pk,
        lead_id=lead.pk,
        fields=["intake_packet"],
        detail=f"intake_packet format={format} disclosure={disclosure.pk}",
    )
    logger.info(
        "intake packet exported lead_id=%s disclosure_id=%s format=%s bytes=%s",
        lead.pk,
        disclosure.pk,
        format,
        len(content),
    )
    extension = "pdf" if format == "pdf" else "fhir.json"
    filename = (
        f"intake-packet-lead-{lead.pk}-{timezone.localdate(now):%Y%m%d}.{extension}"
    )
    return filename, FORMATS[format], content
