"""42 CFR Part 2 consents and the disclosures made under them.

A consent is recorded with every element §2.31 asks for, is revoked (kept, never
deleted) when the patient withdraws it, and lapses on its expiry date. Every
disclosure names the consent it relies on, carries the §2.32 notice, and is kept
for the patient's accounting of disclosures (§2.24/§2.25).
"""

import logging
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from crm.models import User
from crm.services import audit_record

from ..models import Activity, Lead
from ..services import lead_activity_record
from .models import Disclosure, Part2Consent, PartnerFacility

logger = logging.getLogger(__name__)

# 42 CFR §2.32(a)(1), "Statement 1", as amended by the 2024 final rule (89 FR 12472,
# effective 16 April 2024). Word for word: a recipient must be able to read what
# the rule says, not our summary of it.
REDISCLOSURE_NOTICE = (
    "This record which has been disclosed to you is protected by Federal "
    "confidentiality rules (42 CFR part 2). These rules prohibit you from using or "
    "disclosing this record, or testimony that describes the information contained "
    "in this record, in any civil, criminal, administrative, or legislative "
    "proceedings by any Federal, State, or local authority, against the patient, "
    "unless authorized by the consent of the patient, except as provided at 42 CFR "
    "2.12(c)(5) or as authorized by a court in accordance with 42 CFR 2.64 or 2.65. "
    "In addition, the Federal rules prohibit you from making any other use or "
    "disclosure of this record unless at least one of the following applies:\n"
    "(i) Further use or disclosure is expressly permitted by the written consent of "
    "the individual whose information is being disclosed in this record or as "
    "otherwise permitted by 42 CFR part 2.\n"
    "(ii) You are a covered entity or business associate and have received the "
    "record for treatment, payment, or health care operations, or\n"
    "(iii) You have received the record from a covered entity or business "
    "associate as permitted by 45 CFR part 164, subparts A and E.\n"
    "A general authorization for the release of medical or other information is "
    "NOT sufficient to meet the required elements of written consent to further "
    "use or redisclose the record (see 42 CFR 2.31)."
)

# §2.31(a)(4)(i): how a single consent for treatment, payment and health care
# operations may describe its recipients.
TPO_RECIPIENTS = (
    "my treating providers, health plans, third-party payers, and people helping "
    "to operate this program"
)
# §2.31(a)(4)(iii): a TPO consent tells the patient that HIPAA's rules then govern
# redisclosure, except in proceedings against them.
TPO_HIPAA_STATEMENT = (
    "My record (or information contained in my record) may be redisclosed in "
    "accordance with the permissions contained in the HIPAA regulations, except "
    "for uses and disclosures for civil, criminal, administrative, and "
    "legislative proceedings against me."
)
# §2.31(a)(5): shown on the consent form and in every copy of the consent.
REVOCATION_RIGHT = (
    "I may revoke this consent in writing at any time, except to the extent that "
    "the program or other lawful holder of my records has already acted in "
    "reliance on it."
)
# §2.31(a)(6): "end of treatment", "none" and the like suffice only for a TPO
# consent; any other consent needs a date or an event that ends it.
OPEN_ENDED_EVENTS = frozenset(
    {
        "none",
        "no expiry",
        "no expiration",
        "never",
        "end of treatment",
        "end of the treatment",
    }
)

CONSENT_TEXT_FIELDS: tuple[str, ...] = (
    "patient_name",
    "disclosing_party",
    "information_described",
    "recipients",
    "purpose",
    "expires_on_event",
    "signed_by_name",
    "signer_authority",
)
CONSENT_FIELDS: tuple[str, ...] = (
    *CONSENT_TEXT_FIELDS,
    "partner",
    "for_treatment_payment_operations",
    "expires_on",
    "signed_at",
    "signature_method",
    "signer_is_patient",
)
REQUIRED_TEXT: dict[str, str] = {
    "patient_name": "Give the patient's name as on the signed consent.",
    "disclosing_party": "Name who may disclose (this program).",
    "information_described": (
        "Describe specifically what may be disclosed (e.g. intake pre-screen, "
        "insurance verification, admission dates)."
    ),
    "recipients": "Name to whom the records may be disclosed.",
    "purpose": "Say what the disclosure is for.",
    "signed_by_name": "Give the name of the person who signed.",
}


