"""Reads of the program catalog, which programs fit a lead, and a lead's admissions.

A match says why, one reason per criterion (level of care, insurance, state, beds),
so that a counselor can explain a choice to the caller and see what to ask next.
Levels and states are short JSON lists and the catalog is small: they are compared
in Python, the same on SQLite and PostgreSQL; the payer is checked in SQL.
"""

from dataclasses import dataclass

from django.db.models import Exists, OuterRef, QuerySet, Subquery, TextChoices

from ..geo import USState
from ..models import (
    ASAM_TO_COVERED_LEVEL,
    Admission,
    CoveredLevel,
    InsuranceVerification,
    Lead,
    LevelOfCare,
    Payer,
    PreScreen,
    Program,
    YesNoUnknown,
)

# A lead's own level of care that says nothing a program could be matched on.
UNMATCHABLE_LEAD_LEVELS = frozenset({LevelOfCare.UNSURE, LevelOfCare.AFTERCARE})


class PayerFit(TextChoices):
    """Whether a program takes the lead's insurance."""

    ACCEPTED = "accepted", "Yes"
    SELF_PAY = "self_pay", "Self-pay only"
    NO = "no", "No"
    UNKNOWN = "unknown", "Unknown payer"


# Better first; a verified in-network payer ranks above a merely accepted one.
_PAYER_RANK = {
    PayerFit.ACCEPTED: 1,
    PayerFit.UNKNOWN: 2,
    PayerFit.SELF_PAY: 3,
    PayerFit.NO: 4,
}


@dataclass(frozen=True)
class Reason:
    """One line of why a program fits or not; `tone` is ok, info, warn or danger."""

    text: str
    tone: str


@dataclass(frozen=True)
class MatchCriteria:
    """What a lead is matched on, and where each value came from."""

    level_of_care: str = ""  # a CoveredLevel value, or "" when not known
    level_source: str = ""
    payer: Payer | None = None  # on the payer list
    payer_name: str = ""  # as written, on the list or not
    payer_source: str = ""
    # The current verification found no active coverage: the lead pays themselves.
    self_pay: bool = False
    # The current verification found the payer active and in network.
    in_network: bool = False
    state: str = ""

    @property
    def level_label(self) -> str:
        if self.level_of_care in CoveredLevel.values:
            return CoveredLevel(self.level_of_care).label
        return ""

    @property
    def state_label(self) -> str:
        return USState(self.state).label if self.state in USState.values else ""

    @property
    def payer_label(self) -> str:
        if self.self_pay:
            return "No active coverage (self-pay)"
        return self.payer.name if self.payer is not None else self.payer_name


@dataclass(frozen=True)
class ProgramMatch:
    """A program ranked for a lead, with the reasons."""

    program: Program
    offers_level: bool | None  # None: the lead's level of care is not known
    payer_fit: str  # a PayerFit value
    serves_state: bool | None  # None: the program is limited and the state unknown
    open_beds: int
    fits: bool
    reasons: tuple[Reason, ...]

    @property
    def is_full(self) -> bool:
        return self.open_beds <= 0


def level_for_lead(*, prescreen_level: str, lead_level: str) -> tuple[str, str]:
    """The level of care to match on and where it came from: the pre-screen's
    ASAM level first, else what the caller asked for at intake."""
    level = ASAM_TO_COVERED_LEVEL.get(prescreen_level or "")
    if level:
        return str(level), "pre-screen"
    if lead_level and lead_level not in UNMATCHABLE_LEAD_LEVELS:
        return lead_level, "intake"
    return "", ""


def match_criteria_for(
    *,
    lead: Lead,
    level_of_care: str | None = None,
    payer: Payer | str | None = None,
    state: str | None = None,
) -> MatchCriteria:
    """What `lead` is matched on: the given values, else the lead's own.

    One query: the current pre-screen's level and the current verification's
    payer are read as subqueries of the lead's row.
    """
    found: dict = {}
    if not (level_of_care and payer and state):
        current_vob = InsuranceVerification.objects.filter(
            lead=OuterRef("pk"), is_current=True
        )
        newest_prescreen = PreScreen.objects.filter(lead=OuterRef("pk")).order_by(
            "-version"
        )
        found = (
            Lead.objects.filter(pk=lead.pk)
            .annotate(
                prescreen_level=Subquery(
                    newest_prescreen.values("level_of_care_indicated")[:1]
                ),
                vob_status=Subquery(current_vob.values("status")[:1]),
                vob_active=Subquery(current_vob.values("coverage_active")[:1]),
                vob_network=Subquery(current_vob.values("network_status")[:1]),
                vob_payer_id=Subquery(current_vob.values("payer_id")[:1]),
                vob_payer_list_name=Subquery(current_vob.values("payer__name")[:1]),
                vob_payer_text=Subquery(current_vob.values("payer_name")[:1]),
            )
            .values(
                "prescreen_level",
                "vob_status",
                "vob_active",
                "vob_network",
                "vob_payer_id",
                "vob_payer_list_name",
                "vob_payer_text",
            )
            .first()
        ) or {}

    if level_of_care:
        level, level_source = level_of_care, "chosen"
    else:
        level, level_source = level_for_lead(
            prescreen_level=found.get("prescreen_level") or "",
            lead_level=lead.level_of_care,
        )

    payer_fields = _payer_from(lead=lead, payer=payer, found=found)
    return MatchCriteria(
        level_of_care=level,
        level_source=level_source,
        state=state if state else (lead.state or ""),
        **payer_fields,
    )


