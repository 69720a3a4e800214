"""Writes of texting: consent, the outbox, inbound texts, status callbacks, alerts.

Every outbound text is a `Message` row first, written in the caller's transaction;
a task hands it to the backend after commit (`message_send`), and the beat sweeper
(`outbox_sweep`) re-enqueues rows whose task was lost. A text is sent at most once:
the hand-off is claimed under a row lock, and a send whose outcome is unknown is
flagged for a supervisor, never repeated by the machine.
"""

import logging
import string
from dataclasses import dataclass
from datetime import datetime, timedelta

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from crm.models import Team, User
from crm.services import audit_record
from leads.models import Activity, Channel, Lead
from leads.services import lead_activity_record, lead_create
from leads.services.followup import (
    cadence_drop_texts,
    lead_followup_on_reply,
    lead_texted_by_staff,
)
from leads.services.intake import lead_intake

from . import quiet_hours
from .backends import get_backend
from .backends.base import SmsOutcomeUnknown, SmsPermanentError, SmsTemporaryError
from .defaults import DEFAULT_TEMPLATES
from .keywords import Intent, classify
from .models import (
    Alert,
    AlertPreference,
    ConsentEvent,
    Message,
    MessageTemplate,
)
from .selectors import (
    ConsentState,
    alert_preference_for,
    consent_state_for,
    lead_for_phone,
    sms_source,
)

logger = logging.getLogger(__name__)

BODY_MAX_LENGTH = 1600  # Twilio's limit for one message (10 segments)
UNSUBSCRIBED_ERROR = 21610
TWILIO_STATUS_RANK = {
    Message.Status.PENDING: 0,
    Message.Status.SENDING: 1,
    Message.Status.UNKNOWN: 1,
    Message.Status.ACCEPTED: 2,
    Message.Status.QUEUED: 2,
    "sending": 3,  # Twilio's own "sending" (carrier hand-off), after queued
    Message.Status.SENT: 4,
    Message.Status.DELIVERED: 5,
    Message.Status.UNDELIVERED: 5,
    Message.Status.FAILED: 5,
}
# Twilio statuses we keep, by their name in callbacks and API answers.
TWILIO_STATUSES = {
    "accepted": Message.Status.ACCEPTED,
    "queued": Message.Status.QUEUED,
    "sending": Message.Status.QUEUED,
    "sent": Message.Status.SENT,
    "delivered": Message.Status.DELIVERED,
    "undelivered": Message.Status.UNDELIVERED,
    "failed": Message.Status.FAILED,
    "canceled": Message.Status.FAILED,
}

# Placeholders a template may use. Lead-facing texts get a first name and who is
# writing, never anything about the person's health or treatment.
LEAD_PLACEHOLDERS = frozenset({"first_name", "counselor_name", "brand", "help_phone"})
ALERT_PLACEHOLDERS = LEAD_PLACEHOLDERS | {"lead_id", "lead_url"}
ALERT_TEMPLATE_KEYS = frozenset(
    {
        MessageTemplate.Key.ALERT_LEAD_ASSIGNED,
        MessageTemplate.Key.ALERT_LEAD_REPLIED,
        MessageTemplate.Key.ALERT_CALLBACK_DUE,
        MessageTemplate.Key.ALERT_SLA_BREACH,
        MessageTemplate.Key.ALERT_LEAD_WAITING,
        MessageTemplate.Key.ALERT_REPEAT_INQUIRY,
        MessageTemplate.Key.ALERT_MISSED_CALL,
        MessageTemplate.Key.ALERT_VOICEMAIL,
    }
)


# --- Phone numbers -----------------------------------------------------------------


def phone_to_e164(value: str) -> str:
    """Return `value` as E.164 when it is a valid number, else as received."""
    value = (value or "").strip()
    try:
        number = phonenumbers.parse(value, "US")
    except phonenumbers.NumberParseException:
        return value
    if not phonenumbers.is_valid_number(number):
        return value
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# --- Consent ledger ----------------------------------------------------------------


def consent_record(
    *,
    phone: str,
    kind: str,
    source: str,
    lead: Lead | None = None,
    by: User | None = None,
    text: str = "",
    text_version: str = "",
    ip_address: str | None = None,
    user_agent: str = "",
    at: datetime | None = None,
) -> ConsentEvent:
    """Append a consent or opt-out for `phone` to the ledger; the newest one counts."""
    if kind not in ConsentEvent.Kind.values:
        raise ValidationError({"consent": [f"Unknown consent change {kind!r}."]})
    e164 = phone_to_e164(phone)
    if not e164.startswith("+"):
        raise ValidationError({"phone": ["Enter a valid phone number."]})
    event = ConsentEvent.objects.create(
        phone=e164,
        kind=kind,
        source=source,
        lead=lead,
        recorded_by=by,
        text=text[:2000],
        text_version=text_version[:32],
        ip_address=ip_address,
        user_agent=user_agent[:255],
        at=at or timezone.now(),
    )
    logger.info(
        "sms consent changed phone=…%s kind=%s source=%s", e164[-4:], kind, source
    )
    if kind == ConsentEvent.Kind.OPT_OUT and lead is not None:
        cadence_drop_texts(lead=lead)
    if lead is not None:
        verb = "consented to texts" if kind == ConsentEvent.Kind.OPT_IN else "opted out"
        lead_activity_record(
            lead=lead,
            kind=Activity.Kind.SMS,
            actor=by,
            summary=f"{e164} {verb} ({event.get_source_display().lower()})",
            data={"consent": kind, "source": source},
            at=event.at,
        )
    return event


