"""Electronic eligibility on a VOB: send a 270, read the 271 into the verification.

What a 271 means is decided in `x12.py`; here it meets the records. A 271 fills
what it states and leaves the rest as the verifier had it, and never changes the
verification's status: the verifier reads what the payer said and completes the
VOB through the verification services.
"""

import logging
import secrets
from datetime import date, datetime
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import (
    NON_FIELD_ERRORS,
    ImproperlyConfigured,
    ValidationError,
)
from django.db import transaction
from django.utils import timezone

from crm.models import User
from crm.services import audit_record

from ..models import (
    Activity,
    InsuranceVerification,
    Lead,
    LevelOfCareBenefit,
    SubscriberRelationship,
    YesNoUnknown,
)
from ..services import lead_activity_record
from .clearinghouse import ClearinghouseError, get_backend
from .x12 import (
    EligibilityInquiry,
    EligibilityResult,
    X12Error,
    build_270,
    identifier_is_valid,
    normalize_identifier,
    npi_is_valid,
    parse_271,
)

logger = logging.getLogger(__name__)

# Starts the summary a 271 leaves in the result notes; a newer 271 replaces it.
NOTES_HEADER = "Electronic eligibility (271)"
# Larger figures than these are not benefits but a payer's data error, and would
# not fit the columns.
_MAX_MONEY = Decimal("99999999.99")
_MAX_COUNT = 99_999
_CENT = Decimal("0.01")


def _locked(verification: InsuranceVerification) -> None:
    # The lead before the VOB, as the verification services take them (deadlocks);
    # the caller's instance is refreshed in place so it shows what was written.
    # Only the VOB row itself: PostgreSQL refuses FOR UPDATE on the nullable side
    # of the outer join to the payer.
    Lead.objects.select_for_update().filter(pk=verification.lead_id).first()
    verification.refresh_from_db(
        from_queryset=InsuranceVerification.objects.select_for_update(
            of=("self",)
        ).select_related("lead", "payer")
    )


def _check_waiting(verification: InsuranceVerification) -> None:
    if not verification.is_waiting:
        raise ValidationError(
            {"status": ["This VOB is done; request a new one to check again."]}
        )


def _split_name(full_name: str) -> tuple[str, str]:
    """(first, last) from "Last, First M" or "First M Last"."""
    text = " ".join((full_name or "").split())
    if "," in text:
        last, _, rest = text.partition(",")
        first = rest.split()[0] if rest.split() else ""
        return first, last.strip()
    parts = text.split()
    if len(parts) < 2:
        return "", parts[0] if parts else ""
    return parts[0], parts[-1]


def eligibility_inquiry_for(
    *,
    verification: InsuranceVerification,
    provider_name: str,
    provider_npi: str,
    trace: str | None = None,
    service_date: date | None = None,
) -> EligibilityInquiry:
    """The 270 question for a VOB: its payer and card, and the lead as the patient.

    Raises ValidationError naming the fields to fill in when the check cannot be
    made (no member id, a payer without an electronic id, no date of birth).
    """
    lead = verification.lead
    errors: dict[str, list[str]] = {}
    if not normalize_identifier(verification.member_id):
        errors["member_id"] = ["Enter the member id from the insurance card."]
    elif not identifier_is_valid(verification.member_id, 80):
        errors["member_id"] = [
            "An electronic check takes a member id of letters, digits and dashes."
        ]
    if verification.group_number.strip() and not identifier_is_valid(
        verification.group_number
    ):
        errors["group_number"] = [
            "An electronic check takes a group number of letters, digits and dashes."
        ]
    payer = verification.payer
    if payer is None or not payer.electronic_payer_id.strip():
        errors["payer"] = [
            "Pick a payer from the list that has an electronic payer id; "
            "others are verified by portal or phone."
        ]
    patient_born = verification.patient_date_of_birth or lead.date_of_birth
    dependent = verification.subscriber_relationship != SubscriberRelationship.SELF
    if dependent:
        first, last = _split_name(verification.subscriber_name)
        subscriber_born = verification.subscriber_date_of_birth
        if not patient_born:
            errors["patient_date_of_birth"] = ["Enter the patient's date of birth."]
        if not (lead.first_name.strip() and lead.last_name.strip()):
            errors[NON_FIELD_ERRORS] = [
                "The lead needs a first and last name for an electronic check."
            ]
    else:
        if verification.subscriber_name.strip():
            first, last = _split_name(verification.subscriber_name)
        else:
            first, last = lead.first_name.strip(), lead.last_name.strip()
        subscriber_born = verification.subscriber_date_of_birth or patient_born
        if not subscriber_born:
            errors["subscriber_date_of_birth"] = [
                "Enter the subscriber's date of birth."
            ]
    if not (first and last):
        errors["subscriber_name"] = ["Enter the subscriber's first and last name."]
    if errors:
        raise ValidationError(errors)
    return EligibilityInquiry(
        payer_name=payer.name,
        payer_id=payer.electronic_payer_id.strip(),
        provider_name=provider_name,
        provider_npi=provider_npi,
        subscriber_first_name=first,
        subscriber_last_name=last,
        member_id=normalize_identifier(verification.member_id),
        date_of_birth=subscriber_born,
        service_date=service_date or timezone.localdate(),
        trace=trace or f"VOB{verification.pk}-{secrets.token_hex(4).upper()}",
        group_number=normalize_identifier(verification.group_number),
        dependent_first_name=lead.first_name.strip() if dependent else "",
        dependent_last_name=lead.last_name.strip() if dependent else "",
        dependent_date_of_birth=patient_born if dependent else None,
        dependent_relationship=verification.subscriber_relationship
        if dependent
        else "",
    )


