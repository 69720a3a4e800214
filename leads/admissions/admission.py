"""Admissions: scheduling a lead into a program, and what happened on the day.

An admission is scheduled, then admitted, a no-show or cancelled; each change keeps
who and when. The lead's stage follows through `lead_transition`: scheduling moves
it to admission scheduled, admitting to admitted, and a no-show or a cancellation
back to clinical review. Locks are taken lead first, then admission, in every
function here, so that two of them racing on one lead cannot deadlock.
"""

import logging
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from crm.models import User
from crm.services import audit_record

from ..models import (
    Activity,
    Admission,
    CallBack,
    CoveredLevel,
    Lead,
    Program,
    Stage,
)
from ..services import followup, lead_activity_record, lead_transition

logger = logging.getLogger(__name__)

# A time typed a moment ago ("now", on a slow form) is still accepted.
PAST_GRACE = timedelta(minutes=5)
SCHEDULE_HORIZON = timedelta(days=366)
# The call that confirms arrival and travel, the day before.
REMINDER_BEFORE = timedelta(days=1)
TRAVEL_NOTES_MAX_LENGTH = 2000
NOTE_MAX_LENGTH = 2000
STATUS_FIELDS = ["status", "status_changed_at", "status_changed_by"]
# Stages an admission may be scheduled from: benefits verified, or reviewed.
SCHEDULABLE_FROM = frozenset(
    {Stage.INSURANCE_VERIFICATION, Stage.CLINICAL_REVIEW, Stage.ADMISSION_SCHEDULED}
)


def _locked(admission: Admission) -> tuple[Lead, Admission]:
    lead = (
        Lead.objects.select_for_update(of=("self",))
        .select_related("source", "owner")
        .get(pk=admission.lead_id)
    )
    admission = (
        Admission.objects.select_for_update(of=("self",))
        .select_related("program")
        .get(pk=admission.pk)
    )
    return lead, admission


def _require_scheduled(admission: Admission, doing: str) -> None:
    if admission.status != Admission.Status.SCHEDULED:
        status = admission.get_status_display().lower()
        raise ValidationError(
            {
                "status": [
                    f"This admission is already {status}; only a scheduled one "
                    f"can be {doing}."
                ]
            }
        )


def _check_time(lead: Lead, scheduled_for: datetime | None, now: datetime) -> datetime:
    if scheduled_for is None:
        raise ValidationError({"scheduled_for": ["Say when the admission is."]})
    if timezone.is_naive(scheduled_for):
        # A wall-clock time: the lead's own, as the form asks for it.
        scheduled_for = scheduled_for.replace(tzinfo=followup.lead_zone(lead))
    if scheduled_for < now - PAST_GRACE:
        raise ValidationError(
            {"scheduled_for": ["This time has passed: choose a time in the future."]}
        )
    if scheduled_for > now + SCHEDULE_HORIZON:
        raise ValidationError(
            {"scheduled_for": ["Choose a time within the next year."]}
        )
    return scheduled_for


def _check_travel_notes(travel_notes: str) -> str:
    travel_notes = (travel_notes or "").strip()
    if len(travel_notes) > TRAVEL_NOTES_MAX_LENGTH:
        raise ValidationError(
            {
                "travel_notes": [
                    f"Keep travel notes under {TRAVEL_NOTES_MAX_LENGTH:,} characters."
                ]
            }
        )
    return travel_notes


def _reminder_note(admission: Admission) -> str:
    # The prefix finds the reminder again when the admission moves or ends.
    return (
        f"{_reminder_prefix(admission)} confirm tomorrow's arrival at "
        f"{admission.program} and the travel plan."
    )


def _reminder_prefix(admission: Admission) -> str:
    return f"Admission #{admission.pk} reminder:"


def _reminder_schedule(
    *, lead: Lead, admission: Admission, by: User, now: datetime
) -> CallBack | None:
    """A call the day before, inside the lead's calling hours; none when sooner."""
    if admission.scheduled_for - now < REMINDER_BEFORE:
        return None
    due_at = followup.within_calling_hours(
        lead, admission.scheduled_for - REMINDER_BEFORE
    )
    if due_at >= admission.scheduled_for:
        return None
    return followup.callback_schedule(
        lead=lead, by=by, due_at=due_at, note=_reminder_note(admission)
    )


