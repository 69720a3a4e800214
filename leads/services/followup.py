"""Call-backs, call outcomes and the follow-up cadence.

A call-back is a due-time row; the beat task `callbacks_dispatch` turns the ones
whose time came into work at the top of the owner's queue. After an unanswered
call the lead's cadence schedules the next attempt (in the lead's own time zone,
inside calling hours); a reply, an answered call or a stage change stops it, and
after the last attempt the lead closes as unreachable unless a counselor acts.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from crm.models import User
from crm.services import audit_record

from ..geo import time_zone_for_state
from ..models import (
    CALLBACK_OPEN_STATUSES,
    UNANSWERED_DISPOSITIONS,
    Activity,
    Cadence,
    CadenceStep,
    CallBack,
    CallDisposition,
    Lead,
    LostReason,
    Stage,
)
from . import lead_activity_record, lead_transition

logger = logging.getLogger(__name__)

# A call made this close before a call-back's time counts as that call-back.
EARLY_CALL_COUNTS = timedelta(minutes=30)
SCHEDULE_HORIZON = timedelta(days=366)
DISPATCH_BATCH = 500


# --- Time zones ----------------------------------------------------------------------


def lead_zone(lead: Lead) -> ZoneInfo:
    """The lead's own time zone: as set, else their state's, else the center's."""
    for name in (lead.time_zone, time_zone_for_state(lead.state)):
        if name:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo(settings.TIME_ZONE)


def _calling_hours_recipient(lead: Lead):
    # Imported here: quiet hours live with texting, which builds on leads.
    from notifications.quiet_hours import Recipient

    return Recipient(
        state=lead.state, time_zone=lead.time_zone, phone=str(lead.phone or "")
    )


def within_calling_hours(lead: Lead, at: datetime) -> datetime:
    """`at`, or the next minute the lead may be called (TCPA hours, local time)."""
    from notifications.quiet_hours import is_allowed, next_allowed

    recipient = _calling_hours_recipient(lead)
    if is_allowed(recipient, at):
        return at
    return next_allowed(recipient, at)


def both_local_times(lead: Lead, at: datetime) -> str:
    """E.g. "Tue Dec 1 14:00 CST (15:00 EST here)", for timelines and answers."""
    theirs = at.astimezone(lead_zone(lead))
    ours = timezone.localtime(at)
    text = f"{theirs:%a %b} {theirs.day} {theirs:%H:%M %Z}"
    if theirs.utcoffset() != ours.utcoffset():
        text += f" ({ours:%H:%M %Z} here)"
    return text


# --- Call-backs ----------------------------------------------------------------------


def _callback_owner(lead: Lead, owner: User | None) -> User | None:
    return owner if owner is not None else lead.owner


def callback_create(
    *,
    lead: Lead,
    due_at: datetime,
    reason: str,
    by: User | None,
    owner: User | None = None,
    note: str = "",
    attempt: int = 0,
    leave_voicemail: bool = False,
    send_text: bool = False,
    now: datetime | None = None,
) -> CallBack:
    """Store a call-back; one due now is at once in the owner's queue."""
    now = now or timezone.now()
    due_now = due_at <= now
    callback = CallBack.objects.create(
        lead=lead,
        owner=_callback_owner(lead, owner),
        due_at=due_at,
        status=CallBack.Status.DUE if due_now else CallBack.Status.PENDING,
        dispatched_at=now if due_now else None,
        reason=reason,
        attempt=attempt,
        leave_voicemail=leave_voicemail,
        send_text=send_text,
        note=note[:500],
        created_by=by,
        created_at=now,
    )
    if due_now:
        summary = f"{callback.get_reason_display()}: call-back due now"
    else:
        summary = f"Call-back set for {both_local_times(lead, due_at)}"
        if reason == CallBack.Reason.CADENCE:
            summary = (
                f"Follow-up attempt {attempt} due {both_local_times(lead, due_at)}"
            )
    lead_activity_record(
        lead=lead,
        kind=Activity.Kind.CALLBACK,
        actor=by,
        summary=summary,
        body=note,
        data={
            "callback": callback.pk,
            "reason": reason,
            "due_at": due_at.isoformat(),
            "attempt": attempt,
        },
        at=now,
    )
    return callback