def _control_number(now: datetime) -> int:
    # Tenths of a second, wrapping every ~3 years: a different ISA13 for every
    # interchange this app sends, without a counter table to keep.
    return int(now.timestamp() * 10) % 999_999_999 + 1


def _disclosed_fields(inquiry: EligibilityInquiry) -> list[str]:
    """Names (never values) of what the 270 tells the clearinghouse and payer."""
    names = ["member_id", "subscriber_name", "payer"]
    if inquiry.group_number:
        names.append("group_number")
    if inquiry.date_of_birth:
        names.append("subscriber_date_of_birth")
    if inquiry.is_dependent:
        names += ["patient_name", "patient_date_of_birth", "subscriber_relationship"]
    return names


@transaction.atomic
def eligibility_request(*, verification: InsuranceVerification, by: User) -> str:
    """Send a 270 for the VOB through the clearinghouse backend; return its trace.

    The trace is kept on the verification so the 271 answering it can be found.
    Nothing is recorded when the backend does not take the inquiry.
    """
    provider_npi = settings.ELIGIBILITY_PROVIDER_NPI
    if not npi_is_valid(provider_npi):
        raise ImproperlyConfigured("ELIGIBILITY_PROVIDER_NPI is not a valid NPI")
    _locked(verification)
    _check_waiting(verification)
    inquiry = eligibility_inquiry_for(
        verification=verification,
        provider_name=settings.ELIGIBILITY_PROVIDER_NAME,
        provider_npi=provider_npi,
    )
    now = timezone.localtime()
    text = build_270(
        inquiry,
        sender_id=settings.CLEARINGHOUSE_SENDER_ID,
        receiver_id=settings.CLEARINGHOUSE_RECEIVER_ID,
        control_number=_control_number(now),
        now=now,
        usage_indicator=settings.CLEARINGHOUSE_USAGE_INDICATOR,
    )
    verification.eligibility_trace = inquiry.trace
    verification.save(update_fields=["eligibility_trace"])
    payer = verification.payer_display
    lead_activity_record(
        lead=verification.lead,
        kind=Activity.Kind.VERIFICATION,
        actor=by,
        summary=f"Electronic eligibility check sent to {payer}",
        data={"verification": verification.pk, "trace": inquiry.trace},
    )
    audit_record(
        actor=by,
        action="export",
        object_type="insuranceverification",
        object_id=verification.pk,
        lead_id=verification.lead_id,
        fields=_disclosed_fields(inquiry),
        detail=f"270 eligibility inquiry to the clearinghouse, trace {inquiry.trace}",
    )
    # Sent last: if the backend refuses, the records above roll back with it.
    try:
        submission_id = get_backend().send_270(text=text, trace=inquiry.trace)
    except ClearinghouseError as exc:
        raise ValidationError(
            {NON_FIELD_ERRORS: [f"The eligibility inquiry could not be sent: {exc}"]}
        ) from exc
    logger.info(
        "eligibility 270 sent verification=%s trace=%s submission=%s",
        verification.pk,
        inquiry.trace,
        submission_id,
    )
    return inquiry.trace