def _reminder_cancel(*, admission: Admission, by: User, why: str) -> None:
    reminders = CallBack.objects.open().filter(
        lead_id=admission.lead_id,
        reason=CallBack.Reason.SCHEDULED,
        note__startswith=_reminder_prefix(admission),
    )
    for reminder in reminders.order_by("pk"):
        followup.callback_cancel(callback=reminder, by=by, note=why)


def _status_set(admission: Admission, status: str, by: User, now: datetime) -> None:
    admission.status = status
    admission.status_changed_at = now
    admission.status_changed_by = by


def _level_label(level: str) -> str:
    return CoveredLevel(level).label if level in CoveredLevel.values else level


def _record(
    *,
    lead: Lead,
    admission: Admission,
    by: User,
    at: datetime,
    action: str,
    summary: str,
    fields: list[str],
    body: str = "",
    detail: str = "",
    data: dict[str, Any] | None = None,
) -> None:
    """One step of an admission on the lead's timeline and in the audit trail."""
    lead_activity_record(
        lead=lead,
        kind=Activity.Kind.ADMISSION,
        actor=by,
        summary=summary,
        body=body,
        data={"admission": admission.pk, "status": admission.status, **(data or {})},
        at=at,
    )
    audit_record(
        actor=by,
        action=action,
        object_type="admission",
        object_id=admission.pk,
        lead_id=lead.pk,
        fields=fields,
        detail=detail,
    )


@transaction.atomic
def admission_schedule(
    *,
    lead: Lead,
    program: Program,
    level_of_care: str,
    scheduled_for: datetime | None,
    travel_arranged: bool = False,
    travel_notes: str = "",
    by: User,
) -> Admission:
    """Schedule the lead's admission into `program`, or refuse with field errors.

    The lead moves to admission scheduled (from insurance verification or clinical
    review), and a call the day before is set to confirm arrival and travel.
    """
    now = timezone.now()
    lead = (
        Lead.objects.select_for_update(of=("self",))
        .select_related("owner")
        .get(pk=lead.pk)
    )
    if not lead.is_open:
        raise ValidationError(
            {"lead": ["This lead is closed; reopen it before scheduling an admission."]}
        )
    if lead.stage not in SCHEDULABLE_FROM:
        raise ValidationError(
            {
                "stage": [
                    f"The lead is in {lead.get_stage_display()}: complete the "
                    "pre-screen and the insurance verification first (the lead "
                    "must be in Insurance verification or Clinical review)."
                ]
            }
        )
    program = Program.objects.filter(pk=program.pk).first()
    if program is None:
        raise ValidationError({"program": ["This program is no longer listed."]})
    errors: dict[str, list[str]] = {}
    if not program.is_active:
        errors["program"] = [f"{program} no longer takes admissions."]
    if level_of_care not in CoveredLevel.values:
        errors["level_of_care"] = ["Choose the level of care."]
    elif level_of_care not in (program.levels_of_care or []):
        errors["level_of_care"] = [
            f"{program} does not offer {_level_label(level_of_care)}."
        ]
    if errors:
        raise ValidationError(errors)
    scheduled_for = _check_time(lead, scheduled_for, now)
    travel_notes = _check_travel_notes(travel_notes)
    existing = (
        Admission.objects.filter(lead=lead, status=Admission.Status.SCHEDULED)
        .select_related("program")
        .first()
    )
    if existing is not None:
        raise ValidationError({"program": [_already_scheduled(lead, existing)]})

    if lead.stage != Stage.ADMISSION_SCHEDULED:
        lead = lead_transition(
            lead=lead,
            to=Stage.ADMISSION_SCHEDULED,
            by=by,
            reason=f"Admission scheduled at {program}",
        )
    try:
        # A savepoint, so that the database's one-scheduled-per-lead constraint
        # answers as a field error: the check above holds under the lead's lock,
        # but a writer that skips this service would not take it.
        with transaction.atomic():
            admission = Admission.objects.create(
                lead=lead,
                program=program,
                level_of_care=level_of_care,
                scheduled_for=scheduled_for,
                travel_arranged=travel_arranged,
                travel_notes=travel_notes,
                status=Admission.Status.SCHEDULED,
                status_changed_at=now,
                status_changed_by=by,
                created_at=now,
                created_by=by,
            )
    except IntegrityError as exc:
        raise ValidationError(
            {"program": ["This lead already has an admission scheduled."]}
        ) from exc

    when = followup.both_local_times(lead, scheduled_for)
    _record(
        lead=lead,
        admission=admission,
        by=by,
        at=now,
        action="create",
        summary=f"Admission scheduled at {program} ({_level_label(level_of_care)}) "
        f"for {when}",
        body=travel_notes,
        fields=["program", "level_of_care", "scheduled_for", "travel_arranged"],
        data={
            "program": program.pk,
            "scheduled_for": scheduled_for.isoformat(),
            "travel_arranged": travel_arranged,
        },
    )
    _reminder_schedule(lead=lead, admission=admission, by=by, now=now)
    logger.info(
        "admission scheduled admission_id=%s lead_id=%s program_id=%s",
        admission.pk,
        lead.pk,
        program.pk,
    )
    return admission