def _local_date(at: datetime) -> date:
    return timezone.localdate(at)


def _clean_consent(data: Mapping[str, Any], *, now: datetime) -> dict[str, Any]:
    """Check every §2.31 element; return the values to store or raise field errors."""
    unknown = set(data) - set(CONSENT_FIELDS)
    if unknown:
        raise ValidationError(
            {name: ["This field is not part of a consent."] for name in sorted(unknown)}
        )
    values: dict[str, Any] = {
        name: (data.get(name) or "").strip() for name in CONSENT_TEXT_FIELDS
    }
    values["partner"] = data.get("partner")
    values["for_treatment_payment_operations"] = bool(
        data.get("for_treatment_payment_operations")
    )
    values["expires_on"] = data.get("expires_on")
    values["signed_at"] = data.get("signed_at")
    values["signature_method"] = data.get("signature_method") or ""
    values["signer_is_patient"] = bool(data.get("signer_is_patient", True))

    partner: PartnerFacility | None = values["partner"]
    if partner is not None and not values["recipients"]:
        # Naming the partner names the recipient.
        values["recipients"] = partner.name

    errors: dict[str, list[str]] = {}
    for name, message in REQUIRED_TEXT.items():
        if not values[name]:
            errors[name] = [message]
    if partner is not None and not partner.is_active:
        errors["partner"] = [f"{partner} is no longer an active partner facility."]
    if values["signature_method"] not in Part2Consent.SignatureMethod.values:
        errors["signature_method"] = ["Say how the consent was signed."]
    if not values["signer_is_patient"] and not values["signer_authority"]:
        errors["signer_authority"] = [
            "Someone other than the patient signed: give their authority "
            "(e.g. legal guardian, parent of a minor, health care power of attorney)."
        ]

    signed_at: datetime | None = values["signed_at"]
    if signed_at is None:
        errors["signed_at"] = ["Give the date and time the consent was signed."]
    elif signed_at > now:
        errors["signed_at"] = ["A consent cannot be signed in the future."]

    expires_on: date | None = values["expires_on"]
    event = values["expires_on_event"]
    tpo = values["for_treatment_payment_operations"]
    if expires_on is None and not event:
        errors["expires_on"] = [
            "Give an expiry date or the event that ends the consent"
            + (' ("end of treatment" or "none" for a TPO consent).' if tpo else ".")
        ]
    elif expires_on is not None:
        if signed_at is not None and expires_on < _local_date(signed_at):
            errors["expires_on"] = ["The consent cannot expire before it was signed."]
        elif expires_on < _local_date(now):
            errors["expires_on"] = [
                "This consent has already expired: no disclosure could rely on it."
            ]
    if not tpo and event.lower().rstrip(".") in OPEN_ENDED_EVENTS:
        errors["expires_on_event"] = [
            f'"{event}" may end only a consent for treatment, payment and health '
            "care operations; give a date or a specific event for this one."
        ]
    if errors:
        raise ValidationError(errors)
    return values


@transaction.atomic
def part2_consent_record(
    *, lead: Lead, by: User, data: Mapping[str, Any]
) -> Part2Consent:
    """Record a patient's signed Part 2 consent, every §2.31 element checked."""
    now = timezone.now()
    values = _clean_consent(data, now=now)
    if values["signer_is_patient"]:
        values["signer_authority"] = ""
    consent = Part2Consent(lead=lead, recorded_at=now, recorded_by=by, **values)
    consent.full_clean(exclude=["lead", "partner", "recorded_by", "revoked_by"])
    consent.save()
    kind = "TPO consent" if consent.for_treatment_payment_operations else "consent"
    lead_activity_record(
        lead=lead,
        kind=Activity.Kind.CONSENT,
        actor=by,
        summary=f"Part 2 {kind} #{consent.pk} recorded "
        f"(to {_short(consent.recipients)}, until {part2_consent_expiry(consent)})",
        data={"consent": consent.pk, "action": "recorded"},
        at=now,
    )
    audit_record(
        actor=by,
        action="create",
        object_type="part2consent",
        object_id=consent.pk,
        lead_id=lead.pk,
        fields=[name for name in CONSENT_FIELDS if values.get(name) not in ("", None)],
    )
    logger.info("part 2 consent recorded lead_id=%s consent_id=%s", lead.pk, consent.pk)
    return consent