def _payer_from(*, lead: Lead, payer: Payer | str | None, found: dict) -> dict:
    if isinstance(payer, Payer):
        return {"payer": payer, "payer_name": payer.name, "payer_source": "chosen"}
    if isinstance(payer, str) and payer.strip():
        return {"payer_name": payer.strip(), "payer_source": "chosen"}
    status = found.get("vob_status")
    if status is not None:
        no_coverage = (
            status == InsuranceVerification.Status.DENIED
            or found.get("vob_active") == YesNoUnknown.NO
        )
        if no_coverage:
            return {"self_pay": True, "payer_source": "verification"}
        verified = status == InsuranceVerification.Status.VERIFIED
        source = (
            "verified"
            if verified
            else f"verification {InsuranceVerification.Status(status).label.lower()}"
        )
        in_network = (
            verified
            and found.get("vob_active") == YesNoUnknown.YES
            and found.get("vob_network") == InsuranceVerification.Network.IN_NETWORK
        )
        if found.get("vob_payer_id"):
            listed = Payer(
                pk=found["vob_payer_id"], name=found.get("vob_payer_list_name") or ""
            )
            return {
                "payer": listed,
                "payer_name": listed.name,
                "payer_source": source,
                "in_network": in_network,
            }
        if (found.get("vob_payer_text") or "").strip():
            return {
                "payer_name": found["vob_payer_text"].strip(),
                "payer_source": source,
                "in_network": in_network,
            }
    # No verification yet: what the caller read off the card at intake.
    if (lead.insurance_payer or "").strip():
        return {"payer_name": lead.insurance_payer.strip(), "payer_source": "intake"}
    return {}


def programs_for_criteria(*, criteria: MatchCriteria) -> list[ProgramMatch]:
    """Active programs ranked by fit to `criteria`; one query however many."""
    through = Program.payers.through
    programs = Program.objects.filter(is_active=True)
    # Without coverage only self-pay counts, and there is no payer to look up.
    if criteria.payer is not None and not criteria.self_pay:
        programs = programs.annotate(
            takes_payer=Exists(
                through.objects.filter(
                    program_id=OuterRef("pk"), payer_id=criteria.payer.pk
                )
            )
        )
    elif criteria.payer_name and not criteria.self_pay:
        # A name typed in rather than chosen: it counts when the list has it.
        programs = programs.annotate(
            takes_payer=Exists(
                through.objects.filter(
                    program_id=OuterRef("pk"),
                    payer__name__iexact=criteria.payer_name,
                )
            ),
            payer_listed=Exists(Payer.objects.filter(name__iexact=criteria.payer_name)),
        )
    matches = [_match(program, criteria) for program in programs]
    matches.sort(key=lambda match: _rank(match, criteria))
    return matches


def programs_matching(
    *,
    lead: Lead,
    level_of_care: str | None = None,
    payer: Payer | str | None = None,
    state: str | None = None,
) -> list[ProgramMatch]:
    """Active programs ranked by how well they fit the lead, each saying why.

    Level of care, payer and state default to the lead's: the current pre-screen's
    level (else the one asked for at intake), the current verification's payer
    (else the one told at intake), the lead's state. Two queries.
    """
    criteria = match_criteria_for(
        lead=lead, level_of_care=level_of_care, payer=payer, state=state
    )
    return programs_for_criteria(criteria=criteria)


def _payer_fit(program: Program, criteria: MatchCriteria) -> str:
    if criteria.self_pay:
        return PayerFit.SELF_PAY if program.accepts_self_pay else PayerFit.NO
    listed = criteria.payer is not None or getattr(program, "payer_listed", False)
    if not listed:
        return PayerFit.UNKNOWN
    if program.takes_payer:
        return PayerFit.ACCEPTED
    return PayerFit.SELF_PAY if program.accepts_self_pay else PayerFit.NO