@transaction.atomic
def callback_schedule(
    *,
    lead: Lead,
    by: User,
    due_at: datetime,
    note: str = "",
    owner: User | None = None,
) -> CallBack:
    """A counselor promises a call at a time (aware, or naive = the lead's time)."""
    now = timezone.now()
    if timezone.is_naive(due_at):
        due_at = due_at.replace(tzinfo=lead_zone(lead))
    if due_at < now - timedelta(minutes=1):
        raise ValidationError({"due_at": ["Choose a time in the future."]})
    if due_at > now + SCHEDULE_HORIZON:
        raise ValidationError({"due_at": ["Choose a time within the next year."]})
    if not lead.is_open:
        raise ValidationError(
            {"lead": ["This lead is closed; reopen it before scheduling a call."]}
        )
    if owner is not None and not owner.is_active:
        raise ValidationError({"owner": [f"{owner} is not an active user."]})
    lead = Lead.objects.select_for_update().get(pk=lead.pk)
    _counselor_acted(lead)
    callback = callback_create(
        lead=lead,
        due_at=due_at,
        reason=CallBack.Reason.SCHEDULED,
        by=by,
        owner=owner,
        note=(note or "").strip(),
        now=now,
    )
    audit_record(
        actor=by,
        action="create",
        object_type="callback",
        object_id=callback.pk,
        lead_id=lead.pk,
    )
    return callback


@transaction.atomic
def callback_cancel(*, callback: CallBack, by: User, note: str = "") -> CallBack:
    """Take a call-back off the queue, saying why."""
    callback = CallBack.objects.select_for_update().get(pk=callback.pk)
    if callback.status not in CALLBACK_OPEN_STATUSES:
        raise ValidationError({"status": ["This call-back is already closed."]})
    now = timezone.now()
    callback.status = CallBack.Status.CANCELLED
    callback.closed_at = now
    callback.closed_by = by
    callback.save(update_fields=["status", "closed_at", "closed_by"])
    lead_activity_record(
        lead=callback.lead,
        kind=Activity.Kind.CALLBACK,
        actor=by,
        summary="Call-back cancelled",
        body=(note or "").strip(),
        data={"callback": callback.pk, "status": callback.status},
        at=now,
    )
    audit_record(
        actor=by,
        action="update",
        object_type="callback",
        object_id=callback.pk,
        lead_id=callback.lead_id,
        fields=["status"],
    )
    return callback


def _close_callbacks(
    *, lead: Lead, status: str, by: User | None, now: datetime, **filters
) -> list[CallBack]:
    callbacks = list(
        CallBack.objects.select_for_update()
        .filter(lead=lead, status__in=CALLBACK_OPEN_STATUSES, **filters)
        .order_by("pk")
    )
    if callbacks:
        CallBack.objects.filter(pk__in=[c.pk for c in callbacks]).update(
            status=status, closed_at=now, closed_by=by
        )
    return callbacks


def callbacks_cancel_all(*, lead: Lead, by: User | None, why: str) -> int:
    """Cancel every open call-back of a lead that no longer needs calling."""
    closed = _close_callbacks(
        lead=lead, status=CallBack.Status.CANCELLED, by=by, now=timezone.now()
    )
    if closed:
        logger.info(
            "callbacks cancelled lead_id=%s n=%s why=%s", lead.pk, len(closed), why
        )
    return len(closed)


# --- Speed to lead -------------------------------------------------------------------


def lead_record_response(*, lead: Lead, by: User | None, at: datetime) -> bool:
    """Stamp the lead's first response by a person (a call or a text); once."""
    if by is None or lead.first_response_at is not None:
        return False
    updated = Lead.objects.filter(pk=lead.pk, first_response_at__isnull=True).update(
        first_response_at=at, first_response_by=by
    )
    if updated:
        lead.first_response_at = at
        lead.first_response_by = by
    return bool(updated)


def lead_texted_by_staff(*, lead: Lead, by: User, at: datetime) -> None:
    """A person texted the lead: that is a response, and a counselor acting."""
    lead_record_response(lead=lead, by=by, at=at)
    _counselor_acted(lead)


# --- Cadence -------------------------------------------------------------------------


def cadence_for(lead: Lead) -> Cadence | None:
    if lead.source_id and lead.source.cadence_id:
        return lead.source.cadence
    return Cadence.objects.filter(is_default=True).first()