@transaction.atomic
def part2_consent_revoke(*, consent: Part2Consent, by: User, note: str) -> Part2Consent:
    """Withdraw a consent from now on; the record stays for the accounting."""
    note = (note or "").strip()
    if not note:
        raise ValidationError(
            {
                "note": [
                    "Say how the patient revoked the consent (e.g. signed letter "
                    "received today)."
                ]
            }
        )
    # Lock the row: two people revoking at once must not both write a revocation.
    consent = Part2Consent.objects.select_for_update().get(pk=consent.pk)
    if consent.revoked_at is not None:
        raise ValidationError({"note": [f"Consent #{consent.pk} was already revoked."]})
    now = timezone.now()
    consent.revoked_at = now
    consent.revoked_by = by
    consent.revocation_note = note
    consent.save(update_fields=["revoked_at", "revoked_by", "revocation_note"])
    lead_activity_record(
        lead=consent.lead,
        kind=Activity.Kind.CONSENT,
        actor=by,
        summary=f"Part 2 consent #{consent.pk} revoked: no further disclosures "
        "under it",
        data={"consent": consent.pk, "action": "revoked"},
        at=now,
    )
    audit_record(
        actor=by,
        action="update",
        object_type="part2consent",
        object_id=consent.pk,
        lead_id=consent.lead_id,
        fields=["revoked_at", "revoked_by", "revocation_note"],
    )
    logger.info(
        "part 2 consent revoked lead_id=%s consent_id=%s", consent.lead_id, consent.pk
    )
    return consent


def part2_consent_expiry(consent: Part2Consent) -> str:
    """The consent's end as people say it: a date, an event, or both."""
    parts = []
    if consent.expires_on is not None:
        parts.append(f"{consent.expires_on:%Y-%m-%d}")
    if consent.expires_on_event:
        parts.append(consent.expires_on_event)
    return " or ".join(parts)


def part2_consent_active(consent: Part2Consent, at: datetime | None = None) -> bool:
    """Whether a disclosure at `at` may rely on the consent.

    An expiry event ("end of treatment", a discharge) is not something the system
    can observe: such a consent stays active until it is revoked or its date passes.
    """
    at = at or timezone.now()
    if consent.signed_at > at:
        return False
    if consent.revoked_at is not None and consent.revoked_at <= at:
        return False
    return consent.expires_on is None or _local_date(at) <= consent.expires_on


def part2_consent_status(consent: Part2Consent, at: datetime | None = None) -> str:
    """ "active", "revoked" or "expired", for badges and the packet."""
    at = at or timezone.now()
    if consent.revoked_at is not None and consent.revoked_at <= at:
        return "revoked"
    if part2_consent_active(consent, at):
        return "active"
    return "expired"


def part2_consents_active(
    *, lead: Lead, at: datetime | None = None
) -> list[Part2Consent]:
    """The consents a disclosure at `at` may rely on, newest signature first."""
    at = at or timezone.now()
    return list(
        Part2Consent.objects.filter(lead=lead, signed_at__lte=at)
        .filter(Q(revoked_at__isnull=True) | Q(revoked_at__gt=at))
        .filter(Q(expires_on__isnull=True) | Q(expires_on__gte=_local_date(at)))
        .select_related("partner")
        .order_by("-signed_at", "-id")
    )


def part2_consent_covering(
    consents: Iterable[Part2Consent],
    *,
    recipient: str | None = None,
    partner: PartnerFacility | None = None,
) -> Part2Consent | None:
    """Which of `consents` (all active) covers a disclosure to the recipient.

    A consent covers a recipient when it names that partner facility, when its
    recipients text names the recipient (case-insensitive), or when it is a
    single consent for treatment, payment and health care operations. The most
    specific one wins: partner, then named recipient, then TPO; the order of
    `consents` breaks ties. With neither given, the first consent will do.
    """
    consents = list(consents)
    if recipient is None and partner is None:
        return consents[0] if consents else None
    names = [
        name.strip().casefold()
        for name in (recipient, partner.name if partner is not None else None)
        if name and name.strip()
    ]

    def names_partner(consent: Part2Consent) -> bool:
        return partner is not None and consent.partner_id == partner.pk

    def names_recipient(consent: Part2Consent) -> bool:
        text = consent.recipients.casefold()
        return any(name in text for name in names)

    def is_tpo(consent: Part2Consent) -> bool:
        return consent.for_treatment_payment_operations

    for covers in (names_partner, names_recipient, is_tpo):
        for consent in consents:
            if covers(consent):
                return consent
    return None


