"""The structured pre-screen: saving a new version, and reading versions back.

A pre-screen is never edited. Every save is a new row with the next version number,
who saved it and when, so a reviewer can see what the counselor knew at each point.
What it means for the lead (a crisis, the level of care to match programs on) is
carried to the lead through `lead_update`, so the lead's own history records it.
"""

import datetime
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_date

from crm.models import User
from crm.services import audit_record

from ..models import (
    ASAM_TO_COVERED_LEVEL,
    Activity,
    AsamLevel,
    Lead,
    LevelOfCare,
    PreScreen,
    Priority,
    Substance,
    Urgency,
    YesNoUnknown,
)
from ..services import lead_activity_record, lead_update

logger = logging.getLogger(__name__)

# The answers a pre-screen holds; the rest of the row is bookkeeping.
PRESCREEN_FIELDS: tuple[str, ...] = (
    "patient_is",
    "patient_name",
    "patient_age",
    "patient_gender",
    "substances",
    "last_use_on",
    "withdrawal_risk",
    "detox_needed",
    "withdrawal_history",
    "co_occurring_mental_health",
    "mental_health_notes",
    "medications",
    "suicidal_thoughts",
    "overdose_last_30_days",
    "safety_notes",
    "legal_issues",
    "legal_notes",
    "asam_intoxication_withdrawal",
    "asam_biomedical",
    "asam_emotional_behavioral",
    "asam_readiness_to_change",
    "asam_relapse_potential",
    "asam_recovery_environment",
    "level_of_care_indicated",
    "readiness",
    "notes",
)


@dataclass(frozen=True)
class AsamDimension:
    field: str
    number: int
    name: str
    short: str
    help: str


# ASAM Criteria (3rd edition names, which the fields follow), each rated 0 to 4.
ASAM_DIMENSIONS: tuple[AsamDimension, ...] = (
    AsamDimension(
        "asam_intoxication_withdrawal",
        1,
        "Acute intoxication and withdrawal potential",
        "Withdrawal",
        "Intoxicated now? How bad could withdrawal get (seizures, DTs before)?",
    ),
    AsamDimension(
        "asam_biomedical",
        2,
        "Biomedical conditions and complications",
        "Medical",
        "Physical illnesses, pregnancy, pain or injuries that need care alongside.",
    ),
    AsamDimension(
        "asam_emotional_behavioral",
        3,
        "Emotional, behavioral or cognitive conditions",
        "Mental health",
        "Mood, anxiety, trauma, psychosis or memory problems, and how stable now.",
    ),
    AsamDimension(
        "asam_readiness_to_change",
        4,
        "Readiness to change",
        "Readiness",
        "How much they want treatment themselves, not only those around them.",
    ),
    AsamDimension(
        "asam_relapse_potential",
        5,
        "Relapse, continued use or continued problem potential",
        "Relapse risk",
        "Past relapses, cravings, and how long they stayed sober without help.",
    ),
    AsamDimension(
        "asam_recovery_environment",
        6,
        "Recovery / living environment",
        "Environment",
        "Home, work, family and friends: do they support recovery or undermine it?",
    ),
)
ASAM_SCORE_LABELS: dict[int, str] = {
    0: "0 – no problem",
    1: "1 – mild",
    2: "2 – moderate",
    3: "3 – serious",
    4: "4 – severe, needs immediate care",
}

MAX_SUBSTANCES = 4
SUBSTANCE_KEYS: tuple[str, ...] = (
    "substance",
    "route",
    "frequency",
    "amount",
    "last_use",
)
SUBSTANCE_TEXT_MAX = 100

# Medically monitored (3.7) and medically managed (4) care, and withdrawal management
# itself, treat withdrawal where the person is admitted; any other level needs detox
# first when detox is needed.
MANAGES_WITHDRAWAL: frozenset[str] = frozenset(
    {AsamLevel.WITHDRAWAL_MANAGEMENT, AsamLevel.LEVEL_3_7, AsamLevel.LEVEL_4}
)


# --- Writes ---------------------------------------------------------------------------