def consent_record_by_staff(
    *, lead: Lead, kind: str, by: User, note: str
) -> ConsentEvent:
    """Record consent given, or withdrawn, on a call or in person."""
    note = (note or "").strip()
    if kind == ConsentEvent.Kind.OPT_IN and not note:
        raise ValidationError(
            {"note": ["Say how and when the person agreed to be texted."]}
        )
    if not lead.phone:
        raise ValidationError({"phone": ["The lead has no phone number."]})
    return consent_record(
        phone=str(lead.phone),
        kind=kind,
        source=ConsentEvent.Source.COUNSELOR,
        lead=lead,
        by=by,
        text=note,
    )


# --- Templates ---------------------------------------------------------------------


def template_check_body(*, key: str, body: str) -> None:
    """Reject placeholders a template may not use, so no field can leak into a text."""
    allowed = ALERT_PLACEHOLDERS if key in ALERT_TEMPLATE_KEYS else LEAD_PLACEHOLDERS
    try:
        names = {
            name for _, name, _, _ in string.Formatter().parse(body) if name is not None
        }
    except ValueError as exc:
        raise ValidationError({"body": [f"Broken placeholder: {exc}."]}) from exc
    unknown = sorted(names - allowed)
    if unknown:
        raise ValidationError(
            {
                "body": [
                    f"Unknown placeholder {{{unknown[0]}}}; use "
                    + ", ".join(f"{{{name}}}" for name in sorted(allowed))
                    + "."
                ]
            }
        )
    if not body.strip():
        raise ValidationError({"body": ["Write the text of the message."]})


def template_update(*, template: MessageTemplate, body: str, by: User | None) -> None:
    template_check_body(key=template.key, body=body)
    template.body = body
    template.updated_by = by
    template.updated_at = timezone.now()
    template.save(update_fields=["body", "updated_by", "updated_at"])


def templates_ensure_defaults(*, using: str = "default") -> int:
    """Create the templates that are missing, with their default text."""
    existing = set(MessageTemplate.objects.using(using).values_list("key", flat=True))
    missing = [
        MessageTemplate(key=key, body=body)
        for key, body in DEFAULT_TEMPLATES.items()
        if key not in existing
    ]
    MessageTemplate.objects.using(using).bulk_create(missing)
    return len(missing)


def template_render(
    *, key: str, lead: Lead | None = None, counselor: User | None = None
) -> tuple[MessageTemplate, str]:
    template, _ = MessageTemplate.objects.get_or_create(
        key=key, defaults={"body": DEFAULT_TEMPLATES[key]}
    )
    context = {
        "first_name": (lead.first_name if lead else "") or "there",
        "counselor_name": (counselor.first_name or counselor.get_username())
        if counselor
        else "our admissions team",
        "brand": settings.SMS_BRAND_NAME,
        "help_phone": settings.SMS_HELP_PHONE,
        "lead_id": lead.pk if lead else "",
        "lead_url": f"{settings.PUBLIC_BASE_URL.rstrip('/')}/leads/{lead.pk}/"
        if lead
        else "",
    }
    return template, template.body.format_map(context)


# --- The outbox --------------------------------------------------------------------


def _recipient(lead: Lead) -> quiet_hours.Recipient:
    return quiet_hours.Recipient(
        state=lead.state, time_zone=lead.time_zone, phone=str(lead.phone or "")
    )


def _block_reason_for_lead_text(to: str) -> str:
    return _block_reason_for_consent(consent_state_for(to))


def _block_reason_for_consent(state: ConsentState) -> str:
    if state.opted_out:
        return Message.BlockedReason.OPTED_OUT
    if not state.consented:
        return Message.BlockedReason.NO_CONSENT
    return ""


BLOCK_DETAILS = {
    Message.BlockedReason.OPTED_OUT: (
        "This number opted out of texts. It can only be texted again after the "
        "person replies START."
    ),
    Message.BlockedReason.NO_CONSENT: (
        "There is no consent to text this number. Record the person's consent first."
    ),
    Message.BlockedReason.NO_PHONE: "The lead has no valid mobile number.",
    Message.BlockedReason.NO_SENDER: "No sending number is configured.",
}


