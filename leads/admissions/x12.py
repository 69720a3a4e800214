"""ANSI X12 005010X279A1 electronic eligibility: the 270 inquiry and the 271 response.

Pure functions over text: no models, no settings, no files. `build_270` writes an
interchange through x12sdk's transaction models, so every segment is checked against
the implementation guide's code lists before it leaves. `parse_271` reads the
response into an `EligibilityResult`: one merged `ServiceBenefit` per service type,
AAA rejections, and what each level of care can be told from it.

The 271 is read segment by segment here rather than through x12sdk's 271 model,
because x12sdk 2.2.0 refuses ordinary responses: it types EB09 (quantity
qualifier) as a number, so every day or visit limit ("DY", "VS") fails validation,
and its subscriber AAA code list lacks 72 (invalid member id) and 75 (subscriber
not found), the rejections a verifier most needs to see. The envelope, the
segment counts and the HL hierarchy are checked here instead.
"""

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from x12sdk.io import write_transactions
from x12sdk.support import count_segments
from x12sdk.v5010.segments import DmgSegment, SeSegment, TrnSegment
from x12sdk.v5010.x12_270_005010X279A1 import loops as loops_270
from x12sdk.v5010.x12_270_005010X279A1 import segments as segments_270
from x12sdk.v5010.x12_270_005010X279A1.transaction_set import (
    EligibilityInquiry as Transaction270,
)

__all__ = [
    "DEFAULT_SERVICE_TYPES",
    "LEVEL_OF_CARE_SOURCES",
    "SERVICE_TYPE_NAMES",
    "BenefitLine",
    "Contact",
    "CostShare",
    "EligibilityInquiry",
    "EligibilityResult",
    "InOut",
    "LevelBenefit",
    "Person",
    "Rejection",
    "ServiceBenefit",
    "X12Error",
    "build_270",
    "identifier_is_valid",
    "normalize_identifier",
    "npi_is_valid",
    "parse_271",
]

IMPLEMENTATION = "005010X279A1"

# What an admissions team asks a payer about substance-use care, plan coverage last.
DEFAULT_SERVICE_TYPES: tuple[str, ...] = (
    "AI",
    "AJ",
    "AK",
    "CI",
    "CJ",
    "MH",
    "BB",
    "RT",
    "30",
)

SERVICE_TYPE_NAMES: dict[str, str] = {
    "1": "Medical care",
    "30": "Health benefit plan coverage",
    "48": "Hospital, inpatient",
    "50": "Hospital, outpatient",
    "A4": "Psychiatric",
    "A6": "Psychotherapy",
    "A7": "Psychiatric, inpatient",
    "A8": "Psychiatric, outpatient",
    "AI": "Substance abuse",
    "AJ": "Alcoholism",
    "AK": "Drug addiction",
    "BB": "Partial hospitalization (psychiatric)",
    "CI": "Substance abuse facility, inpatient",
    "CJ": "Substance abuse facility, outpatient",
    "MH": "Mental health",
    "RT": "Residential psychiatric treatment",
}

# The patient's relationship to the subscriber (the app's SubscriberRelationship
# values) as INS02 codes.
RELATIONSHIP_CODES: dict[str, str] = {"spouse": "01", "child": "19", "other": "G8"}

# Which 271 answers speak for each level of care (CoveredLevel values), most specific
# first; the first service type the payer answered wins, whole, so one level's
# coverage, cost share and limits always come from one answer. A setting of None
# takes every line of that service type; "inpatient"/"outpatient" takes the lines
# for that setting (told by an III place of service or the words in EB05/MSG) plus
# the lines that name no setting.
# X12 has no code per ASAM level, so this is judgement:
# - CI / CJ are the substance-abuse *facility* benefits, inpatient and outpatient:
#   the closest codes to detox and residential, and to IOP and outpatient programs.
# - RT (residential psychiatric treatment) names the residential setting itself and
#   BB (psychiatric partial hospitalization) is the only code for PHP.
# - AI / AJ / AK (substance abuse, alcoholism, drug addiction) are the general SUD
#   benefits many payers answer with instead: an inpatient answer speaks for detox
#   and residential, an outpatient one for IOP and outpatient, one without a setting
#   for all of them. AK and AI come before AJ because most admissions are for drugs
#   or both.
# - MH is the last resort for IOP and outpatient: under parity SUD outpatient
#   benefits follow mental-health ones, but MH says nothing of detox or residential.
# - 30 (the plan) never speaks for a level: an active plan does not say residential
#   SUD care is covered, so a level nobody answered stays unknown.
LEVEL_OF_CARE_SOURCES: dict[str, tuple[tuple[str, str | None], ...]] = {
    "detox": (
        ("CI", None),
        ("AK", "inpatient"),
        ("AI", "inpatient"),
        ("AJ", "inpatient"),
    ),
    "residential": (
        ("RT", None),
        ("CI", None),
        ("AK", "inpatient"),
        ("AI", "inpatient"),
        ("AJ", "inpatient"),
    ),
    "php": (("BB", None),),
    "iop": (
        ("CJ", None),
        ("AK", "outpatient"),
        ("AI", "outpatient"),
        ("AJ", "outpatient"),
        ("MH", "outpatient"),
    ),
    "outpatient": (
        ("CJ", None),
        ("AK", "outpatient"),
        ("AI", "outpatient"),
        ("AJ", "outpatient"),
        ("MH", "outpatient"),
    ),
}

# AAA03 reject reasons, in plain words for the verifier.
REJECT_REASONS: dict[str, str] = {
    "04": "authorized quantity exceeded",
    "15": "required information missing",
    "33": "input errors",
    "35": "out of network",
    "41": "authorization or access restrictions",
    "42": "the payer cannot respond right now",
    "43": "provider id invalid or missing",
    "44": "provider name invalid or missing",
    "45": "provider specialty invalid or missing",
    "46": "provider phone number invalid or missing",
    "47": "provider state invalid or missing",
    "48": "referring provider id invalid or missing",
    "49": "provider is not the primary care physician",
    "50": "provider may not make eligibility inquiries",
    "51": "provider not on file",
    "52": "service dates outside the provider's plan enrollment",
    "53": "benefit asked about does not fit the provider type",
    "54": "service id qualifier not appropriate",
    "55": "service id not appropriate",
    "56": "date not appropriate",
    "57": "service dates invalid or missing",
    "58": "date of birth invalid or missing",
    "60": "date of birth is after the service date",
    "61": "date of death is before the service date",
    "62": "service date outside the period the payer answers for",
    "63": "service date in the future",
    "64": "patient id invalid or missing",
    "65": "patient name invalid or missing",
    "66": "patient gender invalid or missing",
    "67": "patient not found",
    "68": "duplicate patient id",
    "69": "inconsistent with the patient's age",
    "70": "inconsistent with the patient's gender",
    "71": "date of birth does not match the payer's records",
    "72": "member id invalid or missing",
    "73": "subscriber name invalid or missing",
    "74": "subscriber gender invalid or missing",
    "75": "subscriber not found",
    "76": "duplicate member id",
    "77": "subscriber found, patient not found",
    "78": "subscriber not in the group or plan named",
    "79": "invalid participant identification",
    "80": "no response received; the inquiry was ended",
    "97": "provider address invalid or missing",
    "98": "experimental service or procedure",
    "AA": "authorization number not found",
    "AE": "needs the primary care physician's authorization",
    "AF": "diagnosis codes invalid or missing",
    "AG": "procedure codes invalid or missing",
    "AO": "more information on the patient's condition needed",
    "CI": "certification does not match the patient",
    "E8": "needs medical review",
    "IA": "authorization number in the wrong format",
    "MA": "authorization number missing",
    "T4": "payer name or id missing",
}