def step_due_at(*, lead: Lead, step: CadenceStep, now: datetime) -> datetime:
    """When the step's attempt is due, moved into the lead's calling hours."""
    if step.after_minutes is not None:
        due = now + timedelta(minutes=step.after_minutes)
    else:
        zone = lead_zone(lead)
        start_day = (lead.cadence_started_at or now).astimezone(zone).date()
        day = start_day + timedelta(days=step.on_day)
        due = datetime.combine(day, step.at_local_time, tzinfo=zone)
        # A late start must not schedule an attempt in the past.
        due = max(due, now + timedelta(minutes=1))
    return within_calling_hours(lead, due)


def _cadence_reset(lead: Lead) -> None:
    lead.cadence_attempt = 0
    lead.cadence_started_at = None
    lead.cadence_close_at = None
    Lead.objects.filter(pk=lead.pk).update(
        cadence_attempt=0, cadence_started_at=None, cadence_close_at=None
    )


def cadence_stop(*, lead: Lead, by: User | None, why: str) -> int:
    """End the follow-up cadence: cancel its attempts, forget the close date."""
    closed = _close_callbacks(
        lead=lead,
        status=CallBack.Status.CANCELLED,
        by=by,
        now=timezone.now(),
        reason=CallBack.Reason.CADENCE,
    )
    had_cadence = lead.cadence_attempt or lead.cadence_close_at or closed
    if had_cadence:
        _cadence_reset(lead)
        lead_activity_record(
            lead=lead,
            kind=Activity.Kind.CALLBACK,
            actor=by,
            summary=f"Follow-up attempts stopped: {why}",
            data={"cadence": "stopped", "cancelled": len(closed)},
        )
    return len(closed)


def _opted_out(lead: Lead) -> bool:
    # Imported here: texting builds on leads.
    from notifications.selectors import consent_state_for

    return bool(lead.phone) and consent_state_for(str(lead.phone)).opted_out


def cadence_drop_texts(*, lead: Lead) -> int:
    """After an opt-out the cadence goes on by phone only."""
    return CallBack.objects.filter(
        lead=lead,
        status__in=CALLBACK_OPEN_STATUSES,
        reason=CallBack.Reason.CADENCE,
        send_text=True,
    ).update(send_text=False)


def _cadence_next(*, lead: Lead, by: User | None, now: datetime) -> CallBack | None:
    cadence = cadence_for(lead)
    if cadence is None:
        return None
    if lead.cadence_started_at is None:
        lead.cadence_started_at = now
    attempt = lead.cadence_attempt + 1
    step = (
        cadence.steps.filter(attempt=attempt).first()
        if attempt <= cadence.max_attempts
        else None
    )
    if step is None:
        close_at = now + timedelta(hours=cadence.close_after_hours)
        lead.cadence_close_at = close_at
        Lead.objects.filter(pk=lead.pk).update(
            cadence_close_at=close_at, cadence_started_at=lead.cadence_started_at
        )
        lead_activity_record(
            lead=lead,
            kind=Activity.Kind.CALLBACK,
            actor=None,
            summary=(
                f"All {lead.cadence_attempt} follow-up attempts made; the lead "
                f"closes as unreachable {both_local_times(lead, close_at)} unless "
                "someone acts"
            ),
            data={"cadence": "exhausted", "close_at": close_at.isoformat()},
            at=now,
        )
        return None
    lead.cadence_attempt = attempt
    Lead.objects.filter(pk=lead.pk).update(
        cadence_attempt=attempt, cadence_started_at=lead.cadence_started_at
    )
    return callback_create(
        lead=lead,
        due_at=step_due_at(lead=lead, step=step, now=now),
        reason=CallBack.Reason.CADENCE,
        by=None,
        attempt=attempt,
        leave_voicemail=step.leave_voicemail,
        # An opt-out drops the texts of attempts not yet scheduled, too.
        send_text=step.send_text and not _opted_out(lead),
        note=f"Attempt {attempt} of {cadence.max_attempts}",
        now=now,
    )


def cadence_restart(*, lead: Lead, now: datetime | None = None) -> CallBack | None:
    """Start the follow-up attempts afresh from attempt 1 (after a no-show, say).

    Returns the first attempt's call-back, or None when no cadence applies.
    """
    _cadence_reset(lead)
    return _cadence_next(lead=lead, by=None, now=now or timezone.now())


def _counselor_acted(lead: Lead) -> None:
    """A person working the lead cancels its automatic close as unreachable."""
    if lead.cadence_close_at is not None:
        lead.cadence_close_at = None
        Lead.objects.filter(pk=lead.pk).update(cadence_close_at=None)