def _needs_first_message_footer(to: str, state: ConsentState) -> bool:
    """The first text after someone consents names the sender and how to stop."""
    already_texted = Message.objects.filter(
        to=to,
        direction=Message.Direction.OUTBOUND,
        kind__in=[Message.Kind.MANUAL, Message.Kind.AUTOMATED],
        created_at__gte=state.since or timezone.now(),
    ).exclude(status=Message.Status.BLOCKED)
    return not already_texted.exists()


def _with_footer(body: str) -> str:
    _, footer = template_render(key=MessageTemplate.Key.FIRST_MESSAGE_FOOTER)
    return f"{body}\n{footer}"


def _sender() -> tuple[str, str]:
    return settings.SMS_FROM_NUMBER, settings.TWILIO_MESSAGING_SERVICE_SID


def _lead_text(
    *,
    lead: Lead,
    body: str,
    kind: str,
    by: User | None,
    template: MessageTemplate | None = None,
    override_quiet_hours: bool = False,
    now: datetime | None = None,
) -> Message:
    now = now or timezone.now()
    to = str(lead.phone) if lead.phone else ""
    from_number, service_sid = _sender()
    message = Message(
        direction=Message.Direction.OUTBOUND,
        kind=kind,
        lead=lead,
        to=to,
        from_number=from_number,
        messaging_service_sid=service_sid,
        body=body,
        template=template,
        sent_by=by,
        created_at=now,
        status_changed_at=now,
    )
    consent = consent_state_for(to) if to else None
    reason = (
        Message.BlockedReason.NO_PHONE
        if consent is None
        else _block_reason_for_consent(consent)
    )
    if not reason and not (from_number or service_sid):
        reason = Message.BlockedReason.NO_SENDER
    detail = BLOCK_DETAILS.get(reason, "")
    recipient = _recipient(lead)
    if not reason and not quiet_hours.is_allowed(recipient, now):
        allowed_at = quiet_hours.next_allowed(recipient, now)
        if kind == Message.Kind.AUTOMATED:
            message.status = Message.Status.SCHEDULED
            message.scheduled_for = allowed_at
        elif override_quiet_hours:
            message.quiet_hours_override = True
        else:
            reason = Message.BlockedReason.QUIET_HOURS
            local = ", ".join(
                t.strftime("%H:%M %Z") for t in quiet_hours.local_times(recipient, now)
            )
            opens = ", ".join(
                t.strftime("%H:%M %Z")
                for t in quiet_hours.local_times(recipient, allowed_at)
            )
            detail = (
                f"It is {local} for this lead, outside texting hours. Texting "
                f"opens again at {opens} ({timezone.localtime(allowed_at):%H:%M %Z} "
                f"here); send now only with an explicit override."
            )
    if reason:
        message.status = Message.Status.BLOCKED
        message.blocked_reason = reason
        message.error_message = detail[:255]
    elif message.status != Message.Status.SCHEDULED:
        message.status = Message.Status.PENDING
        message.next_attempt_at = now
        message.enqueued_at = now
    if message.status != Message.Status.BLOCKED and _needs_first_message_footer(
        to, consent
    ):
        message.body = _with_footer(body)
    message.save()
    _record_on_timeline(message, by=by)
    audit_record(
        actor=by,
        action="create",
        object_type="message",
        object_id=message.pk,
        lead_id=lead.pk,
        detail=message.status
        + (" quiet-hours-override" if message.quiet_hours_override else ""),
    )
    if message.status == Message.Status.PENDING:
        _enqueue_after_commit(message)
    if message.status == Message.Status.BLOCKED:
        logger.info(
            "sms blocked message_id=%s lead_id=%s reason=%s",
            message.pk,
            lead.pk,
            reason,
        )
    return message


def _record_on_timeline(message: Message, *, by: User | None) -> None:
    if message.direction == Message.Direction.INBOUND:
        summary = "Text received"
    elif message.status == Message.Status.BLOCKED:
        summary = f"Text not sent: {message.get_blocked_reason_display().lower()}"
    elif message.status == Message.Status.SCHEDULED:
        at = timezone.localtime(message.scheduled_for)
        summary = f"Text scheduled for {at:%b %d %H:%M %Z} (quiet hours)"
    elif message.kind == Message.Kind.AUTOMATED:
        summary = "Automated text sent"
    elif message.kind == Message.Kind.REPLY:
        summary = "Automatic reply sent"
    else:
        summary = f"Text sent by {by}" if by else "Text sent"
    lead_activity_record(
        lead=message.lead,
        kind=Activity.Kind.SMS,
        actor=by,
        summary=summary,
        body=message.body
        if message.status != Message.Status.BLOCKED
        else f"{message.body}\n\n{message.error_message}",
        data={
            "message": message.pk,
            "direction": message.direction,
            "blocked_reason": message.blocked_reason,
            "quiet_hours_override": message.quiet_hours_override,
        },
        at=message.created_at,
    )


