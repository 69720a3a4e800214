"""The intake packet as a FHIR R4 Bundle (collection).

Where the Bundle carries the 42 CFR §2.32 notice: a Bundle has no extensions and
`meta.security` holds only codes, so the Bundle is labelled (confidentiality R,
42CFRPart2, ETH, NORDSCLCD) and its first entry is a `Composition` whose first
section is the notice, word for word, followed by the disclosure (to whom, why,
under which consent) and sections pointing at the other entries.
"""

import base64
import uuid
from datetime import date, datetime
from decimal import Decimal
from html import escape
from typing import Any

from django.conf import settings

from ...models import CallerRelationship, Language, YesNoUnknown
from ..consent import REVOCATION_RIGHT, TPO_HIPAA_STATEMENT
from ..models import (
    Admission,
    CoveredLevel,
    InsuranceVerification,
    SubscriberRelationship,
)
from .gather import NOT_A_GUARANTEE, _joined, _local_time, _percent

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
        disposition.append(NOT_A_GUARANTEE)
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
    signed_at = _local_time(consent["signed_at"])
    signature = (
        f"Signed by {consent['signed_by_name']} on {signed_at} "
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
        revoked_at = _local_time(consent["revoked_at"])
        lines.append(f"Revoked {revoked_at}: {consent['revocation_note']}")
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
        line = f"{_local_time(row['at'])} {row['kind_label']}: {row['summary']}"
        lines.append(f"{line} ({row['actor']})" if row["actor"] else line)
    return "\n".join(lines) or "Nothing happened on this lead yet."


def _disclosure_section(disclosure: dict[str, Any], bundle: _Bundle) -> dict:
    return {
        "title": "Disclosure",
        "text": _narrative(
            f"Disclosed to: {disclosure['recipient']}",
            f"Purpose: {disclosure['purpose']}",
            f"Under Part 2 consent #{disclosure['consent_id']} (copy enclosed)",
            f"By {disclosure['by']} on {_local_time(disclosure['at'])}",
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