@dataclass(frozen=True)
class CallLogged:
    lead: Lead
    activity: Activity
    next_callback: CallBack | None
    text_queued: bool


@transaction.atomic
def lead_call_log(
    *,
    lead: Lead,
    by: User,
    disposition: str,
    note: str = "",
    call_back_at: datetime | None = None,
    at: datetime | None = None,
) -> CallLogged:
    """Record how a call to the lead went, and let the outcome drive what is next.

    No answer: the next cadence attempt is scheduled (or the cadence ends). Reached:
    the cadence stops and a new lead counts as contacted. Call back later: the
    promised call-back is scheduled.
    """
    if disposition not in CallDisposition.values:
        choices = ", ".join(CallDisposition.values)
        raise ValidationError({"disposition": [f"Choose one of: {choices}."]})
    note = (note or "").strip()
    if disposition == CallDisposition.CALL_BACK_LATER and call_back_at is None:
        raise ValidationError(
            {"call_back_at": ["Say when to call back (the lead's local time)."]}
        )
    lead = (
        Lead.objects.select_for_update(of=("self",))
        .select_related("source")
        .get(pk=lead.pk)
    )
    now = at or timezone.now()
    if not lead.is_open:
        raise ValidationError({"lead": ["This lead is closed; reopen it first."]})

    closed = _close_callbacks(
        lead=lead,
        status=CallBack.Status.DONE,
        by=by,
        now=now,
        due_at__lte=now + EARLY_CALL_COUNTS,
    )
    CallBack.objects.filter(pk__in=[c.pk for c in closed]).update(outcome=disposition)
    cadence_callback = next(
        (c for c in closed if c.reason == CallBack.Reason.CADENCE), None
    )
    # An early call on a later cadence attempt still counts as that attempt.
    if cadence_callback is None and disposition in UNANSWERED_DISPOSITIONS:
        pending = (
            CallBack.objects.open()
            .filter(lead=lead, reason=CallBack.Reason.CADENCE)
            .order_by("due_at")
            .first()
        )
        if pending is not None:
            _close_callbacks(
                lead=lead, status=CallBack.Status.DONE, by=by, now=now, pk=pending.pk
            )
            cadence_callback = pending

    label = CallDisposition(disposition).label
    summary = f"Call by {by}: {label.lower()}"
    if cadence_callback is not None:
        summary += f" (follow-up attempt {cadence_callback.attempt})"
    activity = lead_activity_record(
        lead=lead,
        kind=Activity.Kind.CALL,
        actor=by,
        summary=summary,
        body=note,
        data={
            "disposition": disposition,
            "callbacks_done": [c.pk for c in closed],
            "attempt": cadence_callback.attempt if cadence_callback else None,
        },
        at=now,
    )
    lead_record_response(lead=lead, by=by, at=now)
    _counselor_acted(lead)

    text_queued = False
    next_callback = None
    if disposition in UNANSWERED_DISPOSITIONS:
        if lead.stage == Stage.NEW:
            lead = lead_transition(
                lead=lead, to=Stage.ATTEMPTING_CONTACT, by=by, reason="No answer"
            )
        if cadence_callback is not None and cadence_callback.send_text:
            text_queued = _cadence_text(lead)
        next_callback = _cadence_next(lead=lead, by=by, now=now)
    else:
        if disposition == CallDisposition.REACHED and lead.stage in (
            Stage.NEW,
            Stage.ATTEMPTING_CONTACT,
        ):
            lead = lead_transition(lead=lead, to=Stage.CONTACTED, by=by)
        cadence_stop(lead=lead, by=by, why=label.lower())
        if disposition == CallDisposition.CALL_BACK_LATER:
            next_callback = callback_schedule(
                lead=lead, by=by, due_at=call_back_at, note=note
            )
    audit_record(
        actor=by,
        action="update",
        object_type="lead",
        object_id=lead.pk,
        lead_id=lead.pk,
        fields=["calls"],
        detail=disposition,
    )
    return CallLogged(lead, activity, next_callback, text_queued)


def _cadence_text(lead: Lead) -> bool:
    from notifications.models import Message, MessageTemplate
    from notifications.services import message_send_automated

    message = message_send_automated(
        lead=lead, template_key=MessageTemplate.Key.CADENCE_NO_ANSWER
    )
    return message is not None and message.status != Message.Status.BLOCKED