@transaction.atomic
def message_send_manual(
    *, lead: Lead, body: str, by: User, override_quiet_hours: bool = False
) -> Message:
    """Queue a counselor's text to the lead.

    A text that may not go out is still recorded, as `blocked` with the reason and
    an explanation in `error_message`, so the counselor and a supervisor see why.
    """
    body = (body or "").strip()
    if not body:
        raise ValidationError({"body": ["Write the text to send."]})
    if len(body) > BODY_MAX_LENGTH:
        raise ValidationError(
            {"body": [f"Keep a text under {BODY_MAX_LENGTH:,} characters."]}
        )
    message = _lead_text(
        lead=lead,
        body=body,
        kind=Message.Kind.MANUAL,
        by=by,
        override_quiet_hours=override_quiet_hours,
    )
    if message.status != Message.Status.BLOCKED:
        lead_texted_by_staff(lead=lead, by=by, at=message.created_at)
    return message


@transaction.atomic
def message_send_automated(
    *, lead: Lead, template_key: str, now: datetime | None = None
) -> Message | None:
    """Queue an automated text from a template; deferred outside quiet hours.

    An admin switches an automated text off by deactivating its template: then
    nothing is queued and None is returned.
    """
    template, body = template_render(key=template_key, lead=lead, counselor=lead.owner)
    if not template.is_active:
        logger.info("sms template inactive key=%s lead_id=%s", template_key, lead.pk)
        return None
    return _lead_text(
        lead=lead,
        body=body,
        kind=Message.Kind.AUTOMATED,
        by=None,
        template=template,
        now=now,
    )


def _outbox_add(**fields) -> Message:
    """Store an outbound text ready to go, and enqueue it once the caller commits."""
    now = timezone.now()
    message = Message.objects.create(
        direction=Message.Direction.OUTBOUND,
        status=Message.Status.PENDING,
        created_at=now,
        next_attempt_at=now,
        enqueued_at=now,
        status_changed_at=now,
        **fields,
    )
    _enqueue_after_commit(message)
    return message


def _enqueue_after_commit(message: Message) -> None:
    # Imported here: tasks call back into this module.
    from .tasks import send_message

    send_message.delay_on_commit(message.pk)


def _status_callback_url(message: Message) -> str:
    # The message id rides along so that a callback finds its row even when the
    # create answer (with the SID) was lost.
    return f"{settings.PUBLIC_BASE_URL.rstrip('/')}/twilio/sms/status/?m={message.pk}"


@dataclass(frozen=True)
class SendOutcome:
    result: str  # sent, skipped, not_due, blocked, deferred, retry, failed, unknown
    retry_in: float | None = None


def _backoff_seconds(attempts: int) -> float:
    return min(10 * 3 ** (attempts - 1), 600)


def message_send(*, message_id: int, now: datetime | None = None) -> SendOutcome:
    """Hand one outbox row to the backend, at most once, and record what happened."""
    now = now or timezone.now()
    # Before the claim: a misconfigured backend leaves the text pending, not stuck
    # halfway through a send.
    backend = get_backend()
    with transaction.atomic():
        # The lead is read only for automated texts (quiet hours), and lazily: the
        # lock is on the message row alone.
        message = Message.objects.select_for_update().filter(pk=message_id).first()
        if message is None or message.status != Message.Status.PENDING:
            return SendOutcome("skipped")
        if message.next_attempt_at and message.next_attempt_at > now:
            return SendOutcome("not_due")
        # Checked again at send time: the number may have opted out since.
        if message.kind in (Message.Kind.MANUAL, Message.Kind.AUTOMATED):
            reason = _block_reason_for_lead_text(message.to)
            if reason:
                _settle_blocked(message, reason, now)
                return SendOutcome("blocked")
            if (
                message.kind == Message.Kind.AUTOMATED
                and message.lead is not None
                and not quiet_hours.is_allowed(_recipient(message.lead), now)
            ):
                message.status = Message.Status.SCHEDULED
                message.scheduled_for = quiet_hours.next_allowed(
                    _recipient(message.lead), now
                )
                message.status_changed_at = now
                message.save(
                    update_fields=["status", "scheduled_for", "status_changed_at"]
                )
                return SendOutcome("deferred")
        elif consent_state_for(message.to).opted_out:
            _settle_blocked(message, Message.BlockedReason.OPTED_OUT, now)
            return SendOutcome("blocked")
        message.status = Message.Status.SENDING
        message.attempts += 1
        message.sending_started_at = now
        message.status_changed_at = now
        message.save(
            update_fields=[
                "status",
                "attempts",
                "sending_started_at",
                "status_changed_at",
            ]
        )

    try:
        result = backend.send(
            to=message.to,
            body=message.body,
            from_number="" if message.messaging_service_sid else message.from_number,
            messaging_service_sid=message.messaging_service_sid,
            status_callback=_status_callback_url(message),
        )
    except SmsTemporaryError as exc:
        return _after_temporary_failure(message, exc)
    except SmsPermanentError as exc:
        _after_permanent_failure(message, exc)
        return SendOutcome("failed")
    except SmsOutcomeUnknown as exc:
        _after_unknown_outcome(message, str(exc))
        return SendOutcome("unknown")
    _record_hand_off(message, sid=result.sid, twilio_status=result.status)
    return SendOutcome("sent")