# AAA04: what the payer says to do next.
FOLLOW_UPS: dict[str, str] = {
    "C": "correct and resubmit",
    "N": "do not resubmit",
    "P": "resubmit the original inquiry",
    "R": "resubmission allowed",
    "S": "do not resubmit; the inquiry went to a third party",
    "W": "wait 30 days and resubmit",
    "X": "wait 10 days and resubmit",
    "Y": "do not resubmit; the payer will respond",
}

# NM101 of a 2120 benefit-related entity.
ENTITY_NAMES: dict[str, str] = {
    "1P": "provider",
    "2B": "third-party administrator",
    "13": "contracted service provider",
    "73": "other physician",
    "FA": "facility",
    "GP": "gateway provider",
    "I3": "independent physicians association",
    "P3": "primary care provider",
    "P5": "plan sponsor",
    "PR": "payer",
    "PRP": "primary payer",
    "SEP": "secondary payer",
    "TTP": "tertiary payer",
    "VN": "vendor",
    "X3": "utilization management organization",
    "Y2": "managed care organization",
}

_ACTIVE = frozenset({"1", "2", "3", "4", "5"})
_INACTIVE = frozenset({"6", "7", "8"})
# Lines that describe a benefit's cost or limits: the benefit exists.
_COST_LINES = frozenset({"A", "B", "C", "F", "G", "H", "J", "Y"})
_FAMILY_LEVELS = frozenset({"FAM", "ECH", "ESP", "SPC", "CHD", "DEP"})
_REMAINING_PERIODS = frozenset({"29"})
_LIFETIME_PERIODS = frozenset({"32", "33"})
_MET_PERIODS = frozenset({"24"})
# III*ZZ place of service codes (CMS) that say where a benefit applies.
_INPATIENT_PLACES = frozenset({"21", "51", "55", "56", "61"})
_OUTPATIENT_PLACES = frozenset(
    {"02", "10", "11", "22", "49", "52", "53", "57", "58", "71", "72"}
)
_INPATIENT_WORDS = re.compile(r"\b(INPATIENT|IN-PATIENT|RESIDENTIAL)\b")
_OUTPATIENT_WORDS = re.compile(r"\b(OUTPATIENT|OUT-PATIENT)\b")

YES, NO, UNKNOWN = "yes", "no", "unknown"


class X12Error(ValueError):
    """A file that is not a readable 271; the message says what is wrong with it."""


# --- The 270 inquiry -----------------------------------------------------------------


@dataclass(frozen=True)
class EligibilityInquiry:
    """What a 270 asks: who is covered by whom, for which care, on which day.

    When the patient is not the subscriber, the dependent fields name the patient
    and the member id is still the subscriber's. Identifiers stay out of `repr`.
    """

    payer_name: str
    payer_id: str
    provider_name: str
    provider_npi: str
    subscriber_first_name: str = field(repr=False)
    subscriber_last_name: str = field(repr=False)
    member_id: str = field(repr=False)
    date_of_birth: date | None = field(repr=False)
    service_date: date
    trace: str
    group_number: str = ""
    dependent_first_name: str = field(default="", repr=False)
    dependent_last_name: str = field(default="", repr=False)
    dependent_date_of_birth: date | None = field(default=None, repr=False)
    dependent_relationship: str = ""
    service_types: tuple[str, ...] = DEFAULT_SERVICE_TYPES

    @property
    def is_dependent(self) -> bool:
        return bool(self.dependent_last_name or self.dependent_first_name)


def npi_is_valid(npi: str) -> bool:
    """Ten digits whose last is the Luhn check digit over the 80840 prefix (CMS)."""
    if not re.fullmatch(r"\d{10}", npi or ""):
        return False
    total = 0
    for index, char in enumerate(reversed("80840" + npi[:9])):
        digit = int(char)
        if index % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return (10 - total % 10) % 10 == int(npi[9])


_NOT_BASIC = re.compile(r"[^A-Z0-9 &'(),\-./]")
_IDENTIFIER = re.compile(r"[A-Z0-9][A-Z0-9-]*")


def normalize_identifier(value: str) -> str:
    """A member id or group number as it goes on a 270: upper case, no spaces."""
    return "".join((value or "").upper().split())


def identifier_is_valid(value: str, max_length: int = 50) -> bool:
    """Whether a 270 can carry this id: letters, digits and dashes only."""
    cleaned = normalize_identifier(value)
    return bool(_IDENTIFIER.fullmatch(cleaned)) and len(cleaned) <= max_length


def _text(value: str, max_length: int) -> str:
    """Upper-case basic X12 characters only: no delimiter can slip into a name."""
    plain = unicodedata.normalize("NFKD", value or "")
    plain = "".join(char for char in plain if not unicodedata.combining(char))
    cleaned = _NOT_BASIC.sub(" ", plain.upper())
    return " ".join(cleaned.split())[:max_length].strip()


def _identifier(value: str, label: str, max_length: int = 50) -> str:
    if not identifier_is_valid(value, max_length):
        raise ValueError(
            f"{label} must be 1 to {max_length} letters, digits and dashes"
        )
    return normalize_identifier(value)


