"""Every write of telephony: inbound calls, ringing, missed calls, recordings,
status callbacks, click-to-call and the do-not-call list.

Webhooks answer TwiML built here at once; anything slow (texts, alerts by text)
goes through the outbox. A call's row is locked while a callback changes it, and
callbacks may come twice or out of order: each applies only what moves the call
forward.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from twilio.twiml.voice_response import Dial, Gather, VoiceResponse

from crm.models import Team, User
from crm.services import audit_record
from leads.geo import USState
from leads.models import Activity, CallBack, Channel, Lead, LeadSource
from leads.services import lead_activity_record, lead_assign
from leads.services.followup import (
    CallLogged,
    both_local_times,
    callback_create,
    lead_call_log,
    lead_record_response,
    within_calling_hours,
)
from leads.services.intake import lead_intake
from leads.services.sla import sla_due_for
from notifications.models import AlertPreference, MessageTemplate
from notifications.selectors import consent_state_for
from notifications.services import (
    alert_send,
    alert_team_supervisors,
    message_send_automated,
    phone_to_e164,
)

from .models import LIVE_STATUSES, Call, DoNotCall, TrackingNumber
from .selectors import counselors_to_ring, default_phone_source

logger = logging.getLogger(__name__)

DISCLOSURE = "This call may be recorded for quality and training."
VOICEMAIL_PROMPT = (
    "Sorry, all of our admissions counselors are helping other callers right now. "
    "Please leave your name and number after the tone, and we will call you right "
    "back."
)
VOICEMAIL_THANKS = "Thank you. A counselor will call you back shortly. Goodbye."
VOICEMAIL_MAX_SECONDS = 180
WHISPER_TIMEOUT_SECONDS = 6
# Twilio's call statuses in the order a call goes through them; a callback for
# an earlier one than the call has reached changes nothing.
STATUS_RANK = {
    Call.Status.QUEUED: 0,
    Call.Status.INITIATED: 1,
    Call.Status.RINGING: 2,
    Call.Status.IN_PROGRESS: 3,
    Call.Status.COMPLETED: 4,
    Call.Status.BUSY: 4,
    Call.Status.NO_ANSWER: 4,
    Call.Status.FAILED: 4,
    Call.Status.CANCELED: 4,
}
ANSWERED_DIAL_STATUSES = frozenset({"completed", "answered"})


def voice_url(path: str, **params: object) -> str:
    """The public address of one of our voice webhooks, as Twilio must call it."""
    query = urlencode({key: value for key, value in params.items() if value != ""})
    base = settings.PUBLIC_BASE_URL.rstrip("/")
    return f"{base}/twilio/voice/{path}/" + (f"?{query}" if query else "")


# --- Inbound -----------------------------------------------------------------------


def _state_code(value: str) -> str:
    code = (value or "").strip().upper()
    return code if code in USState.values else ""


def _lead_for_caller(
    *,
    caller: str,
    tracking: TrackingNumber | None,
    source: LeadSource,
    city: str,
    state: str,
    to_number: str,
    now: datetime,
) -> Lead | None:
    """The caller's lead by the intake dedupe rule, or a new one; None when the
    number is withheld or not a real one."""
    if not caller.startswith("+"):
        return None
    attribution = {"tracking_number": to_number if to_number.startswith("+") else ""}
    if tracking is not None:
        attribution.update(
            campaign=tracking.campaign, landing_page=tracking.landing_page
        )
    try:
        return lead_intake(
            channel=Channel.PHONE,
            source=source,
            details={"phone": caller, "city": city[:100], "state": state},
            attribution={key: value for key, value in attribution.items() if value},
            message=f"Called {tracking.name if tracking else to_number}",
            team=tracking.team if tracking else None,
            # The call itself is the first contact: no call-back unless missed.
            speed_to_lead=False,
            at=now,
        ).lead
    except ValidationError as exc:
        logger.warning("call without a usable caller number errors=%s", exc.messages)
        return None


@transaction.atomic
def call_incoming(
    *,
    sid: str,
    from_number: str,
    to_number: str,
    caller_city: str = "",
    caller_state: str = "",
) -> VoiceResponse:
    """A call reached one of our numbers: find or make its lead, and ring."""
    existing = Call.objects.select_for_update().filter(sid=sid).first() if sid else None
    if existing is not None:
        # Twilio retried the webhook because our answer never reached it: no
        # second lead, touch or call, and the same counselors rung as in the
        # lost answer; once a <Dial> has ended, ring from where we are.
        if not existing.dial_status and existing.answered_at is None:
            existing.ring_index = 0
        return _ring_or_voicemail(existing, greet=True)
    now = timezone.now()
    dialled = phone_to_e164(to_number)
    tracking = (
        TrackingNumber.objects.select_related("source", "team")
        .filter(number=dialled, is_active=True)
        .first()
        if dialled.startswith("+")
        else None
    )
    if tracking is None:
        logger.warning("call to an unknown tracking number to=%s", dialled[-4:])
    source = (tracking.source if tracking else None) or default_phone_source()
    caller = phone_to_e164(from_number)
    state = _state_code(caller_state)
    lead = _lead_for_caller(
        caller=caller,
        tracking=tracking,
        source=source,
        city=caller_city,
        state=state,
        to_number=dialled,
        now=now,
    )
    team = (lead.team if lead else None) or (tracking.team if tracking else None)
    ring = counselors_to_ring(team=team, owner=lead.owner if lead else None)
    call = Call.objects.create(
        sid=sid or None,
        direction=Call.Direction.INBOUND,
        status=Call.Status.RINGING,
        from_number=caller[:40],
        to_number=dialled[:40],
        lead=lead,
        tracking_number=tracking,
        caller_city=caller_city[:100],
        caller_state=caller_state[:40],
        ring_list=[user.pk for user in ring],
        started_at=now,
    )
    if lead is not None:
        rung = ", ".join(str(user) for user in ring) or "nobody available"
        lead_activity_record(
            lead=lead,
            kind=Activity.Kind.CALL,
            actor=None,
            summary=f"Incoming call to {tracking or dialled}: ringing {rung}",
            data={"call": call.pk, "direction": call.direction},
            at=now,
        )
    logger.info("call incoming call_id=%s ring=%s", call.pk, len(ring))
    return _ring_or_voicemail(call, greet=True)


def _call_team(call: Call) -> Team | None:
    if call.lead_id and call.lead.team_id:
        return call.lead.team
    return call.tracking_number.team if call.tracking_number_id else None


def _records(call: Call) -> bool:
    return call.tracking_number.record_calls if call.tracking_number_id else True


def _ring_or_voicemail(call: Call, *, greet: bool) -> VoiceResponse:
    """TwiML for the next counselors to ring, or the voicemail when none is left."""
    response = VoiceResponse()
    if greet:
        if call.tracking_number_id and call.tracking_number.greeting:
            response.say(call.tracking_number.greeting)
        if _records(call):
            # All-party-consent states make the notice mandatory; it is said to
            # every caller, whatever their state.
            response.say(DISCLOSURE)
    users = User.objects.in_bulk(call.ring_list[call.ring_index :])
    remaining = [users[pk] for pk in call.ring_list[call.ring_index :] if pk in users]
    remaining = [user for user in remaining if user.is_active and user.phone]
    if not remaining:
        return _voicemail(call, response)
    team = _call_team(call)
    simultaneous = (
        team is not None and team.ring_strategy == Team.RingStrategy.SIMULTANEOUS
    )
    to_ring = remaining if simultaneous else remaining[:1]
    dial = Dial(
        action=voice_url("dial-result", call=call.pk),
        timeout=team.ring_timeout_seconds if team else 20,
        answer_on_bridge=True,
        caller_id=call.to_number or None,
        record="record-from-answer-dual" if _records(call) else None,
        recording_status_callback=voice_url("recording", call=call.pk, kind="call")
        if _records(call)
        else None,
    )
    for user in to_ring:
        dial.number(
            str(user.phone), url=voice_url("whisper", call=call.pk, counselor=user.pk)
        )
    response.append(dial)
    Call.objects.filter(pk=call.pk).update(ring_index=call.ring_index + len(to_ring))
    call.ring_index += len(to_ring)
    return response


def _voicemail(call: Call, response: VoiceResponse) -> VoiceResponse:
    _call_missed(call, now=timezone.now())
    response.say(VOICEMAIL_PROMPT)
    response.record(
        action=voice_url("recording", call=call.pk, kind="voicemail-done"),
        max_length=VOICEMAIL_MAX_SECONDS,
        play_beep=True,
        transcribe=True,
        transcribe_callback=voice_url("recording", call=call.pk, kind="transcription"),
        recording_status_callback=voice_url(
            "recording", call=call.pk, kind="voicemail"
        ),
    )
    response.say(VOICEMAIL_THANKS)
    response.hangup()
    return response


def _locked_call(call_id: int | None) -> Call | None:
    if call_id is None:
        return None
    return (
        Call.objects.select_for_update(of=("self",))
        .select_related("lead", "lead__team", "lead__owner", "tracking_number")
        .filter(pk=call_id)
        .first()
    )


@transaction.atomic
def call_whisper(
    *, call_id: int | None, counselor_id: int | None, digits: str | None
) -> VoiceResponse:
    """What the counselor hears before being connected: accept with 1, or not.

    Without the key press a counselor's own voicemail would "answer" and swallow
    the caller; a call already taken by a colleague (simultaneous ring) is not
    connected twice.
    """
    response = VoiceResponse()
    call = _locked_call(call_id)
    counselor = User.objects.filter(pk=counselor_id).first() if counselor_id else None
    if call is None or counselor is None:
        response.hangup()
        return response
    if digits is None:
        # The number this call came in on says what the caller is calling about;
        # the lead's first source is older news (and a withheld caller has none).
        tracked = call.tracking_number.source if call.tracking_number_id else None
        if tracked is None and call.lead_id and call.lead.source_id:
            tracked = call.lead.source
        source = tracked.name if tracked else ""
        who = f"New caller from {source}" if source else "New caller"
        gather = Gather(
            num_digits=1,
            timeout=WHISPER_TIMEOUT_SECONDS,
            action=voice_url(
                "whisper", call=call.pk, counselor=counselor.pk, step="key"
            ),
        )
        gather.say(f"{who}. Press 1 to accept.")
        response.append(gather)
        response.hangup()
        return response
    if digits != "1" or call.answered_at is not None or not call.is_live:
        if call.answered_at is not None and call.counselor_id != counselor.pk:
            response.say("A colleague has taken this call.")
        response.hangup()
        return response
    _call_answered(call, counselor)
    return response  # an empty answer connects the counselor to the caller


def _call_answered(call: Call, counselor: User) -> None:
    now = timezone.now()
    call.counselor = counselor
    call.answered_at = now
    call.status = Call.Status.IN_PROGRESS
    call.save(update_fields=["counselor", "answered_at", "status", "updated_at"])
    # On a live call: not rung for the next one until this one ends.
    User.objects.filter(pk=counselor.pk).update(
        presence=User.Presence.BUSY, presence_changed_at=now
    )
    lead = call.lead
    if lead is None:
        return
    # A caller this call just made a lead of belongs to whoever spoke with them;
    # an earlier lead keeps its owner unless it had none.
    new_caller = lead.created_at >= call.started_at
    if (
        (lead.owner_id is None or (new_caller and lead.owner_id != counselor.pk))
        and lead.team_id
        and lead.team.members.filter(pk=counselor.pk).exists()
    ):
        lead = lead_assign(lead=lead, owner=counselor, by=None)
    lead_record_response(lead=lead, by=counselor, at=now)
    lead_activity_record(
        lead=lead,
        kind=Activity.Kind.CALL,
        actor=counselor,
        summary=f"Call answered by {counselor}",
        data={"call": call.pk, "direction": call.direction},
        at=now,
    )


@transaction.atomic
def call_dial_result(*, call_id: int | None, dial_status: str) -> VoiceResponse:
    """After a <Dial>: done if a counselor took the call, else ring the next one,
    and when nobody is left, the caller leaves a voicemail."""
    response = VoiceResponse()
    call = _locked_call(call_id)
    if call is None:
        response.hangup()
        return response
    Call.objects.filter(pk=call.pk).update(dial_status=dial_status[:16])
    if call.answered_at is not None and dial_status in ANSWERED_DIAL_STATUSES:
        response.hangup()
        return response
    if not call.is_live:
        # The caller hung up while it rang: nobody left to ring or to record.
        response.hangup()
        return response
    return _ring_or_voicemail(call, greet=False)


def _call_missed(call: Call, *, now: datetime) -> None:
    """Nobody took the call: call-back now, a text when allowed, everyone told."""
    if call.missed_at is not None or call.answered_at is not None:
        return
    call.missed_at = now
    Call.objects.filter(pk=call.pk).update(missed_at=now)
    lead = call.lead
    team = _call_team(call)
    if lead is None:
        if team is not None:
            alert_team_supervisors(
                team=team,
                kind=AlertPreference.Kind.MISSED_CALL,
                template_key=MessageTemplate.Key.ALERT_MISSED_CALL,
            )
        return
    lead = Lead.objects.select_for_update().get(pk=lead.pk)
    lead_activity_record(
        lead=lead,
        kind=Activity.Kind.CALL,
        actor=None,
        summary="Missed call: nobody could answer",
        data={"call": call.pk, "missed": True},
        at=now,
    )
    owed = CallBack.objects.filter(
        lead=lead, status__in=[CallBack.Status.DUE, CallBack.Status.MISSED]
    ).exists()
    if not owed:
        callback_create(
            lead=lead, due_at=now, reason=CallBack.Reason.MISSED_CALL, by=None, now=now
        )
    if lead.first_response_at is None and lead.sla_due_at is None:
        lead.sla_due_at = sla_due_for(team=lead.team, source=lead.source, now=now)
        Lead.objects.filter(pk=lead.pk).update(sla_due_at=lead.sla_due_at)
    if lead.phone and consent_state_for(str(lead.phone)).consented:
        message_send_automated(
            lead=lead, template_key=MessageTemplate.Key.MISSED_CALL, now=now
        )
    if lead.owner_id and lead.owner.is_active:
        alert_send(
            user=lead.owner,
            kind=AlertPreference.Kind.MISSED_CALL,
            lead=lead,
            template_key=MessageTemplate.Key.ALERT_MISSED_CALL,
        )
    if team is not None:
        alert_team_supervisors(
            team=team,
            kind=AlertPreference.Kind.MISSED_CALL,
            lead=lead,
            template_key=MessageTemplate.Key.ALERT_MISSED_CALL,
        )
    logger.info("call missed call_id=%s lead_id=%s", call.pk, lead.pk)


# --- Status and recordings ---------------------------------------------------------


@dataclass(frozen=True)
class StatusUpdate:
    sid: str
    status: str
    call_id: int | None = None
    duration: int | None = None
    answered_by: str = ""


@transaction.atomic
def call_status_update(update: StatusUpdate) -> Call | None:
    """Apply a status callback: forward only, once, in whatever order they come."""
    call = None
    if update.sid:
        call = (
            Call.objects.select_for_update(of=("self",))
            .select_related("lead", "tracking_number", "counselor")
            .filter(sid=update.sid)
            .first()
        )
    if call is None and update.call_id is not None:
        call = _locked_call(update.call_id)
        if call is not None and call.sid and update.sid and call.sid != update.sid:
            call = None  # a child leg of ours, or someone else's call
    if call is None:
        logger.info("call status for an unknown call sid=%s", update.sid[-6:])
        return None
    if update.status not in STATUS_RANK:
        logger.info("call status unknown status=%s", update.status[:20])
        return call
    now = timezone.now()
    fields = ["updated_at"]
    if not call.sid and update.sid:
        call.sid = update.sid
        fields.append("sid")
    if STATUS_RANK[update.status] > STATUS_RANK.get(call.status, -1):
        call.status = update.status
        fields.append("status")
        if (
            update.status == Call.Status.IN_PROGRESS
            and call.answered_at is None
            and call.direction == Call.Direction.OUTBOUND
        ):
            call.answered_at = now
            fields.append("answered_at")
    if update.answered_by and not call.answered_by:
        call.answered_by = update.answered_by[:24]
        fields.append("answered_by")
    ended = STATUS_RANK.get(call.status) == 4
    if ended and call.ended_at is None:
        call.ended_at = now
        call.duration_seconds = update.duration
        if call.answered_at is not None:
            call.talk_seconds = max(0, int((now - call.answered_at).total_seconds()))
        fields += ["ended_at", "duration_seconds", "talk_seconds"]
    call.save(update_fields=fields)
    if ended:
        _release_counselor(call, now)
        if call.direction == Call.Direction.INBOUND:
            # The caller hung up before anyone answered.
            _call_missed(call, now=now)
    return call


def _release_counselor(call: Call, now: datetime) -> None:
    if call.counselor_id is None:
        return
    still_on_a_call = (
        Call.objects.filter(counselor_id=call.counselor_id, status__in=LIVE_STATUSES)
        .exclude(pk=call.pk)
        .exists()
    )
    if not still_on_a_call:
        User.objects.filter(pk=call.counselor_id, presence=User.Presence.BUSY).update(
            presence=User.Presence.AVAILABLE, presence_changed_at=now
        )


@dataclass(frozen=True)
class RecordingUpdate:
    call_id: int | None
    kind: str  # call, voicemail, voicemail-done, transcription
    recording_sid: str = ""
    recording_url: str = ""
    duration: int | None = None
    transcription: str = ""
    # RecordingStatus of a status callback; <Record>'s own action sends none.
    status: str = ""


@transaction.atomic
def call_recording(update: RecordingUpdate) -> VoiceResponse:
    """Keep a recording or voicemail (and its transcription) on the call."""
    response = VoiceResponse()
    if update.kind == "voicemail-done":
        # <Record>'s action: the caller finished the message.
        response.say(VOICEMAIL_THANKS)
        response.hangup()
    call = _locked_call(update.call_id)
    if call is None:
        return response
    if update.status not in ("", "completed"):
        # "absent" (silence) or "failed": no audio to keep, nobody to alert.
        logger.info(
            "call recording not kept call_id=%s status=%s", call.pk, update.status
        )
        return response
    fields = ["updated_at"]
    if update.kind == "transcription":
        if update.transcription and not call.transcription:
            call.transcription = update.transcription[:10_000]
            fields.append("transcription")
    elif update.recording_sid and call.recording_sid != update.recording_sid:
        call.recording_sid = update.recording_sid[:34]
        call.recording_url = update.recording_url[:500]
        call.recording_duration = update.duration
        fields += ["recording_sid", "recording_url", "recording_duration"]
        if update.kind in ("voicemail", "voicemail-done"):
            call.is_voicemail = True
            fields.append("is_voicemail")
            _voicemail_left(call)
    call.save(update_fields=fields)
    return response


def _voicemail_left(call: Call) -> None:
    lead = call.lead
    if lead is None:
        # A withheld number: only the team can listen and decide what to do.
        team = _call_team(call)
        if team is not None:
            alert_team_supervisors(
                team=team,
                kind=AlertPreference.Kind.MISSED_CALL,
                template_key=MessageTemplate.Key.ALERT_VOICEMAIL,
            )
        return
    seconds = call.recording_duration or 0
    lead_activity_record(
        lead=lead,
        kind=Activity.Kind.CALL,
        actor=None,
        summary=f"Voicemail ({seconds // 60}:{seconds % 60:02d})",
        data={"call": call.pk, "voicemail": True},
    )
    if lead.owner_id and lead.owner.is_active:
        alert_send(
            user=lead.owner,
            kind=AlertPreference.Kind.MISSED_CALL,
            lead=lead,
            template_key=MessageTemplate.Key.ALERT_VOICEMAIL,
        )
    elif lead.team_id:
        alert_team_supervisors(
            team=lead.team,
            kind=AlertPreference.Kind.MISSED_CALL,
            lead=lead,
            template_key=MessageTemplate.Key.ALERT_VOICEMAIL,
        )


# --- Click-to-call ----------------------------------------------------------------


class CallRefused(Exception):
    """Click-to-call may not dial this lead now; `reason` says why."""

    def __init__(self, reason: str, detail: str, call: Call):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.call = call


def do_not_call_contains(phone: str) -> bool:
    return bool(phone) and DoNotCall.objects.filter(phone=phone).exists()


@transaction.atomic
def do_not_call_add(*, phone: str, by: User | None, reason: str = "") -> DoNotCall:
    """Put a number on the internal do-not-call list (TCPA: honoured at once)."""
    e164 = phone_to_e164(phone)
    if not e164.startswith("+"):
        raise ValidationError({"phone": ["Enter a valid phone number."]})
    entry, _ = DoNotCall.objects.get_or_create(
        phone=e164, defaults={"reason": reason[:300], "added_by": by}
    )
    audit_record(
        actor=by, action="create", object_type="do_not_call", object_id=entry.pk
    )
    return entry


def call_click_to_call(
    *, lead: Lead, by: User, override_quiet_hours: bool = False
) -> Call:
    """Ring the counselor's phone, then bridge them to the lead.

    Refused (and recorded) for a number on the do-not-call list, or outside the
    lead's calling hours without an explicit override.
    """
    from .backends import VoiceError, get_backend

    # A misconfigured backend fails here, before a call is written that would
    # stay "live" and keep the counselor from being rung.
    backend = get_backend()
    if not by.phone:
        raise ValidationError(
            {"phone": ["Add your own phone number first (phone on /api/v1/me/)."]}
        )
    if not lead.phone:
        raise ValidationError({"lead": ["The lead has no phone number to call."]})
    now = timezone.now()
    with transaction.atomic():
        call = Call.objects.create(
            direction=Call.Direction.OUTBOUND,
            status=Call.Status.QUEUED,
            from_number=settings.VOICE_CALLER_ID[:40],
            to_number=str(lead.phone),
            lead=lead,
            counselor=by,
            started_at=now,
        )
        reason, detail = "", ""
        allowed = within_calling_hours(lead, now)
        if do_not_call_contains(str(lead.phone)):
            reason, detail = "do_not_call", "This number asked not to be called."
        elif allowed != now:
            if override_quiet_hours:
                call.quiet_hours_override = True
            else:
                reason = "quiet_hours"
                # In the lead's own time: that is the clock the law looks at.
                detail = (
                    "It is outside calling hours for this lead; calling opens "
                    f"{both_local_times(lead, allowed)}. Call now only with an "
                    "explicit override."
                )
        if reason:
            call.status = Call.Status.BLOCKED
            call.error_message = detail[:255]
        call.save(update_fields=["status", "error_message", "quiet_hours_override"])
        lead_activity_record(
            lead=lead,
            kind=Activity.Kind.CALL,
            actor=by,
            summary=f"Call not placed: {detail}"
            if reason
            else f"Call placed by {by}"
            + (
                " (outside calling hours, override)"
                if call.quiet_hours_override
                else ""
            ),
            data={"call": call.pk, "direction": call.direction, "blocked": reason},
            at=now,
        )
        audit_record(
            actor=by,
            action="create",
            object_type="call",
            object_id=call.pk,
            lead_id=lead.pk,
            detail=(reason or "placed")
            + (" quiet-hours-override" if call.quiet_hours_override else ""),
        )
    if reason:
        raise CallRefused(reason, detail, call)
    try:
        sid = backend.create_call(
            to=str(by.phone),
            from_=settings.VOICE_CALLER_ID,
            url=voice_url("outbound", call=call.pk),
            status_callback=voice_url("status", call=call.pk),
        )
    except VoiceError as exc:
        _call_not_placed(call, str(exc))
        raise CallRefused("provider_error", str(exc), call) from exc
    except Exception:
        # Left "queued", the call would count as live for good.
        _call_not_placed(call, "The call could not be placed (unexpected error).")
        raise
    Call.objects.filter(pk=call.pk, sid__isnull=True).update(sid=sid)
    call.refresh_from_db()
    return call


def _call_not_placed(call: Call, error: str) -> None:
    logger.warning("click-to-call not placed call_id=%s", call.pk)
    Call.objects.filter(pk=call.pk).update(
        status=Call.Status.FAILED, error_message=error[:255]
    )
    call.refresh_from_db()


def call_outbound_twiml(
    *, call_id: int | None, digits: str | None = None
) -> VoiceResponse:
    """The counselor's phone answered: once they press 1, bridge them to the lead
    with the center's number.

    The key press keeps a counselor's own voicemail from "answering" and then
    ringing the lead into it.
    """
    response = VoiceResponse()
    call = (
        Call.objects.select_related("lead")
        .filter(pk=call_id, direction=Call.Direction.OUTBOUND)
        .first()
        if call_id
        else None
    )
    if call is None or not call.is_live or call.lead is None:
        response.hangup()
        return response
    if do_not_call_contains(call.to_number):
        # Added to the list while the counselor's phone rang: honoured at once.
        response.say("This number is now on the do-not-call list. Goodbye.")
        response.hangup()
        return response
    name = call.lead.first_name or "the lead"
    if digits is None:
        if call.counselor_id is not None:
            # On this call: not rung for inbound ones nor routed new leads until
            # it ends (the status callback releases them).
            User.objects.filter(
                pk=call.counselor_id, presence=User.Presence.AVAILABLE
            ).update(presence=User.Presence.BUSY, presence_changed_at=timezone.now())
        gather = Gather(
            num_digits=1,
            timeout=WHISPER_TIMEOUT_SECONDS,
            action=voice_url("outbound", call=call.pk, step="key"),
        )
        gather.say(f"Press 1 to call {name}.")
        response.append(gather)
        response.say("No key pressed. Goodbye.")
        response.hangup()
        return response
    if digits != "1":
        response.hangup()
        return response
    response.say(f"Connecting you to {name}.")
    dial = Dial(caller_id=settings.VOICE_CALLER_ID, answer_on_bridge=True)
    dial.number(call.to_number)
    response.append(dial)
    return response


@transaction.atomic
def call_set_disposition(
    *,
    call: Call,
    lead: Lead,
    by: User,
    disposition: str,
    note: str = "",
    call_back_at: datetime | None = None,
    at: datetime | None = None,
) -> CallLogged:
    """Log how one of the lead's calls went: kept on the call, and the cadence
    follows it (`lead_call_log`), both or neither."""
    # The call before the lead, as the status callbacks lock them (deadlocks).
    locked = (
        Call.objects.select_for_update(of=("self",))
        .filter(pk=call.pk, lead_id=lead.pk)
        .first()
    )
    if locked is None:
        raise ValidationError({"call": ["That call is not one of this lead's."]})
    if locked.status == Call.Status.BLOCKED or (
        locked.status == Call.Status.FAILED and not locked.sid
    ):
        # Logging "no answer" for it would count a follow-up attempt never made.
        raise ValidationError({"call": ["This call was never placed."]})
    if locked.disposition:
        # A second submission would count the same call twice in the cadence.
        raise ValidationError({"call": ["This call's outcome is already logged."]})
    logged = lead_call_log(
        lead=lead,
        by=by,
        disposition=disposition,
        note=note,
        call_back_at=call_back_at,
        at=at,
    )
    Call.objects.filter(pk=locked.pk).update(
        disposition=disposition,
        disposition_by=by,
        disposition_at=logged.activity.at,
    )
    return logged


# --- Housekeeping ---------------------------------------------------------------


# A call still "ringing" after this never got its final callback; one "in
# progress" this long was not closed either. Either would keep its counselor
# from being rung for good.
STALE_RINGING = timedelta(minutes=15)
STALE_IN_PROGRESS = timedelta(hours=4)


def calls_close_stale(*, now: datetime | None = None) -> int:
    """Close calls whose final status callback never came, and free their
    counselors (beat task, `skip_locked`: never waits on a call being updated)."""
    now = now or timezone.now()
    with transaction.atomic():
        stale = list(
            Call.objects.select_for_update(skip_locked=True)
            .filter(
                Q(
                    status__in=[
                        Call.Status.QUEUED,
                        Call.Status.INITIATED,
                        Call.Status.RINGING,
                    ],
                    started_at__lte=now - STALE_RINGING,
                )
                | Q(
                    status=Call.Status.IN_PROGRESS,
                    started_at__lte=now - STALE_IN_PROGRESS,
                )
            )
            .order_by("id")[:500]
        )
        for call in stale:
            call.status = (
                Call.Status.FAILED
                if call.answered_at is None
                else (Call.Status.COMPLETED)
            )
            call.ended_at = now
            call.error_message = "No final status from Twilio; closed by the sweeper."
            call.save(
                update_fields=["status", "ended_at", "error_message", "updated_at"]
            )
            _release_counselor(call, now)
            if call.direction == Call.Direction.INBOUND:
                _call_missed(call, now=now)  # nobody ever answered it
    if stale:
        logger.warning("calls closed without a final status n=%s", len(stale))
    return len(stale)