def _settle_blocked(message: Message, reason: str, now: datetime) -> None:
    message.status = Message.Status.BLOCKED
    message.blocked_reason = reason
    message.error_message = BLOCK_DETAILS.get(reason, "")[:255]
    message.status_changed_at = now
    message.save(
        update_fields=["status", "blocked_reason", "error_message", "status_changed_at"]
    )
    logger.info("sms blocked at send message_id=%s reason=%s", message.pk, reason)


def _record_hand_off(message: Message, *, sid: str, twilio_status: str) -> None:
    now = timezone.now()
    status = TWILIO_STATUSES.get(twilio_status, Message.Status.QUEUED)
    # A status callback may have come in first (it carries the message id): never
    # move the row backwards, only fill in what is missing.
    updated = Message.objects.filter(
        pk=message.pk, status__in=[Message.Status.SENDING, Message.Status.UNKNOWN]
    ).update(status=status, twilio_sid=sid, handed_off_at=now, status_changed_at=now)
    if not updated:
        Message.objects.filter(pk=message.pk, twilio_sid__isnull=True).update(
            twilio_sid=sid
        )
        Message.objects.filter(pk=message.pk, handed_off_at__isnull=True).update(
            handed_off_at=now
        )
    logger.info("sms handed off message_id=%s sid=%s", message.pk, sid)


def _after_temporary_failure(message: Message, exc: SmsTemporaryError) -> SendOutcome:
    now = timezone.now()
    if message.attempts >= settings.SMS_MAX_ATTEMPTS:
        Message.objects.filter(pk=message.pk, status=Message.Status.SENDING).update(
            status=Message.Status.FAILED,
            error_code=exc.code,
            error_message=str(exc)[:255],
            status_changed_at=now,
        )
        logger.warning(
            "sms gave up message_id=%s attempts=%s code=%s",
            message.pk,
            message.attempts,
            exc.code,
        )
        return SendOutcome("failed")
    delay = _backoff_seconds(message.attempts)
    Message.objects.filter(pk=message.pk, status=Message.Status.SENDING).update(
        status=Message.Status.PENDING,
        error_code=exc.code,
        error_message=str(exc)[:255],
        next_attempt_at=now + timedelta(seconds=delay),
        enqueued_at=now,
        status_changed_at=now,
    )
    logger.info(
        "sms temporary failure message_id=%s code=%s retry_in=%ss",
        message.pk,
        exc.code,
        delay,
    )
    return SendOutcome("retry", retry_in=delay)


def _after_permanent_failure(message: Message, exc: SmsPermanentError) -> None:
    with transaction.atomic():
        Message.objects.filter(pk=message.pk, status=Message.Status.SENDING).update(
            status=Message.Status.FAILED,
            error_code=exc.code,
            error_message=str(exc)[:255],
            status_changed_at=timezone.now(),
        )
        if exc.code == UNSUBSCRIBED_ERROR:
            _opt_out_from_error(message)
    logger.warning("sms refused message_id=%s code=%s", message.pk, exc.code)


def _opt_out_from_error(message: Message) -> None:
    if consent_state_for(message.to).opted_out:
        return
    consent_record(
        phone=message.to,
        kind=ConsentEvent.Kind.OPT_OUT,
        source=ConsentEvent.Source.TWILIO_ERROR,
        lead=message.lead,
        text=f"Twilio error {UNSUBSCRIBED_ERROR} on message {message.pk}",
    )


def _after_unknown_outcome(message: Message, detail: str) -> None:
    with transaction.atomic():
        updated = Message.objects.filter(
            pk=message.pk, status=Message.Status.SENDING
        ).update(
            status=Message.Status.UNKNOWN,
            error_message=detail[:255],
            status_changed_at=timezone.now(),
        )
        if updated:
            _alert_supervisors_unknown(message)
    logger.warning("sms outcome unknown message_id=%s", message.pk)


def _alert_supervisors_unknown(message: Message) -> None:
    lead = message.lead
    if lead is not None and lead.team_id:
        supervisors = Team.objects.get(pk=lead.team_id).supervisors.filter(
            is_active=True
        )
    else:
        supervisors = User.objects.filter(
            role__in=[User.Role.SUPERVISOR, User.Role.ADMIN], is_active=True
        )
    for supervisor in supervisors:
        alert_send(
            user=supervisor,
            kind=AlertPreference.Kind.MESSAGE_UNKNOWN,
            lead=lead,
            text=f"A text (#{message.pk}) may or may not have been sent: check it "
            "before sending it again.",
        )


# --- Status callbacks --------------------------------------------------------------