def build_270(
    inquiry: EligibilityInquiry,
    *,
    sender_id: str,
    receiver_id: str,
    control_number: int,
    now: datetime,
    usage_indicator: str = "T",
) -> str:
    """Write a complete 270 interchange (ISA to IEA) asking about one patient.

    `control_number` (1 to 999999999) numbers the interchange, the group and the
    transaction; `now` dates them. Raises ValueError for an inquiry that cannot be
    sent (no member id, an NPI that fails its check digit, ...).
    """
    if not 1 <= control_number <= 999_999_999:
        raise ValueError("control_number must be 1 to 999999999")
    if usage_indicator not in ("T", "P"):
        raise ValueError("usage_indicator is T (test) or P (production)")
    if not npi_is_valid(inquiry.provider_npi):
        raise ValueError("provider_npi is not a valid NPI")
    payer_name = _text(inquiry.payer_name, 60)
    provider_name = _text(inquiry.provider_name, 60)
    subscriber_last = _text(inquiry.subscriber_last_name, 60)
    subscriber_first = _text(inquiry.subscriber_first_name, 35)
    if not (payer_name and provider_name and subscriber_last):
        raise ValueError("payer, provider and subscriber names are required")
    payer_id = _identifier(inquiry.payer_id, "payer_id", 80)
    member_id = _identifier(inquiry.member_id, "member_id", 80)
    trace = _identifier(inquiry.trace, "trace")
    group = (
        _identifier(inquiry.group_number, "group_number")
        if (inquiry.group_number or "").strip()
        else ""
    )
    if not inquiry.service_types:
        raise ValueError("at least one service type is needed")
    dependent = inquiry.is_dependent
    if dependent:
        dependent_last = _text(inquiry.dependent_last_name, 60)
        dependent_first = _text(inquiry.dependent_first_name, 35)
        if not (dependent_last and dependent_first):
            raise ValueError("a dependent needs a first and last name")
        if inquiry.dependent_date_of_birth is None:
            raise ValueError("a dependent needs a date of birth")
    elif not subscriber_first or inquiry.date_of_birth is None:
        raise ValueError("a subscriber who is the patient needs a first name and DOB")

    st_control = f"{control_number:04d}"
    service_date = inquiry.service_date.strftime("%Y%m%d")
    # TRN03: "9" then nine characters marks an identifier the sender assigned.
    trace_segment = TrnSegment(
        trace_type_code="1",
        reference_identification_1=trace,
        originating_company_identifier="9" + inquiry.provider_npi[:9],
    )
    plan_date = segments_270.Loop2100DtpSegment(
        date_time_qualifier="291",
        date_time_period_format_qualifier="D8",
        date_time_period=service_date,
    )
    questions = [
        segments_270.Loop2110EqSegment(service_type_code=[code])
        for code in inquiry.service_types
    ]

    header = loops_270.Header(
        st_segment=segments_270.HeaderStSegment(
            transaction_set_identifier_code="270",
            transaction_set_control_number=st_control,
            implementation_convention_reference=IMPLEMENTATION,
        ),
        bht_segment=segments_270.HeaderBhtSegment(
            hierarchical_structure_code="0022",
            transaction_set_purpose_code="13",
            submitter_transactional_identifier=trace,
            transaction_set_creation_date=now.strftime("%Y%m%d"),
            transaction_set_creation_time=now.strftime("%H%M"),
        ),
    )
    subscriber_name = loops_270.Loop2100C(
        nm1_segment=segments_270.Loop2100CNm1Segment(
            entity_identifier_code="IL",
            entity_type_qualifier="1",
            name_last_or_organization_name=subscriber_last,
            name_first=subscriber_first or None,
            identification_code_qualifier="MI",
            identification_code=member_id,
        ),
        ref_segment=(
            [
                segments_270.Loop2100RefSegment(
                    reference_identification_qualifier="6P",
                    reference_identification=group,
                )
            ]
            if group
            else None
        ),
        dmg_segment=_dmg(inquiry.date_of_birth),
        # Plan dates and questions sit at the patient's level only (TR3: a 2100C
        # date does not carry down to a dependent).
        dtp_segment=None if dependent else plan_date,
        loop_2110c=(
            None
            if dependent
            else [loops_270.Loop2110C(eq_segment=eq) for eq in questions]
        ),
    )
    subscriber = loops_270.Loop2000C(
        hl_segment=segments_270.Loop2000CHlSegment(
            hierarchical_id_number="3",
            hierarchical_parent_id_number="2",
            hierarchical_level_code="22",
            hierarchical_child_code="1" if dependent else "0",
        ),
        # The trace goes on the patient's own level (TR3, 2000C/2000D TRN).
        trn_segment=None if dependent else [trace_segment],
        loop_2100c=subscriber_name,
        loop_2000d=(
            [
                loops_270.Loop2000D(
                    hl_segment=segments_270.Loop2000DHlSegment(
                        hierarchical_id_number="4",
                        hierarchical_parent_id_number="3",
                        hierarchical_level_code="23",
                        hierarchical_child_code="0",
                    ),
                    trn_segment=[trace_segment],
                    loop_2100d=loops_270.Loop2100D(
                        nm1_segment=segments_270.Loop2100DNm1Segment(
                            entity_identifier_code="03",
                            entity_type_qualifier="1",
                            name_last_or_organization_name=dependent_last,
                            name_first=dependent_first,
                        ),
                        dmg_segment=_dmg(inquiry.dependent_date_of_birth),
                        ins_segment=_dependent_ins(inquiry.dependent_relationship),
                        dtp_segment=plan_date,
                        loop_2110d=[
                            loops_270.Loop2110D(eq_segment=eq) for eq in questions
                        ],
                    ),
                )
            ]
            if dependent
            else None
        ),
    )
    source = loops_270.Loop2000A(
        hl_segment=segments_270.Loop2000AHlSegment(
            hierarchical_id_number="1",
            hierarchical_level_code="20",
            hierarchical_child_code="1",
        ),
        loop_2100a=loops_270.Loop2100A(
            nm1_segment=segments_270.Loop2100ANm1Segment(
                entity_identifier_code="PR",
                entity_type_qualifier="2",
                name_last_or_organization_name=payer_name,
                identification_code_qualifier="PI",
                identification_code=payer_id,
            )
        ),
        loop_2000b=[
            loops_270.Loop2000B(
                hl_segment=segments_270.Loop2000BHlSegment(
                    hierarchical_id_number="2",
                    hierarchical_parent_id_number="1",
                    hierarchical_level_code="21",
                    hierarchical_child_code="1",
                ),
                loop_2100b=loops_270.Loop2100B(
                    nm1_segment=segments_270.Loop2100BNm1Segment(
                        entity_identifier_code="1P",
                        entity_type_qualifier="2",
                        name_last_or_organization_name=provider_name,
                        identification_code_qualifier="XX",
                        identification_code=inquiry.provider_npi,
                    )
                ),
                loop_2000c=[subscriber],
            )
        ],
    )
    # SE counts every segment from ST to SE; x12sdk validates it on construction.
    segment_count = count_segments({"header": header, "loop_2000a": [source]}) + 1
    transaction = Transaction270(
        header=header,
        loop_2000a=[source],
        footer=loops_270.Footer(
            se_segment=SeSegment(
                transaction_segment_count=segment_count,
                transaction_set_control_number=st_control,
            )
        ),
    )
    return (
        write_transactions(
            [transaction],
            sender_id=sender_id,
            receiver_id=receiver_id,
            sender_qualifier="ZZ",
            receiver_qualifier="ZZ",
            interchange_control_number=str(control_number),
            group_control_number=str(control_number),
            created=now,
            usage_indicator=usage_indicator,
        )
        + "\n"
    )


def _dmg(born: date | None) -> DmgSegment | None:
    if born is None:
        return None
    return DmgSegment(
        date_time_period_format_qualifier="D8", date_time_period=born.strftime("%Y%m%d")
    )