@transaction.atomic
def lead_followup_on_reply(
    *, lead: Lead, now: datetime | None = None
) -> CallBack | None:
    """The lead texted back: stop chasing them and put "call now" in the queue."""
    now = now or timezone.now()
    lead = Lead.objects.select_for_update().get(pk=lead.pk)
    if not lead.is_open:
        return None
    cadence_stop(lead=lead, by=None, why="the lead replied")
    if CallBack.objects.filter(
        lead=lead, status=CallBack.Status.DUE, due_at__lte=now
    ).exists():
        return None
    return callback_create(
        lead=lead, due_at=now, reason=CallBack.Reason.REPLIED, by=None, now=now
    )


def lead_followup_on_stage_change(*, lead: Lead, to: str, by: User | None) -> None:
    """Keep the queue true to the pipeline: closed leads need no calls."""
    if to in (Stage.LOST, Stage.REFERRED_OUT, Stage.ADMITTED):
        cadence_stop(lead=lead, by=by, why=f"moved to {Stage(to).label.lower()}")
        callbacks_cancel_all(lead=lead, by=by, why=f"stage {to}")
    elif to != Stage.ATTEMPTING_CONTACT:
        cadence_stop(lead=lead, by=by, why=f"moved to {Stage(to).label.lower()}")
    _counselor_acted(lead)


# --- Beat tasks ----------------------------------------------------------------------


@dataclass(frozen=True)
class DispatchResult:
    dispatched: int
    missed: int


def callbacks_dispatch(*, now: datetime | None = None) -> DispatchResult:
    """Turn call-backs whose time came into due work, alert their owners, and
    mark due ones left undone too long as missed."""
    from notifications.models import AlertPreference, MessageTemplate
    from notifications.services import alert_send, alert_team_supervisors

    now = now or timezone.now()
    missed_before = now - timedelta(minutes=settings.CALLBACK_MISSED_AFTER_MINUTES)
    with transaction.atomic():
        due = list(
            CallBack.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("lead", "owner", "lead__team")
            .filter(status=CallBack.Status.PENDING, due_at__lte=now)
            .order_by("due_at", "id")[:DISPATCH_BATCH]
        )
        CallBack.objects.filter(pk__in=[c.pk for c in due]).update(
            status=CallBack.Status.DUE, dispatched_at=now
        )
        for callback in due:
            owner = callback.owner or callback.lead.owner
            if owner is not None and owner.is_active:
                alert_send(
                    user=owner,
                    kind=AlertPreference.Kind.CALLBACK_DUE,
                    lead=callback.lead,
                    template_key=MessageTemplate.Key.ALERT_CALLBACK_DUE,
                )
            elif callback.lead.team is not None:
                alert_team_supervisors(
                    team=callback.lead.team,
                    kind=AlertPreference.Kind.LEAD_WAITING,
                    lead=callback.lead,
                    template_key=MessageTemplate.Key.ALERT_CALLBACK_DUE,
                )
        missed = list(
            CallBack.objects.select_for_update(skip_locked=True)
            .filter(status=CallBack.Status.DUE, dispatched_at__lte=missed_before)
            .order_by("id")
            .values_list("id", flat=True)[:DISPATCH_BATCH]
        )
        CallBack.objects.filter(pk__in=missed).update(status=CallBack.Status.MISSED)
    if due or missed:
        logger.info("callbacks dispatched=%s missed=%s", len(due), len(missed))
    return DispatchResult(len(due), len(missed))


def cadence_close_unreachable(*, now: datetime | None = None) -> int:
    """Close as unreachable the leads whose last follow-up went unanswered."""
    now = now or timezone.now()
    closed = 0
    with transaction.atomic():
        leads = list(
            Lead.objects.select_for_update(skip_locked=True)
            .filter(cadence_close_at__lte=now)
            .order_by("cadence_close_at", "id")[:DISPATCH_BATCH]
        )
        for lead in leads:
            attempts = lead.cadence_attempt
            if lead.is_open:
                lead_transition(
                    lead=lead,
                    to=Stage.LOST,
                    by=None,
                    reason=LostReason.UNREACHABLE,
                    note=f"No answer after {attempts} follow-up attempts.",
                    at=now,
                )
                closed += 1
            _cadence_reset(lead)
    if closed:
        logger.info("cadence closed unreachable n=%s", closed)
    return closed