def _clean_substances(value: object) -> list[dict[str, str]]:
    """Rows of {substance, route, frequency, amount, last_use}, or a field error."""
    if value in (None, ""):
        return []
    if not isinstance(value, list | tuple):
        raise ValidationError({"substances": ["Give the substances as a list."]})
    if len(value) > MAX_SUBSTANCES:
        raise ValidationError(
            {
                "substances": [
                    f"At most {MAX_SUBSTANCES} substances, most important first."
                ]
            }
        )
    today = timezone.localdate()
    rows: list[dict[str, str]] = []
    errors: list[str] = []
    for number, row in enumerate(value, start=1):
        if not isinstance(row, Mapping):
            errors.append(f"Substance {number}: not a set of answers.")
            continue
        unknown = set(row) - set(SUBSTANCE_KEYS)
        if unknown:
            errors.append(f"Substance {number}: unknown answers {sorted(unknown)}.")
            continue
        clean = {key: str(row.get(key) or "").strip() for key in SUBSTANCE_KEYS}
        if not any(clean.values()):
            continue
        if not clean["substance"]:
            errors.append(f"Substance {number}: name the substance.")
        if clean["route"] and clean["route"] not in PreScreen.Route.values:
            errors.append(f"Substance {number}: choose a route from the list.")
        for key in ("substance", "frequency", "amount"):
            if len(clean[key]) > SUBSTANCE_TEXT_MAX:
                errors.append(
                    f"Substance {number}: {key} is longer than "
                    f"{SUBSTANCE_TEXT_MAX} characters."
                )
        if clean["last_use"]:
            try:
                last_use = parse_date(clean["last_use"])
            except ValueError:
                last_use = None
            if last_use is None:
                errors.append(f"Substance {number}: last use must be a date.")
            elif last_use > today:
                errors.append(f"Substance {number}: last use is in the future.")
            else:
                clean["last_use"] = last_use.isoformat()
        rows.append(clean)
    if errors:
        raise ValidationError({"substances": errors})
    return rows


def _latest_last_use(substances: list[dict[str, str]]) -> datetime.date | None:
    dates = [parse_date(row["last_use"]) for row in substances if row["last_use"]]
    return max(dates, default=None)


def _answers_differ(older: PreScreen, newer: PreScreen) -> list[str]:
    return [
        name
        for name in PRESCREEN_FIELDS
        if getattr(older, name) != getattr(newer, name)
    ]


def prescreen_lead_level(prescreen: PreScreen) -> str | None:
    """The lead's coarse level of care this pre-screen points to, if any.

    Detox needed comes first: a person in withdrawal is admitted to detox and
    steps down to the indicated level afterwards, so programs are matched on detox,
    unless the indicated level manages withdrawal on site (3.7, 4, or withdrawal
    management itself), where that level stands.
    """
    indicated = prescreen.level_of_care_indicated
    if (
        prescreen.detox_needed == YesNoUnknown.YES
        and indicated not in MANAGES_WITHDRAWAL
    ):
        return LevelOfCare.DETOX
    if indicated:
        return ASAM_TO_COVERED_LEVEL[indicated]
    return None


def _alert_crisis(*, lead: Lead, by: User) -> None:
    from notifications.models import AlertPreference
    from notifications.services import alert_send

    if lead.team is None:
        logger.warning("prescreen crisis with no team lead_id=%s", lead.pk)
        return
    # Texts to staff carry no clinical detail: the lead number and where to look.
    text = (
        f"Lead #{lead.pk} is now a crisis (pre-screen safety screen, by {by}). "
        "Check the counselor has the 988 / 911 script and help now."
    )
    for supervisor in lead.team.supervisors.filter(is_active=True).order_by("pk"):
        alert_send(
            user=supervisor,
            kind=AlertPreference.Kind.LEAD_CRISIS,
            lead=lead,
            text=text,
        )