def _dependent_ins(relationship: str) -> segments_270.Loop2100DInsSegment | None:
    code = RELATIONSHIP_CODES.get(relationship)
    if code is None:
        return None
    return segments_270.Loop2100DInsSegment(
        member_indicator="N", individual_relationship_code=code
    )


# --- The 271 response: what it says ---------------------------------------------------


@dataclass(frozen=True)
class Person:
    """The subscriber or dependent a 271 names. Identifiers stay out of `repr`."""

    first_name: str = field(repr=False)
    last_name: str = field(repr=False)
    member_id: str = field(default="", repr=False)
    date_of_birth: date | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Rejection:
    """An AAA segment: the payer could not answer, and why."""

    code: str
    message: str
    follow_up: str
    where: str  # payer / provider / subscriber / dependent / benefit

    def __str__(self) -> str:
        text = f"{self.code} {self.message}"
        return f"{text} ({self.follow_up})" if self.follow_up else text


@dataclass(frozen=True)
class Contact:
    """A 2120 benefit-related entity: whom to call for a benefit (e.g. UR vendor)."""

    entity_code: str
    name: str
    identifier: str = ""
    phone: str = ""
    url: str = ""

    @property
    def role(self) -> str:
        return ENTITY_NAMES.get(self.entity_code, "")

    def __str__(self) -> str:
        text = self.name or self.role or "Other entity"
        if self.role and self.name:
            text += f" ({self.role})"
        if self.phone:
            text += f", phone {self.phone}"
        if self.url:
            text += f", {self.url}"
        return text


@dataclass(frozen=True)
class BenefitLine:
    """One EB segment with the segments of its 2110 loop."""

    position: int
    code: str
    coverage_level: str
    service_types: tuple[str, ...]
    insurance_type: str
    plan_description: str
    time_period: str
    amount: Decimal | None
    percent: Decimal | None
    quantity_qualifier: str
    quantity: Decimal | None
    auth_required: str
    in_plan_network: str
    setting: str = ""
    messages: tuple[str, ...] = ()
    contacts: tuple[Contact, ...] = ()
    rejections: tuple[Rejection, ...] = ()
    dates: tuple[tuple[str, date, date | None], ...] = ()

    @property
    def network(self) -> str:
        """in / out, or any when it applies either way (EB12 W, U or empty)."""
        return {"Y": "in", "N": "out"}.get(self.in_plan_network, "any")


@dataclass(frozen=True)
class InOut:
    """One figure, in network and out of network."""

    in_network: Decimal | None = None
    out_of_network: Decimal | None = None

    def for_network(self, in_network: str) -> Decimal | None:
        """The out-of-network figure for care out of network, otherwise in network."""
        return self.out_of_network if in_network == NO else self.in_network

    @property
    def is_empty(self) -> bool:
        return self.in_network is None and self.out_of_network is None


@dataclass(frozen=True)
class CostShare:
    """A deductible or an out-of-pocket maximum: individual and family, total and
    what is left of it this period."""

    individual: InOut = InOut()
    individual_remaining: InOut = InOut()
    family: InOut = InOut()
    family_remaining: InOut = InOut()

    @property
    def is_empty(self) -> bool:
        return all(
            part.is_empty
            for part in (
                self.individual,
                self.individual_remaining,
                self.family,
                self.family_remaining,
            )
        )


@dataclass(frozen=True)
class ServiceBenefit:
    """Everything a 271 says about one service type, its EB lines merged.

    `coverage` is active / inactive / not_covered / unknown; a service type the
    payer did not answer is unknown, never not covered.
    """

    service_type: str
    setting: str | None = None
    coverage: str = "unknown"
    in_network: str = UNKNOWN
    auth_required: str = UNKNOWN
    deductible: CostShare = CostShare()
    out_of_pocket: CostShare = CostShare()
    coinsurance_percent: InOut = InOut()
    copay: InOut = InOut()
    day_limit: InOut = InOut()
    days_remaining: InOut = InOut()
    visit_limit: InOut = InOut()
    visits_remaining: InOut = InOut()
    not_covered_out_of_network: bool = False
    contact_other_entity: bool = False
    contacts: tuple[Contact, ...] = ()
    plan_description: str = ""
    messages: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    rejections: tuple[Rejection, ...] = ()
    line_count: int = 0

    @property
    def name(self) -> str:
        return SERVICE_TYPE_NAMES.get(
            self.service_type, f"Service type {self.service_type}"
        )

    @property
    def answered(self) -> bool:
        return self.line_count > 0


@dataclass(frozen=True)
class LevelBenefit:
    """What a 271 tells of one level of care (a CoveredLevel value)."""

    level: str
    service_type: str = ""
    covered: str = UNKNOWN
    prior_auth_required: str = UNKNOWN
    in_network: str = UNKNOWN
    day_limit: int | None = None
    visit_limit: int | None = None
    coinsurance_percent: Decimal | None = None
    copay: Decimal | None = None
    notes: str = ""


@dataclass(frozen=True)
class EligibilityResult:
    """A 271 read: who, which plan, and what is covered at which cost."""

    trace: str
    payer_name: str
    payer_id: str
    provider_name: str
    provider_npi: str
    subscriber: Person | None
    dependent: Person | None
    group_number: str
    group_name: str
    plan_description: str
    coverage_begins: date | None
    coverage_ends: date | None
    coverage_active: str  # yes / no / unknown
    network_status: str  # in / out / unknown
    plan: ServiceBenefit
    deductible: CostShare
    out_of_pocket: CostShare
    coinsurance_percent: InOut
    copay: InOut
    benefits: dict[str, ServiceBenefit]
    rejections: tuple[Rejection, ...]
    messages: tuple[str, ...]
    contacts: tuple[Contact, ...]
    lines: tuple[BenefitLine, ...] = field(default=(), repr=False)

    @property
    def patient(self) -> Person | None:
        return self.dependent or self.subscriber

    def benefit(self, service_type: str, setting: str | None = None) -> ServiceBenefit:
        """The merged answer for one service type; unknown when it was not answered."""
        return _merge(service_type, self.lines, setting)

    def level_benefits(self) -> dict[str, LevelBenefit]:
        """One `LevelBenefit` per level of care, from `LEVEL_OF_CARE_SOURCES`."""
        return {
            level: self._level_benefit(level, sources)
            for level, sources in LEVEL_OF_CARE_SOURCES.items()
        }

    def _level_benefit(
        self, level: str, sources: tuple[tuple[str, str | None], ...]
    ) -> LevelBenefit:
        for service_type, setting in sources:
            benefit = self.benefit(service_type, setting)
            if benefit.answered:
                break
        else:
            notes = "The payer's 271 did not answer for this level of care."
            if self.coverage_active == NO:
                notes = "Plan coverage is not active."
            return LevelBenefit(
                level=level,
                covered=NO if self.coverage_active == NO else UNKNOWN,
                notes=notes,
            )
        in_network = benefit.in_network
        if in_network == UNKNOWN:
            in_network = {"in": YES, "out": NO}.get(self.network_status, UNKNOWN)
        covered = {"active": YES, "inactive": NO, "not_covered": NO}.get(
            benefit.coverage, UNKNOWN
        )
        notes = [f"From 271 service type {benefit.service_type} ({benefit.name})"]
        if setting:
            notes[0] += f", {setting}"
        days_left = benefit.days_remaining.for_network(in_network)
        visits_left = benefit.visits_remaining.for_network(in_network)
        if days_left is not None:
            notes.append(f"{_whole(days_left)} days remaining")
        if visits_left is not None:
            notes.append(f"{_whole(visits_left)} visits remaining")
        if benefit.not_covered_out_of_network:
            notes.append("not covered out of network")
        notes.extend(benefit.notes)
        if benefit.contact_other_entity:
            notes.append(
                "contact "
                + ("; ".join(str(c) for c in benefit.contacts) or "the other entity")
            )
        notes.extend(str(rejection) for rejection in benefit.rejections)
        return LevelBenefit(
            level=level,
            service_type=benefit.service_type,
            covered=covered,
            prior_auth_required=benefit.auth_required,
            in_network=in_network,
            day_limit=_count(benefit.day_limit.for_network(in_network)),
            visit_limit=_count(benefit.visit_limit.for_network(in_network)),
            coinsurance_percent=benefit.coinsurance_percent.for_network(in_network),
            copay=benefit.copay.for_network(in_network),
            notes=("; ".join(notes) + ".")[:500],
        )