def message_status_update(
    *,
    sid: str,
    twilio_status: str,
    message_id: int | None = None,
    error_code: int | None = None,
) -> Message | None:
    """Apply a Twilio status callback; repeated or late ones never move a text back."""
    status = TWILIO_STATUSES.get((twilio_status or "").lower())
    with transaction.atomic():
        rows = Message.objects.select_for_update()
        message = None
        if message_id is not None:
            message = rows.filter(pk=message_id, direction="outbound").first()
            if message is not None and message.twilio_sid not in (None, "", sid):
                message = None
        if message is None and sid:
            message = rows.filter(twilio_sid=sid).first()
        if message is None:
            logger.info("sms status for unknown message sid=%s", sid)
            return None
        if status is None:
            logger.info("sms status ignored sid=%s status=%s", sid, twilio_status)
            return message
        rank = TWILIO_STATUS_RANK.get(twilio_status.lower(), 0)
        current = TWILIO_STATUS_RANK.get(message.status, -1)
        fields = []
        if message.twilio_sid is None and sid:
            message.twilio_sid = sid
            fields.append("twilio_sid")
        if message.handed_off_at is None:
            message.handed_off_at = timezone.now()
            fields.append("handed_off_at")
        if current >= 0 and rank > current:
            message.status = status
            message.status_changed_at = timezone.now()
            fields += ["status", "status_changed_at"]
            if error_code:
                message.error_code = error_code
                fields.append("error_code")
        if fields:
            message.save(update_fields=fields)
        if error_code == UNSUBSCRIBED_ERROR:
            _opt_out_from_error(message)
    return message


# --- Inbound texts -----------------------------------------------------------------


@dataclass(frozen=True)
class InboundResult:
    message: Message
    reply: str  # what to answer in TwiML; "" for nothing
    created: bool


@transaction.atomic
def inbound_message_receive(
    *,
    sid: str,
    from_number: str,
    to_number: str,
    body: str,
    opt_out_type: str = "",
) -> InboundResult:
    """Store an inbound text and act on opt-out words at once; the rest runs later."""
    existing = Message.objects.filter(twilio_sid=sid).first() if sid else None
    if existing is not None:
        # Twilio retried the webhook: the first answer already did everything.
        return InboundResult(existing, "", created=False)
    sender = phone_to_e164(from_number)
    lead = lead_for_phone(sender) if sender.startswith("+") else None
    now = timezone.now()
    message = Message.objects.create(
        direction=Message.Direction.INBOUND,
        kind=Message.Kind.INBOUND,
        status=Message.Status.RECEIVED,
        lead=lead,
        to=phone_to_e164(to_number)[:20],
        from_number=sender[:20],
        body=body[: BODY_MAX_LENGTH * 2],
        twilio_sid=sid or None,
        created_at=now,
        status_changed_at=now,
        handed_off_at=now,
    )
    if lead is not None:
        _record_on_timeline(message, by=None)
    reply = ""
    if sender.startswith("+"):
        reply = _apply_keywords(
            message, lead=lead, body=body, opt_out_type=opt_out_type
        )
    if reply:
        _record_reply(message, lead=lead, reply=reply, now=now)
    from .tasks import process_inbound

    process_inbound.delay_on_commit(message.pk)
    return InboundResult(message, reply, created=True)


def _apply_keywords(
    message: Message, *, lead: Lead | None, body: str, opt_out_type: str
) -> str:
    phone = message.from_number
    found = classify(body, opt_out_type)
    state = consent_state_for(phone)
    twilio_replied = bool(opt_out_type)
    if found.intent == Intent.OPT_OUT:
        if state.opted_out:
            return ""  # one confirmation only, none after
        source = (
            ConsentEvent.Source.TWILIO_OPT_OUT
            if opt_out_type
            else ConsentEvent.Source.PLAIN_LANGUAGE
            if found.plain_language
            else ConsentEvent.Source.KEYWORD
        )
        consent_record(
            phone=phone,
            kind=ConsentEvent.Kind.OPT_OUT,
            source=source,
            lead=lead,
            text=body[:500],
        )
        if twilio_replied:
            return ""
        return template_render(key=MessageTemplate.Key.OPT_OUT_CONFIRMATION)[1]
    if found.intent == Intent.OPT_IN:
        consent_record(
            phone=phone,
            kind=ConsentEvent.Kind.OPT_IN,
            source=ConsentEvent.Source.TWILIO_OPT_OUT
            if opt_out_type
            else ConsentEvent.Source.KEYWORD,
            lead=lead,
            text=body[:500],
        )
        if state.opted_out and not twilio_replied:
            return template_render(key=MessageTemplate.Key.OPT_IN_CONFIRMATION)[1]
        return ""
    if found.intent == Intent.HELP:
        if twilio_replied:
            return ""
        return template_render(key=MessageTemplate.Key.HELP)[1]
    if not state.known:
        # Someone who texts the center asks to be answered: that is consent to
        # reply by text, until they say stop.
        consent_record(
            phone=phone,
            kind=ConsentEvent.Kind.OPT_IN,
            source=ConsentEvent.Source.INBOUND_SMS,
            lead=lead,
            text="Texted the center first.",
        )
    return ""