def part2_consent_for(
    *,
    lead: Lead,
    recipient: str | None = None,
    partner: PartnerFacility | None = None,
    at: datetime | None = None,
) -> Part2Consent | None:
    """The active, unrevoked, unexpired consent covering `recipient` / `partner`.

    See `part2_consent_covering` for what covers a recipient.
    """
    consents = part2_consents_active(lead=lead, at=at)
    return part2_consent_covering(consents, recipient=recipient, partner=partner)


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@transaction.atomic
def disclosure_record(
    *,
    lead: Lead,
    consent: Part2Consent,
    kind: str,
    recipient: str,
    purpose: str,
    information: str,
    format: str,
    by: User,
) -> Disclosure:
    """Log a disclosure for the patient's accounting, with the §2.32 notice sent."""
    recipient, purpose, information = (
        (recipient or "").strip(),
        (purpose or "").strip(),
        (information or "").strip(),
    )
    errors: dict[str, list[str]] = {}
    if kind not in Disclosure.Kind.values:
        errors["kind"] = [f"{kind!r} is not a kind of disclosure."]
    if not recipient:
        errors["recipient"] = ["Name who receives the records."]
    if not purpose:
        errors["purpose"] = ["Say what the disclosure is for."]
    if not information:
        errors["information"] = ["Say what is disclosed."]
    if consent.lead_id != lead.pk:
        errors["consent"] = ["This consent belongs to another lead."]
    if errors:
        raise ValidationError(errors)
    # Lock and re-read the consent: a revocation committed a moment ago, or racing
    # this disclosure, must win over the copy the caller holds.
    consent = Part2Consent.objects.select_for_update().get(pk=consent.pk)
    now = timezone.now()
    if not part2_consent_active(consent, now):
        status = part2_consent_status(consent, now)
        raise ValidationError(
            {
                "consent": [
                    f"Consent #{consent.pk} is {status}: a disclosure needs an "
                    "active Part 2 consent."
                ]
            }
        )
    disclosure = Disclosure.objects.create(
        lead=lead,
        consent=consent,
        kind=kind,
        recipient=recipient[:300],
        purpose=purpose[:300],
        information_disclosed=information,
        format=format or "",
        notice_text=REDISCLOSURE_NOTICE,
        disclosed_at=now,
        disclosed_by=by,
    )
    label = Disclosure.Kind(kind).label
    lead_activity_record(
        lead=lead,
        kind=Activity.Kind.DISCLOSURE,
        actor=by,
        summary=f"{label}{f' ({format.upper()})' if format else ''} disclosed to "
        f"{_short(recipient)} under Part 2 consent #{consent.pk}",
        data={"disclosure": disclosure.pk, "consent": consent.pk, "kind": kind},
        at=now,
    )
    audit_record(
        actor=by,
        action="create",
        object_type="disclosure",
        object_id=disclosure.pk,
        lead_id=lead.pk,
        fields=["recipient", "purpose", "information_disclosed", "notice_text"],
        detail=f"kind={kind} consent={consent.pk}",
    )
    logger.info(
        "disclosure recorded lead_id=%s disclosure_id=%s kind=%s consent_id=%s",
        lead.pk,
        disclosure.pk,
        kind,
        consent.pk,
    )
    return disclosure


def disclosures_for(lead: Lead) -> QuerySet[Disclosure]:
    """Every disclosure of the lead's records, newest first: the accounting."""
    return (
        Disclosure.objects.filter(lead=lead)
        .select_related("consent", "disclosed_by", "referral__partner")
        .order_by("-disclosed_at", "-id")
    )


def part2_consents_of(lead: Lead) -> QuerySet[Part2Consent]:
    """All of the lead's consents, in force or not, newest signature first."""
    return (
        Part2Consent.objects.filter(lead=lead)
        .select_related("partner", "recorded_by", "revoked_by")
        .order_by("-signed_at", "-id")
    )