def _match(program: Program, criteria: MatchCriteria) -> ProgramMatch:
    level = criteria.level_of_care
    offers_level = level in (program.levels_of_care or []) if level else None
    payer_fit = _payer_fit(program, criteria)
    states = program.states_served or []
    if not states:
        serves_state: bool | None = True
    elif criteria.state:
        serves_state = criteria.state in states
    else:
        serves_state = None
    payer_ok = payer_fit in (PayerFit.ACCEPTED, PayerFit.UNKNOWN) or (
        payer_fit == PayerFit.SELF_PAY and criteria.self_pay
    )
    fits = offers_level is not False and serves_state is not False and payer_ok
    reasons = (
        _level_reason(offers_level, criteria),
        _payer_reason(payer_fit, criteria),
        _state_reason(serves_state, states, criteria),
        _beds_reason(program.open_beds),
    )
    return ProgramMatch(
        program=program,
        offers_level=offers_level,
        payer_fit=payer_fit,
        serves_state=serves_state,
        open_beds=program.open_beds,
        fits=fits,
        reasons=reasons,
    )


def _rank(match: ProgramMatch, criteria: MatchCriteria) -> tuple:
    payer_rank = _PAYER_RANK[match.payer_fit]
    if match.payer_fit == PayerFit.ACCEPTED and criteria.in_network:
        payer_rank = 0
    return (
        # A full program is shown, for a waiting list, but never first.
        match.is_full,
        not match.fits,
        match.offers_level is False,
        payer_rank,
        match.serves_state is False,
        -match.open_beds,
        match.program.name,
    )


def _level_reason(offers: bool | None, criteria: MatchCriteria) -> Reason:
    if offers is None:
        return Reason("Level of care not known yet", "info")
    label = criteria.level_label
    if offers:
        return Reason(f"Offers {label}", "ok")
    return Reason(f"No {label}", "danger")


def _payer_reason(fit: str, criteria: MatchCriteria) -> Reason:
    name = criteria.payer_label
    if criteria.self_pay:
        if fit == PayerFit.SELF_PAY:
            return Reason("Takes self-pay (no active coverage)", "ok")
        return Reason("No self-pay, and no active coverage", "danger")
    if fit == PayerFit.ACCEPTED:
        if criteria.in_network:
            return Reason(f"Takes {name} (verified in network)", "ok")
        return Reason(f"Takes {name}", "ok")
    if fit == PayerFit.SELF_PAY:
        return Reason(f"Not {name}: self-pay only", "warn")
    if fit == PayerFit.NO:
        return Reason(f"Does not take {name}", "danger")
    if name:
        return Reason(f"{name} is not on the payer list: ask the program", "info")
    return Reason("Payer not known yet", "info")


def _state_reason(serves: bool | None, states: list, criteria: MatchCriteria) -> Reason:
    if not states:
        return Reason("Admits from any state", "ok")
    if serves is None:
        return Reason("Admits from some states; the lead's is not known", "info")
    if serves:
        return Reason(f"Admits from {criteria.state_label}", "ok")
    return Reason(f"Does not admit from {criteria.state_label}", "danger")


def _beds_reason(open_beds: int) -> Reason:
    if open_beds <= 0:
        return Reason("Full: no open beds", "warn")
    return Reason(f"{open_beds} open bed{'s' if open_beds != 1 else ''}", "ok")


# --- The catalog ---------------------------------------------------------------------


def programs_catalog(
    *,
    level_of_care: str = "",
    payer: Payer | None = None,
    state: str = "",
    open_beds_only: bool = False,
) -> list[Program]:
    """Active programs with their payers, filtered as the catalog page asks.

    Two queries: the programs, and their payers prefetched.
    """
    programs: QuerySet[Program] = Program.objects.filter(
        is_active=True
    ).prefetch_related("payers")
    if payer is not None:
        programs = programs.filter(payers=payer)
    if open_beds_only:
        programs = programs.filter(open_beds__gt=0)
    return [
        program
        for program in programs
        if (not level_of_care or level_of_care in (program.levels_of_care or []))
        and (not state or not program.states_served or state in program.states_served)
    ]


def level_labels(levels: list[str]) -> list[str]:
    """The readable names of CoveredLevel values, in the catalog's order."""
    return [label for value, label in CoveredLevel.choices if value in (levels or [])]


# --- A lead's admissions -------------------------------------------------------------


def lead_admissions(*, lead: Lead) -> list[Admission]:
    """The lead's admissions, newest first, with their programs and who last
    changed each; one query."""
    return list(
        Admission.objects.filter(lead=lead)
        .select_related("program", "status_changed_by")
        .order_by("-scheduled_for", "-id")
    )