def _record_reply(
    message: Message, *, lead: Lead | None, reply: str, now: datetime
) -> None:
    reply_message = Message.objects.create(
        direction=Message.Direction.OUTBOUND,
        kind=Message.Kind.REPLY,
        status=Message.Status.REPLIED,
        lead=lead,
        to=message.from_number,
        from_number=message.to,
        body=reply,
        created_at=now,
        status_changed_at=now,
        handed_off_at=now,
    )
    if lead is not None:
        _record_on_timeline(reply_message, by=None)


@transaction.atomic
def inbound_message_process(*, message_id: int) -> Message | None:
    """Attach an inbound text to its lead (or a new one) and tell the owner."""
    message = (
        Message.objects.select_for_update()
        .filter(pk=message_id, direction=Message.Direction.INBOUND)
        .first()
    )
    if message is None or message.processed_at is not None:
        return message  # unknown, or the task ran twice
    if not message.from_number.startswith("+"):
        message.processed_at = timezone.now()
        message.save(update_fields=["processed_at"])
        return message
    lead = message.lead
    if lead is None or not lead.is_open:
        found = lead or lead_for_phone(message.from_number)
        is_reply = found is not None and found.is_open
        lead = found if is_reply else _lead_from_text(message)
        if message.lead_id != lead.pk:
            message.lead = lead
            message.save(update_fields=["lead"])
            _record_on_timeline(message, by=None)
        Message.objects.filter(
            to=message.from_number, kind=Message.Kind.REPLY, lead__isnull=True
        ).update(lead=lead)
        ConsentEvent.objects.filter(
            phone=message.from_number, lead__isnull=True
        ).update(lead=lead)
    else:
        is_reply = True
    if is_reply:
        # A new inquiry was routed and alerted by intake; a reply is news for
        # the owner, and ends the chase.
        lead_followup_on_reply(lead=lead, now=message.created_at)
        if lead.owner_id and lead.owner.is_active:
            alert_send(
                user=lead.owner,
                kind=AlertPreference.Kind.LEAD_REPLIED,
                lead=lead,
                template_key=MessageTemplate.Key.ALERT_LEAD_REPLIED,
            )
    message.processed_at = timezone.now()
    message.save(update_fields=["processed_at"])
    return message


def _lead_from_text(message: Message) -> Lead:
    """A text from a number with no open lead: an inquiry like any other."""
    try:
        return lead_intake(
            channel=Channel.SMS,
            source=sms_source(),
            details={"phone": message.from_number},
            message="Texted the center",
            at=message.created_at,
        ).lead
    except ValidationError:
        # A number valid enough for Twilio but not for our parser still gets a
        # lead, unrouted, rather than losing the text.
        return lead_create(
            by=None,
            channel=Channel.SMS,
            phone=message.from_number,
            attribution={"source": sms_source()},
            touch_summary="Texted the center",
            at=message.created_at,
        )


# --- The sweeper -------------------------------------------------------------------


@dataclass(frozen=True)
class SweepResult:
    released: int  # scheduled texts whose time came
    requeued: int  # pending texts whose task was lost
    unknown: int  # texts stuck in "sending"


SWEEP_BATCH = 500


def outbox_sweep(*, now: datetime | None = None) -> SweepResult:
    """Enqueue due and lost texts again; flag texts stuck mid-send as unknown."""
    now = now or timezone.now()
    requeue_before = now - timedelta(seconds=settings.SMS_REQUEUE_AFTER_SECONDS)
    stuck_before = now - timedelta(seconds=settings.SMS_SENDING_STUCK_AFTER_SECONDS)
    with transaction.atomic():
        due = list(
            Message.objects.select_for_update(skip_locked=True)
            .filter(status=Message.Status.SCHEDULED, scheduled_for__lte=now)
            .order_by("scheduled_for", "id")
            .values_list("id", flat=True)[:SWEEP_BATCH]
        )
        Message.objects.filter(pk__in=due).update(
            status=Message.Status.PENDING,
            next_attempt_at=now,
            enqueued_at=now,
            status_changed_at=now,
        )
        lost = list(
            Message.objects.select_for_update(skip_locked=True)
            .filter(status=Message.Status.PENDING, next_attempt_at__lte=requeue_before)
            .exclude(enqueued_at__gt=requeue_before)
            .order_by("next_attempt_at", "id")
            .values_list("id", flat=True)[:SWEEP_BATCH]
        )
        Message.objects.filter(pk__in=lost).update(enqueued_at=now)
        stuck = list(
            Message.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("lead")
            .filter(status=Message.Status.SENDING, sending_started_at__lte=stuck_before)
            .order_by("id")[:SWEEP_BATCH]
        )
        for message in stuck:
            message.status = Message.Status.UNKNOWN
            message.error_message = "The send did not finish; it may have gone out."
            message.status_changed_at = now
            message.save(update_fields=["status", "error_message", "status_changed_at"])
            _alert_supervisors_unknown(message)
        from .tasks import send_message

        for message_id in due + lost:
            send_message.delay_on_commit(message_id)
    if due or lost or stuck:
        logger.info(
            "sms sweep released=%s requeued=%s unknown=%s",
            len(due),
            len(lost),
            len(stuck),
        )
    return SweepResult(len(due), len(lost), len(stuck))