def _already_scheduled(lead: Lead, existing: Admission) -> str:
    when = followup.both_local_times(lead, existing.scheduled_for)
    return (
        f"This lead already has an admission scheduled at {existing.program} for "
        f"{when}: reschedule or cancel that one."
    )


@transaction.atomic
def admission_reschedule(
    *,
    admission: Admission,
    scheduled_for: datetime | None,
    travel_arranged: bool,
    travel_notes: str = "",
    by: User,
) -> Admission:
    """Move a scheduled admission to another time, or change its travel plan."""
    now = timezone.now()
    lead, admission = _locked(admission)
    _require_scheduled(admission, "rescheduled")
    scheduled_for = _check_time(lead, scheduled_for, now)
    travel_notes = _check_travel_notes(travel_notes)
    new_values = {
        "scheduled_for": scheduled_for,
        "travel_arranged": travel_arranged,
        "travel_notes": travel_notes,
    }
    changed = [
        name for name, value in new_values.items() if getattr(admission, name) != value
    ]
    if not changed:
        return admission
    old_when = followup.both_local_times(lead, admission.scheduled_for)
    for name in changed:
        setattr(admission, name, new_values[name])
    admission.save(update_fields=changed)

    if "scheduled_for" in changed:
        summary = (
            f"Admission at {admission.program} moved from {old_when} to "
            f"{followup.both_local_times(lead, scheduled_for)}"
        )
    else:
        summary = f"Travel plan of the admission at {admission.program} changed"
    _record(
        lead=lead,
        admission=admission,
        by=by,
        at=now,
        action="update",
        summary=summary,
        body=travel_notes if "travel_notes" in changed else "",
        fields=changed,
        data={"fields": changed, "scheduled_for": scheduled_for.isoformat()},
    )
    if "scheduled_for" in changed:
        _reminder_cancel(admission=admission, by=by, why="Admission rescheduled")
        _reminder_schedule(lead=lead, admission=admission, by=by, now=now)
    return admission


@transaction.atomic
def admission_admit(
    *, admission: Admission, by: User, at: datetime | None = None
) -> Admission:
    """The person arrived: admitted, the lead moves to admitted, a bed is taken."""
    now = timezone.now()
    at = at or now
    lead, admission = _locked(admission)
    _require_scheduled(admission, "admitted")
    if at > now + PAST_GRACE:
        raise ValidationError({"at": ["An admission cannot be recorded ahead."]})
    if lead.stage != Stage.ADMISSION_SCHEDULED:
        raise ValidationError(
            {
                "status": [
                    f"The lead is in {lead.get_stage_display()}, not Admission "
                    "scheduled: move it back to Admission scheduled first."
                ]
            }
        )
    _status_set(admission, Admission.Status.ADMITTED, by, now)
    admission.admitted_at = at
    admission.save(
        update_fields=[
            "status",
            "status_changed_at",
            "status_changed_by",
            "admitted_at",
        ]
    )
    # The count admins keep; a program admitting over it stays at zero.
    Program.objects.filter(pk=admission.program_id, open_beds__gt=0).update(
        open_beds=F("open_beds") - 1
    )
    lead = lead_transition(
        lead=lead,
        to=Stage.ADMITTED,
        by=by,
        reason=f"Admitted to {admission.program}",
        at=at,
    )
    _record(
        lead=lead,
        admission=admission,
        by=by,
        at=at,
        action="update",
        summary=f"Admitted to {admission.program} "
        f"({_level_label(admission.level_of_care)})",
        fields=["status", "admitted_at"],
        detail="scheduled->admitted",
        data={"program": admission.program_id},
    )
    logger.info("admission admitted admission_id=%s lead_id=%s", admission.pk, lead.pk)
    return admission