def _whole(value: Decimal) -> str:
    return str(int(value)) if value == value.to_integral_value() else str(value)


def _count(value: Decimal | None) -> int | None:
    return int(value) if value is not None and value >= 0 else None


# --- Merging EB lines -----------------------------------------------------------------


def _lines_for(
    service_type: str, lines: Iterable[BenefitLine], setting: str | None
) -> list[BenefitLine]:
    own = [line for line in lines if service_type in line.service_types]
    if setting is None:
        return own
    # Lines for the setting first, so they win over lines that name none.
    return [line for line in own if line.setting == setting] + [
        line for line in own if not line.setting
    ]


def _merge(
    service_type: str, lines: Sequence[BenefitLine], setting: str | None = None
) -> ServiceBenefit:
    own = _lines_for(service_type, lines, setting)
    if not own:
        return ServiceBenefit(service_type=service_type, setting=setting)
    codes = {line.code for line in own}
    not_covered = [line for line in own if line.code == "I"]
    if codes & _ACTIVE:
        coverage = "active"
    elif codes & _INACTIVE:
        coverage = "inactive"
    elif not_covered and (
        any(line.network == "any" for line in not_covered) or not codes & _COST_LINES
    ):
        coverage = "not_covered"
    elif codes & _COST_LINES:
        coverage = "active"
    else:
        coverage = "unknown"

    slots: dict[tuple, Decimal] = {}

    def keep(key: tuple, value: Decimal | None) -> None:
        # The first line to state a figure wins: payers list the general answer
        # first and repeat it with qualifications after.
        if value is not None and key not in slots:
            slots[key] = value

    notes: list[str] = []
    for line in own:
        network = line.network
        if line.code in ("C", "G") and line.time_period not in _LIFETIME_PERIODS:
            kind = "deductible" if line.code == "C" else "oop"
            who = "family" if line.coverage_level in _FAMILY_LEVELS else "individual"
            if line.time_period in _REMAINING_PERIODS:
                period = "remaining"
            elif line.time_period in _MET_PERIODS:
                period = "met"
            else:
                period = "total"
            keep((kind, who, period, network), line.amount)
        elif line.code == "A":
            keep(("coinsurance", network), _percent(line.percent))
        elif line.code == "B":
            keep(("copay", network), line.amount)
        elif line.code == "F" and line.amount is not None:
            notes.append(_dollar_limit(line))
        if line.quantity is not None and line.quantity_qualifier in ("DY", "VS"):
            unit = "days" if line.quantity_qualifier == "DY" else "visits"
            left = line.time_period in _REMAINING_PERIODS | {"33"}
            keep((unit, "remaining" if left else "limit", network), line.quantity)

    def in_out(*key: str) -> InOut:
        fallback = slots.get((*key, "any"))
        inside = slots.get((*key, "in"), fallback)
        outside = slots.get((*key, "out"), fallback)
        return InOut(inside, outside)

    def cost_share(kind: str) -> CostShare:
        parts = {}
        for who in ("individual", "family"):
            total = in_out(kind, who, "total")
            remaining = in_out(kind, who, "remaining")
            met = in_out(kind, who, "met")
            # "Met so far" (EB06 24) without "remaining" still tells what is left.
            remaining = InOut(
                _left(remaining.in_network, total.in_network, met.in_network),
                _left(
                    remaining.out_of_network, total.out_of_network, met.out_of_network
                ),
            )
            parts[who] = total
            parts[f"{who}_remaining"] = remaining
        return CostShare(**parts)

    return ServiceBenefit(
        service_type=service_type,
        setting=setting,
        coverage=coverage,
        in_network=_network_of(own),
        auth_required=_indicator(line.auth_required for line in own),
        deductible=cost_share("deductible"),
        out_of_pocket=cost_share("oop"),
        coinsurance_percent=in_out("coinsurance"),
        copay=in_out("copay"),
        day_limit=in_out("days", "limit"),
        days_remaining=in_out("days", "remaining"),
        visit_limit=in_out("visits", "limit"),
        visits_remaining=in_out("visits", "remaining"),
        not_covered_out_of_network=any(line.network == "out" for line in not_covered),
        contact_other_entity="U" in codes,
        contacts=_unique(contact for line in own for contact in line.contacts),
        plan_description=next(
            (line.plan_description for line in own if line.plan_description), ""
        ),
        messages=_unique(message for line in own for message in line.messages),
        notes=_unique(notes),
        rejections=_unique(rejection for line in own for rejection in line.rejections),
        line_count=len(own),
    )


def _left(
    remaining: Decimal | None, total: Decimal | None, met: Decimal | None
) -> Decimal | None:
    if remaining is not None or total is None or met is None:
        return remaining
    return max(total - met, Decimal(0))


def _percent(value: Decimal | None) -> Decimal | None:
    # EB08 is a fraction (.2 is 20%); some payers send the whole percent instead.
    if value is None:
        return None
    return value * 100 if value <= 1 else value


def _dollar_limit(line: BenefitLine) -> str:
    period = {
        "23": " per calendar year",
        "22": " per service year",
        "25": " per contract",
        "27": " per visit",
        "32": " lifetime",
        "29": " remaining",
        "33": " lifetime remaining",
    }.get(line.time_period, "")
    return f"benefit limit ${line.amount:,.2f}{period}"