@transaction.atomic
def prescreen_save(*, lead: Lead, by: User, data: Mapping[str, Any]) -> PreScreen:
    """Save the pre-screen as the lead's next version, and act on what it says.

    `data` holds answers by field name; an answer left out keeps the previous
    version's (or the default on a first save). A yes on the safety screen makes
    the lead a crisis and alerts its team's supervisors; the level of care it
    points to becomes the lead's.
    """
    unknown = set(data) - set(PRESCREEN_FIELDS)
    if unknown:
        raise ValidationError(
            {name: ["This is not a pre-screen answer."] for name in sorted(unknown)}
        )
    # Two counselors saving at once must not both take the same version number;
    # the lead row is the lock every save of its pre-screen queues on.
    lead = Lead.objects.select_for_update().get(pk=lead.pk)
    previous = PreScreen.objects.filter(lead=lead).order_by("-version").first()
    prescreen = PreScreen(
        lead=lead,
        version=previous.version + 1 if previous else 1,
        created_by=by,
        created_at=timezone.now(),
    )
    base = previous or PreScreen()
    for name in PRESCREEN_FIELDS:
        setattr(prescreen, name, data.get(name, getattr(base, name)))
    for name in ("patient_name", "patient_gender"):
        setattr(prescreen, name, (getattr(prescreen, name) or "").strip())
    # Every wrong answer at once, so the counselor corrects the form in one go.
    errors: dict[str, list[str]] = {}
    try:
        prescreen.substances = _clean_substances(prescreen.substances)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    else:
        if "last_use_on" not in data:
            # The last use of anything is the latest of the rows' own last uses.
            prescreen.last_use_on = _latest_last_use(prescreen.substances)
    try:
        prescreen.full_clean(
            exclude=["lead", "created_by", "version", "substances"],
            validate_unique=False,
            validate_constraints=False,
        )
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    prescreen.save()

    changed = _answers_differ(base, prescreen)
    summary = f"Pre-screen saved (version {prescreen.version})"
    if prescreen.level_of_care_indicated:
        level_label = prescreen.get_level_of_care_indicated_display()
        summary += f"; level of care indicated: {level_label}"
    _record(lead=lead, by=by, prescreen=prescreen, summary=summary, changed=changed)

    was_crisis = lead.urgency == Urgency.CRISIS
    lead_changes: dict[str, Any] = {}
    if prescreen.safety_flagged:
        # A later version without the yes leaves the urgency alone: standing the
        # crisis down is a person's decision, not a side effect of a form.
        lead_changes.update(urgency=Urgency.CRISIS, priority=Priority.URGENT)
    level = prescreen_lead_level(prescreen)
    if level is not None:
        lead_changes["level_of_care"] = level
    if lead_changes:
        lead_update(lead=lead, by=by, data=lead_changes)
    newly_flagged = previous is None or not previous.safety_flagged
    if prescreen.safety_flagged and (newly_flagged or not was_crisis):
        _alert_crisis(lead=lead, by=by)
    logger.info("prescreen saved lead_id=%s version=%s", lead.pk, prescreen.version)
    return prescreen


def _record(
    *, lead: Lead, by: User, prescreen: PreScreen, summary: str, changed: list[str]
) -> None:
    lead_activity_record(
        lead=lead,
        kind=Activity.Kind.PRESCREEN,
        actor=by,
        summary=summary,
        data={"prescreen": prescreen.pk, "version": prescreen.version},
    )
    audit_record(
        actor=by,
        action="create",
        object_type="prescreen",
        object_id=prescreen.pk,
        lead_id=lead.pk,
        fields=changed,
        detail=f"version {prescreen.version}",
    )


def prescreen_record_view(*, prescreen: PreScreen, by: User) -> None:
    """Audit that `by` read a version of the pre-screen (health information)."""
    audit_record(
        actor=by,
        action="view",
        object_type="prescreen",
        object_id=prescreen.pk,
        lead_id=prescreen.lead_id,
        detail=f"version {prescreen.version}",
    )


# --- Reads ----------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryRow:
    version: int
    by: User
    at: datetime.datetime


def prescreen_current(lead: Lead) -> PreScreen | None:
    """The lead's newest pre-screen version, with who saved it."""
    return (
        PreScreen.objects.filter(lead=lead)
        .select_related("created_by")
        .order_by("-version")
        .first()
    )