def _back_to_review(*, lead: Lead, admission: Admission, by: User, why: str) -> Lead:
    # Only a lead still waiting for this admission goes back; one moved or closed
    # meanwhile by hand stays where a person put it.
    if lead.stage == Stage.ADMISSION_SCHEDULED:
        lead = lead_transition(lead=lead, to=Stage.CLINICAL_REVIEW, by=by, reason=why)
    _reminder_cancel(admission=admission, by=by, why=why)
    return lead


def _follow_up_after_no_show(*, lead: Lead, by: User, now: datetime) -> CallBack:
    """Start the lead's follow-up cadence afresh, as an unanswered call does.

    Without a cadence, one call is due now.
    """
    first_attempt = followup.cadence_restart(lead=lead, now=now)
    if first_attempt is not None:
        return first_attempt
    return followup.callback_create(
        lead=lead,
        due_at=followup.within_calling_hours(lead, now),
        reason=CallBack.Reason.SCHEDULED,
        by=by,
        note="No-show for admission: call to find out what happened.",
        now=now,
    )


@transaction.atomic
def admission_no_show(*, admission: Admission, by: User, note: str = "") -> Admission:
    """The person did not arrive: back to clinical review, follow-up calls restart."""
    now = timezone.now()
    note = (note or "").strip()
    lead, admission = _locked(admission)
    _require_scheduled(admission, "marked a no-show")
    if admission.scheduled_for > now:
        when = followup.both_local_times(lead, admission.scheduled_for)
        raise ValidationError(
            {
                "status": [
                    f"The admission is set for {when}: a no-show is recorded from "
                    "then on. If they will not come, cancel it with the reason."
                ]
            }
        )
    if len(note) > NOTE_MAX_LENGTH:
        raise ValidationError(
            {"note": [f"Keep the note under {NOTE_MAX_LENGTH:,} characters."]}
        )
    _status_set(admission, Admission.Status.NO_SHOW, by, now)
    admission.save(update_fields=STATUS_FIELDS)
    lead = _back_to_review(
        lead=lead, admission=admission, by=by, why=f"No-show at {admission.program}"
    )
    _record(
        lead=lead,
        admission=admission,
        by=by,
        at=now,
        action="update",
        summary=f"No-show for the admission at {admission.program}",
        body=note,
        fields=["status"],
        detail="scheduled->no_show",
    )
    callback = None
    if lead.is_open:
        callback = _follow_up_after_no_show(lead=lead, by=by, now=now)
    _alert_owner_no_show(lead=lead, by=by, callback=callback)
    logger.info("admission no-show admission_id=%s lead_id=%s", admission.pk, lead.pk)
    return admission


def _alert_owner_no_show(*, lead: Lead, by: User, callback: CallBack | None) -> None:
    # Imported here: notifications builds on leads, not the other way round.
    from notifications.models import AlertPreference
    from notifications.services import alert_send

    owner = lead.owner
    if owner is None or owner == by or not owner.is_active:
        return
    # Texted to some: no clinical words, no program name.
    text = f"Lead #{lead.pk} did not arrive as planned."
    if callback is not None:
        text += " Follow-up calls have restarted."
    alert_send(user=owner, kind=AlertPreference.Kind.CALLBACK_DUE, lead=lead, text=text)


@transaction.atomic
def admission_cancel(*, admission: Admission, by: User, reason: str) -> Admission:
    """Call off a scheduled admission, saying why; the lead goes back to review."""
    now = timezone.now()
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": ["Say why the admission is cancelled."]})
    if len(reason) > NOTE_MAX_LENGTH:
        raise ValidationError(
            {"reason": [f"Keep the reason under {NOTE_MAX_LENGTH:,} characters."]}
        )
    lead, admission = _locked(admission)
    _require_scheduled(admission, "cancelled")
    _status_set(admission, Admission.Status.CANCELLED, by, now)
    admission.cancel_reason = reason
    admission.save(update_fields=[*STATUS_FIELDS, "cancel_reason"])
    lead = _back_to_review(
        lead=lead,
        admission=admission,
        by=by,
        why=f"Admission at {admission.program} cancelled",
    )
    _record(
        lead=lead,
        admission=admission,
        by=by,
        at=now,
        action="update",
        summary=f"Admission at {admission.program} cancelled",
        body=reason,
        fields=["status", "cancel_reason"],
        detail="scheduled->cancelled",
    )
    return admission