def _money(value: Decimal | None) -> Decimal | None:
    if value is None or value < 0 or value > _MAX_MONEY:
        return None
    return value.quantize(_CENT)


def _percent(value: Decimal | None) -> Decimal | None:
    if value is None or not 0 <= value <= 100:
        return None
    return value.quantize(_CENT)


def _count(value: int | None) -> int | None:
    return value if value is not None and 0 <= value <= _MAX_COUNT else None


def _result_values(
    verification: InsuranceVerification, result: EligibilityResult
) -> tuple[dict[str, object], list[str]]:
    """The verification fields the 271 states, and notes on what was left out."""
    values: dict[str, object] = {}
    dropped: list[str] = []
    if result.coverage_active != YesNoUnknown.UNKNOWN:
        values["coverage_active"] = result.coverage_active
    if result.network_status != InsuranceVerification.Network.UNKNOWN:
        values["network_status"] = result.network_status
    for kind, share in (
        ("deductible", result.deductible),
        ("oop_max", result.out_of_pocket),
    ):
        for who in ("individual", "family"):
            totals, remainders = getattr(share, who), getattr(share, f"{who}_remaining")
            for network in ("in_network", "out_of_network"):
                total = _money(getattr(totals, network))
                left = _money(getattr(remainders, network))
                if total is None and left is None:
                    continue
                name = f"{kind}_{who}_{network}"
                if total is not None and left is not None and left > total:
                    dropped.append(f"{name.replace('_', ' ')}: remaining above total")
                    left = None
                # Total and remaining are set together, so a figure from the 271
                # never sits beside an older one it contradicts.
                values[name] = total
                values[f"{name}_remaining"] = left
    for network in ("in_network", "out_of_network"):
        percent = _percent(getattr(result.coinsurance_percent, network))
        if percent is not None:
            values[f"coinsurance_{network}_percent"] = percent
        copay = _money(getattr(result.copay, network))
        if copay is not None:
            values[f"copay_{network}"] = copay
    begins, ends = result.coverage_begins, result.coverage_ends
    if begins is not None:
        values["policy_effective_on"] = begins
    starts = begins or verification.policy_effective_on
    if ends is not None and (starts is None or starts <= ends):
        values["policy_terminates_on"] = ends
    elif (
        ends is None
        and begins
        and (verification.policy_terminates_on or begins) < begins
    ):
        # The card's end date is older than the coverage the payer now reports.
        values["policy_terminates_on"] = None
    reviewer = next(
        (
            contact
            for line in result.lines
            for contact in line.contacts
            if line.code == "U" or contact.entity_code == "X3"
        ),
        None,
    )
    if reviewer is not None:
        values["utilization_review_contact"] = str(reviewer)[:200]
    return values, dropped


def _notes(result: EligibilityResult, dropped: list[str], trace: str) -> str:
    lines = [f"{NOTES_HEADER}, trace {trace or 'none'}:"]
    for rejection in result.rejections:
        lines.append(f"The payer could not answer ({rejection.where}): {rejection}.")
    if result.plan_description or result.group_number:
        plan = result.plan_description or "Plan"
        group = " ".join(
            part for part in (result.group_number, result.group_name) if part
        )
        lines.append(f"{plan}, group {group}." if group else f"{plan}.")
    lines += [f"Payer message: {message}" for message in result.messages]
    lines += [f"Contact: {contact}" for contact in result.contacts]
    lines += [f"Not applied ({item})." for item in dropped]
    return "\n".join(lines)


def _merge_notes(existing: str, block: str) -> str:
    """Replace an earlier 271 summary (up to its blank line), keep the verifier's."""
    start = existing.find(NOTES_HEADER)
    if start != -1:
        end = existing.find("\n\n", start)
        rest = existing[end:] if end != -1 else ""
        existing = (existing[:start] + rest.lstrip("\n")).strip()
    return f"{existing}\n\n{block}".strip() if existing else block