def prescreen_history(lead: Lead) -> list[HistoryRow]:
    """Every version of the lead's pre-screen, newest first: which, who, when."""
    rows = (
        PreScreen.objects.filter(lead=lead)
        .select_related("created_by")
        .only("lead_id", "version", "created_at", "created_by")
        .order_by("-version")
    )
    return [HistoryRow(row.version, row.created_by, row.created_at) for row in rows]


def prescreen_with_previous(
    lead: Lead, version: int
) -> tuple[PreScreen | None, PreScreen | None]:
    """Version `version` of the lead's pre-screen and the one before it."""
    rows = list(
        PreScreen.objects.filter(lead=lead, version__lte=version)
        .select_related("created_by")
        .order_by("-version")[:2]
    )
    if not rows or rows[0].version != version:
        return None, None
    return rows[0], rows[1] if len(rows) > 1 else None


def day(value: datetime.date) -> str:
    return f"{value:%b} {value.day}, {value.year}"


def substance_label(value: str) -> str:
    return Substance(value).label if value in Substance.values else value


def substance_line(row: Mapping[str, str]) -> str:
    """One substance row in words: "Alcohol · oral · daily · a fifth · last use …"."""
    parts = [substance_label(row.get("substance", ""))]
    route = row.get("route", "")
    if route:
        parts.append(
            PreScreen.Route(route).label.lower()
            if route in PreScreen.Route.values
            else route
        )
    parts += [row[key] for key in ("frequency", "amount") if row.get(key)]
    if row.get("last_use"):
        last_use = parse_date(row["last_use"])
        parts.append(f"last use {day(last_use)}" if last_use else row["last_use"])
    return " · ".join(part for part in parts if part)


def prescreen_display(prescreen: PreScreen, name: str) -> str:
    """An answer as the page shows it; "—" when not answered."""
    field = PreScreen._meta.get_field(name)
    value = getattr(prescreen, name)
    if name == "substances":
        return "; ".join(substance_line(row) for row in value or []) or "—"
    if value in (None, ""):
        return "—"
    if name.startswith("asam_"):
        return ASAM_SCORE_LABELS.get(value, str(value))
    if field.choices:
        return str(getattr(prescreen, f"get_{name}_display")())
    if isinstance(value, datetime.date):
        return day(value)
    return str(value)


def prescreen_label(name: str) -> str:
    """The words a person reads for an answer's field."""
    for dimension in ASAM_DIMENSIONS:
        if dimension.field == name:
            return f"ASAM {dimension.number}: {dimension.name}"
    return PRESCREEN_LABELS.get(name, name.replace("_", " ").capitalize())


PRESCREEN_LABELS: dict[str, str] = {
    "patient_is": "The patient is",
    "patient_name": "Patient's name",
    "patient_age": "Age",
    "patient_gender": "Gender",
    "substances": "Substances",
    "last_use_on": "Last use of anything",
    "withdrawal_risk": "Withdrawal risk",
    "detox_needed": "Detox needed",
    "withdrawal_history": "Withdrawal history",
    "co_occurring_mental_health": "Mental health condition too",
    "mental_health_notes": "Mental health notes",
    "medications": "Medications",
    "suicidal_thoughts": "Thoughts of suicide or self-harm",
    "overdose_last_30_days": "Overdose in the last 30 days",
    "safety_notes": "Safety notes",
    "legal_issues": "Legal issues",
    "legal_notes": "Legal notes",
    "level_of_care_indicated": "Level of care indicated",
    "readiness": "Readiness",
    "notes": "Notes",
}


def prescreen_changes(
    older: PreScreen | None, newer: PreScreen
) -> list[tuple[str, str, str]]:
    """What changed from `older` to `newer`: (field label, old, new) in form order.

    With no older version, every answer given counts as a change from blank.
    """
    older = older or PreScreen()
    return [
        (
            prescreen_label(name),
            prescreen_display(older, name),
            prescreen_display(newer, name),
        )
        for name in _answers_differ(older, newer)
    ]