# --- Alerts ------------------------------------------------------------------------


def alert_send(
    *,
    user: User,
    kind: str,
    lead: Lead | None = None,
    template_key: str = "",
    text: str = "",
) -> Alert | None:
    """Tell a member of staff, in the app and/or by text, as they chose."""
    if template_key:
        _, text = template_render(key=template_key, lead=lead, counselor=user)
    preference = alert_preference_for(user=user, kind=kind)
    alert = None
    if preference.in_app:
        alert = Alert.objects.create(user=user, kind=kind, lead=lead, text=text[:255])
    phone = phone_to_e164(str(user.phone or ""))
    if preference.by_sms and phone.startswith("+"):
        from_number, service_sid = _sender()
        _outbox_add(
            kind=Message.Kind.ALERT,
            recipient_user=user,
            to=phone,
            from_number=from_number,
            messaging_service_sid=service_sid,
            body=text,
        )
    return alert


def alert_team_supervisors(
    *, team: Team, kind: str, lead: Lead | None = None, template_key: str = ""
) -> int:
    """Alert every active supervisor of `team`; return how many."""
    supervisors = list(team.supervisors.filter(is_active=True).order_by("pk"))
    for supervisor in supervisors:
        alert_send(user=supervisor, kind=kind, lead=lead, template_key=template_key)
    return len(supervisors)


def alert_lead_assigned(*, lead: Lead, by: User | None) -> None:
    """Tell the new owner, unless they took the lead themselves."""
    if lead.owner is None or lead.owner == by or not lead.owner.is_active:
        return
    alert_send(
        user=lead.owner,
        kind=AlertPreference.Kind.LEAD_ASSIGNED,
        lead=lead,
        template_key=MessageTemplate.Key.ALERT_LEAD_ASSIGNED,
    )


def alerts_mark_read(*, user: User, ids: list[int] | None = None) -> int:
    """Mark the user's alerts read: the given ones, or all."""
    alerts = Alert.objects.filter(user=user, read_at__isnull=True)
    if ids is not None:
        alerts = alerts.filter(pk__in=ids)
    return alerts.update(read_at=timezone.now())


@transaction.atomic
def alert_preferences_set(
    *, user: User, preferences: list[dict]
) -> list[AlertPreference]:
    """Save the user's choices, one row per kind of alert."""
    saved = []
    for item in preferences:
        kind = item["kind"]
        if kind not in AlertPreference.Kind.values:
            raise ValidationError({"kind": [f"Unknown alert {kind!r}."]})
        if item.get("by_sms") and not phone_to_e164(str(user.phone or "")).startswith(
            "+"
        ):
            raise ValidationError(
                {"by_sms": ["Add your mobile number first (`phone` on /api/v1/me/)."]}
            )
        preference, _ = AlertPreference.objects.update_or_create(
            user=user,
            kind=kind,
            defaults={
                "by_sms": bool(item.get("by_sms")),
                "in_app": bool(item.get("in_app", True)),
            },
        )
        saved.append(preference)
    return saved


@transaction.atomic
def message_resolve_unknown(*, message: Message, went_out: bool, by: User) -> Message:
    """Settle a text whose send outcome was unknown, after a person checked Twilio.

    If it went out, it is marked sent. If it did not, it is marked failed and a new
    copy is queued: a person decided, so this is not a blind resend.
    """
    message = Message.objects.select_for_update().get(pk=message.pk)
    if message.status != Message.Status.UNKNOWN:
        raise ValidationError(
            {"status": ["Only a text whose outcome is unknown can be settled."]}
        )
    now = timezone.now()
    message.status = Message.Status.SENT if went_out else Message.Status.FAILED
    message.error_message = (
        f"Checked by {by}: {'it went out' if went_out else 'not sent, sent again'}."
    )[:255]
    message.status_changed_at = now
    message.save(update_fields=["status", "error_message", "status_changed_at"])
    audit_record(
        actor=by,
        action="update",
        object_type="message",
        object_id=message.pk,
        lead_id=message.lead_id,
        fields=["status"],
        detail="unknown->" + message.status,
    )
    if went_out:
        return message
    return _outbox_add(
        kind=message.kind,
        lead=message.lead,
        recipient_user=message.recipient_user,
        to=message.to,
        from_number=message.from_number,
        messaging_service_sid=message.messaging_service_sid,
        body=message.body,
        template=message.template,
        sent_by=by,
    )