def _benefits_apply(
    verification: InsuranceVerification, result: EligibilityResult
) -> list[str]:
    """One row per level of care the 271 speaks to; others are left as they were."""
    existing = {row.level_of_care: row for row in verification.benefits.all()}
    changed = []
    for level, found in result.level_benefits().items():
        row = existing.get(level)
        silent = not found.service_type and found.covered == YesNoUnknown.UNKNOWN
        if silent and row is not None:
            continue
        row = row or LevelOfCareBenefit(verification=verification, level_of_care=level)
        row.covered = found.covered
        row.prior_auth_required = found.prior_auth_required
        row.in_network = found.in_network
        row.day_limit = _count(found.day_limit)
        row.visit_limit = _count(found.visit_limit)
        row.coinsurance_percent = _percent(found.coinsurance_percent)
        row.copay = _money(found.copay)
        row.notes = found.notes[:500]
        row.save()
        changed.append(f"benefit:{level}")
    return changed


def _summary(payer: str, result: EligibilityResult) -> str:
    if result.coverage_active == YesNoUnknown.UNKNOWN and result.rejections:
        first = result.rejections[0]
        return (
            f"Electronic eligibility response from {payer}: the payer could not "
            f"answer ({first.code} {first.message})"
        )
    coverage = {
        YesNoUnknown.YES: "coverage active",
        YesNoUnknown.NO: "coverage not active",
    }.get(result.coverage_active, "coverage unknown")
    network = {"in": ", in network", "out": ", out of network"}.get(
        result.network_status, ""
    )
    return f"Electronic eligibility response from {payer}: {coverage}{network}"


@transaction.atomic
def _result_apply(
    *,
    verification: InsuranceVerification,
    text: str,
    by: User | None,
    expected_trace: str | None,
) -> EligibilityResult:
    try:
        result = parse_271(text, trace=verification.eligibility_trace or None)
    except X12Error as exc:
        raise ValidationError({"response": [str(exc)]}) from exc
    if expected_trace and result.trace and result.trace != expected_trace:
        raise ValidationError(
            {"response": ["This response answers another eligibility inquiry."]}
        )
    _locked(verification)
    _check_waiting(verification)
    if text == verification.eligibility_response:
        # Already applied (two polls raced, or the same file came twice): one
        # timeline line per response.
        return result
    values, dropped = _result_values(verification, result)
    values["method"] = InsuranceVerification.Method.ELECTRONIC
    values["eligibility_response"] = text
    values["result_notes"] = _merge_notes(
        verification.result_notes, _notes(result, dropped, result.trace)
    )
    for name, value in values.items():
        setattr(verification, name, value)
    verification.save(update_fields=list(values))
    changed = [*values, *_benefits_apply(verification, result)]
    lead_activity_record(
        lead=verification.lead,
        kind=Activity.Kind.VERIFICATION,
        actor=by,
        summary=_summary(verification.payer_display, result),
        data={
            "verification": verification.pk,
            "trace": result.trace,
            "coverage_active": result.coverage_active,
            "network_status": result.network_status,
        },
    )
    audit_record(
        actor=by,
        action="update",
        object_type="insuranceverification",
        object_id=verification.pk,
        lead_id=verification.lead_id,
        fields=changed,
        detail="271 eligibility response applied",
    )
    return result


def eligibility_result_apply(
    *, verification: InsuranceVerification, text: str, by: User | None
) -> EligibilityResult:
    """Read a 271 into the VOB's result fields and its levels of care.

    A file that is not a readable 271 raises ValidationError({"response": [...]})
    and writes nothing; the same 271 applied twice is written once. The status is
    left for the verifier to set.
    """
    return _result_apply(
        verification=verification, text=text, by=by, expected_trace=None
    )


def eligibility_response_poll(
    *, verification: InsuranceVerification, by: User | None
) -> EligibilityResult | None:
    """Apply the 271 answering the VOB's last 270, if the clearinghouse has it.

    Returns None while there is no response. A response already applied is read
    again without writing, so polling repeatedly is harmless.
    """
    trace = verification.eligibility_trace
    if not trace:
        raise ValidationError(
            {"eligibility_trace": ["No electronic eligibility check was sent."]}
        )
    try:
        text = get_backend().fetch_271(trace=trace)
    except ClearinghouseError as exc:
        raise ValidationError(
            {NON_FIELD_ERRORS: [f"The eligibility response could not be read: {exc}"]}
        ) from exc
    if text is None:
        return None
    if text == verification.eligibility_response:
        try:
            return parse_271(text, trace=trace)
        except X12Error as exc:
            raise ValidationError({"response": [str(exc)]}) from exc
    return _result_apply(
        verification=verification, text=text, by=by, expected_trace=trace
    )