def _network_of(lines: Sequence[BenefitLine]) -> str:
    """yes / no when the payer's coverage lines say which network the benefits are.

    The payer answers for the provider named in the 270 (by NPI): active coverage
    stated only for out-of-network (EB12 N) means this provider is out of network.
    Cost lines count only when no coverage line says, and only when they all agree.
    """
    for group in (
        [line for line in lines if line.code in _ACTIVE],
        [line for line in lines if line.code in _COST_LINES],
    ):
        stated = {line.network for line in group} - {"any"}
        if stated == {"in"}:
            return YES
        if stated == {"out"}:
            return NO
        if stated:
            return UNKNOWN
    return UNKNOWN


def _indicator(values: Iterable[str]) -> str:
    """EB11 over several lines: one Y means yes (a counselor must ask for auth)."""
    seen = set(values)
    if "Y" in seen:
        return YES
    if "N" in seen:
        return NO
    return UNKNOWN


def _unique(items: Iterable) -> tuple:
    return tuple(dict.fromkeys(items))


# --- The 271 response: reading it -----------------------------------------------------


@dataclass
class _Segment:
    position: int
    elements: list[str]

    @property
    def name(self) -> str:
        return self.elements[0]

    def get(self, index: int) -> str:
        return self.elements[index].strip() if index < len(self.elements) else ""


@dataclass
class _Delimiters:
    element: str
    component: str
    repetition: str
    terminator: str


def _tokenize(text: str) -> tuple[list[_Segment], _Delimiters]:
    text = (text or "").lstrip("\ufeff \t\r\n")
    if not text.startswith("ISA"):
        raise X12Error("not an X12 file: it must begin with an ISA interchange header")
    element = text[3:4]
    # ISA16 (the component separator) follows the 16th element separator and the
    # segment terminator follows it; counting is sturdier than fixed offsets.
    index = -1
    for _ in range(16):
        index = text.find(element, index + 1) if element else -1
        if index == -1:
            raise X12Error("truncated: the ISA interchange header is incomplete")
    if len(text) < index + 3:
        raise X12Error("truncated: the ISA interchange header is incomplete")
    component, terminator = text[index + 1], text[index + 2]
    isa = text[: index + 2].split(element)
    repetition = isa[11] if len(isa[11]) == 1 and not isa[11].isalnum() else ""
    delimiters = _Delimiters(element, component, repetition, terminator)
    chars = [element, component, terminator]
    if len(set(chars)) != 3 or any(char.isalnum() or char == " " for char in chars):
        raise X12Error("not an X12 file: the ISA header has no valid delimiters")

    segments: list[_Segment] = []
    for raw in text.split(terminator):
        raw = raw.strip("\r\n\t ")
        if not raw:
            continue
        elements = raw.split(element)
        name = elements[0].upper()
        if not re.fullmatch(r"[A-Z][A-Z0-9]{1,2}", name):
            raise X12Error(
                f"not an X12 file: segment {len(segments) + 1} has no valid segment id"
            )
        elements[0] = name
        segments.append(_Segment(position=len(segments) + 1, elements=elements))
    return segments, delimiters


def _transactions(segments: list[_Segment]) -> list[list[_Segment]]:
    """Check the ISA/GS/ST envelopes and their counts; return each ST..SE."""
    if segments[-1].name != "IEA":
        raise X12Error("truncated: no IEA interchange trailer at the end")
    isa = segments[0]
    if len(isa.elements) != 17:
        raise X12Error("the ISA interchange header must have 16 elements")
    found: list[list[_Segment]] = []
    groups = 0
    index = 1
    last = len(segments) - 1
    while index < last:
        gs = segments[index]
        if gs.name != "GS":
            raise X12Error(
                f"expected a GS group header at segment {gs.position}, got {gs.name}"
            )
        index += 1
        in_group = 0
        while index < last and segments[index].name == "ST":
            st = segments[index]
            kind = st.get(1)
            if kind != "271":
                raise X12Error(f"expected a 271 transaction, got {kind[:6] or 'none'}")
            version = st.get(3) or gs.get(8)
            if not version.startswith("005010X279"):
                raise X12Error(
                    f"expected version {IMPLEMENTATION}, got {version[:20] or 'none'}"
                )
            end = index + 1
            while end < last and segments[end].name not in ("SE", "ST", "GE"):
                end += 1
            se = segments[end]
            if se.name != "SE":
                raise X12Error(f"truncated: transaction {st.get(2)} has no SE trailer")
            body = segments[index : end + 1]
            if body[1].name != "BHT":
                raise X12Error(
                    f"expected a BHT header at segment {body[1].position}, "
                    f"got {body[1].name}"
                )
            if se.get(1) != str(len(body)):
                raise X12Error(
                    "segment count in SE does not match: SE says "
                    f"{se.get(1) or 'nothing'}, the transaction has {len(body)}"
                )
            if se.get(2) != st.get(2):
                raise X12Error("control number in SE does not match the ST header")
            found.append(body)
            in_group += 1
            index = end + 1
        ge = segments[index]
        if ge.name != "GE":
            raise X12Error(
                f"expected a GE group trailer at segment {ge.position}, got {ge.name}"
            )
        if ge.get(1) != str(in_group):
            raise X12Error(
                f"transaction count in GE does not match: GE says {ge.get(1)}, "
                f"the group has {in_group}"
            )
        if ge.get(2) != gs.get(6):
            raise X12Error("control number in GE does not match the GS header")
        groups += 1
        index += 1
    iea = segments[-1]
    if iea.get(1) != str(groups):
        raise X12Error(
            f"group count in IEA does not match: IEA says {iea.get(1)}, "
            f"the interchange has {groups}"
        )
    if iea.get(2) != isa.get(13):
        raise X12Error("control number in IEA does not match the ISA header")
    if not found:
        raise X12Error("the interchange holds no 271 transaction")
    return found


@dataclass
class _LineDraft:
    """An EB line while the segments of its loop are read."""

    segment: _Segment
    service_types: tuple[str, ...]
    places: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    contacts: list[Contact] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    dates: list[tuple[str, date, date | None]] = field(default_factory=list)


@dataclass
class _Level:
    """One HL level of the response and what was read under it."""

    hl_id: str
    parent: str
    code: str
    name: _Segment | None = None
    traces: list[tuple[str, str]] = field(default_factory=list)
    refs: dict[str, tuple[str, str]] = field(default_factory=dict)
    date_of_birth: date | None = None
    dates: list[tuple[str, date, date | None]] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    lines: list[_LineDraft] = field(default_factory=list)


_WHERE = {"20": "payer", "21": "provider", "22": "subscriber", "23": "dependent"}
_PARENT_LEVEL = {"20": None, "21": "20", "22": "21", "23": "22"}


def _read_levels(body: list[_Segment], delimiters: _Delimiters) -> list[_Level]:
    levels: list[_Level] = []
    by_id: dict[str, _Level] = {}
    current: _Level | None = None
    line: _LineDraft | None = None
    contact: dict | None = None  # the 2120 entity being read, between LS and LE

    def finish_contact() -> None:
        nonlocal contact
        if contact is not None and line is not None:
            line.contacts.append(Contact(**contact))
        contact = None

    for segment in body[2:-1]:  # between BHT and SE
        name = segment.name
        if name == "HL":
            finish_contact()
            hl_id, parent, code = segment.get(1), segment.get(2), segment.get(3)
            if not hl_id or hl_id in by_id:
                raise X12Error(f"HL at segment {segment.position} repeats an HL id")
            if code not in _PARENT_LEVEL:
                raise X12Error(
                    f"HL at segment {segment.position} has an unknown level {code}"
                )
            expected = _PARENT_LEVEL[code]
            if (expected is None and parent) or (
                expected is not None
                and (parent not in by_id or by_id[parent].code != expected)
            ):
                raise X12Error(
                    f"HL at segment {segment.position} names a parent that is not "
                    "its enclosing level"
                )
            current = _Level(hl_id=hl_id, parent=parent, code=code)
            by_id[hl_id] = current
            levels.append(current)
            line = None
            continue
        if current is None:
            continue
        if name == "EB":
            finish_contact()
            line = _LineDraft(
                segment=segment,
                service_types=_repeats(segment.get(3), delimiters),
            )
            current.lines.append(line)
            continue
        if name == "LS":
            contact = None
            continue
        if name == "LE":
            finish_contact()
            continue
        if contact is not None or (line is not None and name == "NM1"):
            # 2120: NM1, N3, N4, PER, PRV of a benefit-related entity.
            if name == "NM1":
                finish_contact()
                contact = {
                    "entity_code": segment.get(1),
                    "name": " ".join(
                        part for part in (segment.get(4), segment.get(3)) if part
                    ),
                    "identifier": segment.get(9),
                }
            elif name == "PER" and contact is not None:
                contact.update(_per(segment))
            continue
        if line is not None:
            _read_line_segment(line, segment)
            continue
        _read_level_segment(current, segment)
    finish_contact()
    return levels


def _read_level_segment(level: _Level, segment: _Segment) -> None:
    name = segment.name
    if name == "NM1" and level.name is None:
        level.name = segment
    elif name == "TRN":
        level.traces.append((segment.get(1), segment.get(2)))
    elif name == "REF":
        level.refs.setdefault(segment.get(1), (segment.get(2), segment.get(3)))
    elif name == "DMG" and segment.get(1) == "D8" and segment.get(2):
        level.date_of_birth = _date(segment.get(2), segment, "date of birth")
    elif name == "DTP":
        level.dates.append(_dtp(segment))
    elif name == "AAA":
        level.rejections.append(_rejection(segment, _WHERE[level.code]))


def _read_line_segment(line: _LineDraft, segment: _Segment) -> None:
    name = segment.name
    if name == "MSG" and segment.get(1):
        line.messages.append(" ".join(segment.get(1).split()))
    elif name == "III" and segment.get(1) == "ZZ":
        line.places.append(segment.get(2))
    elif name == "DTP":
        line.dates.append(_dtp(segment))
    elif name == "AAA":
        line.rejections.append(_rejection(segment, "benefit"))


def _repeats(value: str, delimiters: _Delimiters) -> tuple[str, ...]:
    if not value:
        return ()
    parts = value.split(delimiters.repetition) if delimiters.repetition else [value]
    return tuple(part.strip() for part in parts if part.strip())


def _per(segment: _Segment) -> dict:
    found: dict[str, str] = {}
    for index in (3, 5, 7):
        qualifier, number = segment.get(index), segment.get(index + 1)
        if qualifier == "TE" and number and "phone" not in found:
            digits = re.sub(r"\D", "", number)
            found["phone"] = (
                f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"
                if len(digits) == 10
                else number
            )
        elif qualifier == "UR" and number and "url" not in found:
            found["url"] = number
    return found


def _rejection(segment: _Segment, where: str) -> Rejection:
    code, follow_up = segment.get(3), segment.get(4)
    return Rejection(
        code=code,
        message=REJECT_REASONS.get(code, "rejected"),
        follow_up=FOLLOW_UPS.get(follow_up, ""),
        where=where,
    )


def _date(value: str, segment: _Segment, what: str) -> date:
    try:
        return datetime.strptime(value, "%Y%m%d").date()  # noqa: DTZ007 - a date
    except ValueError:
        raise X12Error(
            f"{segment.name} at segment {segment.position}: the {what} is not a "
            "valid CCYYMMDD date"
        ) from None


def _dtp(segment: _Segment) -> tuple[str, date, date | None]:
    qualifier, form, value = segment.get(1), segment.get(2), segment.get(3)
    if form == "RD8":
        start, _, end = value.partition("-")
        return (
            qualifier,
            _date(start, segment, "date"),
            _date(end, segment, "date"),
        )
    return qualifier, _date(value, segment, "date"), None


def _number(value: str, segment: _Segment, what: str) -> Decimal | None:
    if not value:
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite():
        raise X12Error(f"EB at segment {segment.position}: the {what} is not a number")
    return number


def _benefit_line(draft: _LineDraft) -> BenefitLine:
    eb = draft.segment
    code = eb.get(1)
    if not code:
        raise X12Error(f"EB at segment {eb.position} has no benefit code (EB01)")
    service_types = draft.service_types
    if not service_types and not eb.get(13):
        # No service type and no procedure: the line is about the whole plan.
        service_types = ("30",)
    return BenefitLine(
        position=eb.position,
        code=code,
        coverage_level=eb.get(2),
        service_types=service_types,
        insurance_type=eb.get(4),
        plan_description=eb.get(5),
        time_period=eb.get(6),
        amount=_number(eb.get(7), eb, "amount (EB07)"),
        percent=_number(eb.get(8), eb, "percent (EB08)"),
        quantity_qualifier=eb.get(9),
        quantity=_number(eb.get(10), eb, "quantity (EB10)"),
        auth_required=eb.get(11),
        in_plan_network=eb.get(12),
        setting=_setting(draft),
        messages=tuple(draft.messages),
        contacts=tuple(draft.contacts),
        rejections=tuple(draft.rejections),
        dates=tuple(draft.dates),
    )


def _setting(draft: _LineDraft) -> str:
    """inpatient / outpatient when the line says where it applies, else ""."""
    said = set()
    for place in draft.places:
        if place in _INPATIENT_PLACES:
            said.add("inpatient")
        elif place in _OUTPATIENT_PLACES:
            said.add("outpatient")
    for text in (draft.segment.get(5), *draft.messages):
        text = text.upper()
        if _INPATIENT_WORDS.search(text):
            said.add("inpatient")
        if _OUTPATIENT_WORDS.search(text):
            said.add("outpatient")
    return said.pop() if len(said) == 1 else ""


def _person(level: _Level) -> Person:
    nm1 = level.name
    if nm1 is None:
        return Person(first_name="", last_name="")
    member_id = nm1.get(9) if nm1.get(8) in ("MI", "") else ""
    return Person(
        first_name=nm1.get(4),
        last_name=nm1.get(3),
        member_id=member_id,
        date_of_birth=level.date_of_birth,
    )


def _trace_of(*levels: _Level | None) -> str:
    """Our TRN echoed back (TRN01 2), else any trace, from the patient up."""
    for wanted in ("2", None):
        for level in levels:
            if level is None:
                continue
            for kind, value in level.traces:
                if value and (wanted is None or kind == wanted):
                    return value
    return ""


def parse_271(text: str, *, trace: str | None = None) -> EligibilityResult:
    """Read a 005010X279A1 271 into an `EligibilityResult`.

    Raises `X12Error` with one message saying what is wrong for anything that is not
    a complete, consistent 271. When the response covers several people, `trace`
    picks the one answering that inquiry.
    """
    segments, delimiters = _tokenize(text)
    candidates = []  # (subscriber level, dependent level or None, levels)
    top_rejections: list[Rejection] = []
    source = receiver = None
    for body in _transactions(segments):
        levels = _read_levels(body, delimiters)
        for level in levels:
            if level.code == "20":
                source = source or level
                top_rejections.extend(level.rejections)
            elif level.code == "21":
                receiver = receiver or level
                top_rejections.extend(level.rejections)
        for subscriber in (level for level in levels if level.code == "22"):
            dependents = [
                level
                for level in levels
                if level.code == "23" and level.parent == subscriber.hl_id
            ]
            if subscriber.lines or not dependents:
                candidates.append((subscriber, None))
            candidates.extend((subscriber, dependent) for dependent in dependents)

    if trace:
        matching = [pair for pair in candidates if _trace_of(pair[1], pair[0]) == trace]
        if matching:
            candidates = matching
    if len(candidates) > 1:
        raise X12Error(
            f"the response covers {len(candidates)} people; expected only the one "
            "asked about"
        )
    if not candidates and not top_rejections:
        raise X12Error("the response names no subscriber and gives no reason")
    subscriber_level, dependent_level = candidates[0] if candidates else (None, None)
    patient_level = dependent_level or subscriber_level

    rejections = list(top_rejections)
    for level in (subscriber_level, dependent_level):
        if level is not None:
            rejections.extend(level.rejections)
    lines = tuple(
        _benefit_line(draft) for draft in (patient_level.lines if patient_level else [])
    )
    rejections.extend(rejection for line in lines for rejection in line.rejections)
    return _result(
        lines=lines,
        rejections=tuple(dict.fromkeys(rejections)),
        source=source,
        receiver=receiver,
        subscriber_level=subscriber_level,
        dependent_level=dependent_level,
    )


def _result(
    *,
    lines: tuple[BenefitLine, ...],
    rejections: tuple[Rejection, ...],
    source: _Level | None,
    receiver: _Level | None,
    subscriber_level: _Level | None,
    dependent_level: _Level | None,
) -> EligibilityResult:
    benefits = {
        service_type: _merge(service_type, lines)
        for service_type in dict.fromkeys(
            code for line in lines for code in line.service_types
        )
    }
    plan = benefits.get("30") or ServiceBenefit(service_type="30")
    sud = [
        benefits[code]
        for code in ("AI", "AK", "AJ", "CI", "CJ", "MH", "BB", "RT")
        if code in benefits
    ]

    if plan.coverage == "active":
        coverage_active = YES
    elif plan.coverage in ("inactive", "not_covered"):
        coverage_active = NO
    elif any(line.code in _ACTIVE for line in lines):
        coverage_active = YES
    elif any(line.code in _INACTIVE for line in lines):
        coverage_active = NO
    else:
        coverage_active = UNKNOWN

    network = plan.in_network
    if network == UNKNOWN:
        stated = {benefit.in_network for benefit in sud} - {UNKNOWN}
        network = stated.pop() if len(stated) == 1 else UNKNOWN
    network_status = {YES: "in", NO: "out"}.get(network, "unknown")

    def first_stated(attribute: str) -> InOut:
        for benefit in (plan, *sud):
            value = getattr(benefit, attribute)
            if not value.is_empty:
                return value
        return InOut()

    patient_level = dependent_level or subscriber_level
    begins, ends = _coverage_dates(
        [
            *(patient_level.dates if patient_level else []),
            *(subscriber_level.dates if subscriber_level and dependent_level else []),
            *(
                item
                for line in lines
                if "30" in line.service_types and line.code in _ACTIVE | _INACTIVE
                for item in line.dates
            ),
        ]
    )
    group_number, group_name = _group(subscriber_level, dependent_level)
    payer = source.name if source else None
    provider = receiver.name if receiver else None
    return EligibilityResult(
        trace=_trace_of(dependent_level, subscriber_level),
        payer_name=payer.get(3) if payer else "",
        payer_id=payer.get(9) if payer else "",
        provider_name=provider.get(3) if provider else "",
        provider_npi=provider.get(9) if provider and provider.get(8) == "XX" else "",
        subscriber=_person(subscriber_level) if subscriber_level else None,
        dependent=_person(dependent_level) if dependent_level else None,
        group_number=group_number,
        group_name=group_name,
        plan_description=plan.plan_description,
        coverage_begins=begins,
        coverage_ends=ends,
        coverage_active=coverage_active,
        network_status=network_status,
        plan=plan,
        deductible=plan.deductible,
        out_of_pocket=plan.out_of_pocket,
        coinsurance_percent=first_stated("coinsurance_percent"),
        copay=first_stated("copay"),
        benefits=benefits,
        rejections=rejections,
        messages=_unique(message for line in lines for message in line.messages),
        contacts=_unique(contact for line in lines for contact in line.contacts),
        lines=lines,
    )


def _coverage_dates(
    dates: list[tuple[str, date, date | None]],
) -> tuple[date | None, date | None]:
    begins = ends = None
    # Plan begin/end first, then eligibility begin/end, then a plan or eligibility
    # range; a single 291/307 date is the day asked about, not a policy date.
    for qualifier in ("346", "356", "291", "307"):
        for found, start, end in dates:
            if found != qualifier or begins is not None:
                continue
            if qualifier in ("346", "356") or end is not None:
                begins = start
    for qualifier in ("347", "357", "291", "307"):
        for found, start, end in dates:
            if found != qualifier or ends is not None:
                continue
            if qualifier in ("347", "357"):
                ends = start
            elif end is not None:
                ends = end
    return begins, ends


def _group(*levels: _Level | None) -> tuple[str, str]:
    for qualifier in ("6P", "1L", "IG"):
        for level in levels:
            if level is not None and qualifier in level.refs:
                return level.refs[qualifier]
    return "", ""
