"""The one door every inquiry comes through: web forms, Gravity Forms, manual entry,
CSV import.

In one transaction a new inquiry is deduplicated, routed, stored with its owner,
given a call-back due now, its consent recorded, an auto-reply put in the outbox
and the owner alerted. A repeat inquiry becomes a touch on the lead it repeats.
"""

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from crm.models import Team, User

from ..models import (
    CALLBACK_OPEN_STATUSES,
    OPEN_STAGES,
    CallBack,
    Channel,
    IntakeReceipt,
    Lead,
    LeadSource,
    LevelOfCare,
    Priority,
    Stage,
)
from . import (
    lead_check_owner,
    lead_create,
    lead_route_to,
    lead_update,
    touch_record,
)
from .followup import cadence_stop, callback_create
from .routing import LeadProfile, counselor_take_turn, owner_takes_back, team_for
from .sla import sla_due_for

logger = logging.getLogger(__name__)

REPEAT_WINDOW_AFTER_LOST = timedelta(days=30)
# Details a repeat inquiry may fill in when the lead lacks them; never overwrites.
FILLABLE_ON_REPEAT = (
    "first_name",
    "last_name",
    "phone",
    "email",
    "state",
    "insurance_payer",
)
# No second auto-reply to someone who got one this recently.
AUTO_REPLY_QUIET_PERIOD = timedelta(hours=12)


@dataclass(frozen=True)
class SmsConsent:
    """What the person agreed to, as shown to them, and from where."""

    text: str
    version: str = ""
    ip_address: str | None = None
    user_agent: str = ""
    # A ConsentEvent.Source value; imports say where the consent was collected.
    source: str = "web_form"
    # The member of staff who read the disclosure to the person (manual entry).
    recorded_by: User | None = None


@dataclass(frozen=True)
class IntakeResult:
    lead: Lead
    duplicate: bool

    @property
    def owner(self) -> User | None:
        return self.lead.owner


def normalize_phone(value: object, *, field: str = "phone") -> str:
    """Return E.164 (US by default), or raise a field error."""
    text = str(value or "").strip()
    if not text:
        return ""
    try:
        number = phonenumbers.parse(text, "US")
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise ValidationError(
            {field: ["Enter a valid phone number, e.g. (305) 555-0142."]}
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(value: object) -> str:
    # Lower case: mailboxes are case-insensitive in practice, and dedupe compares
    # exactly (an index lookup, not a scan).
    text = str(value or "").strip().lower()
    if text:
        try:
            validate_email(text)
        except ValidationError as exc:
            raise ValidationError({"email": ["Enter a valid e-mail address."]}) from exc
    return text


def _lock_contact(phone: str, email: str) -> None:
    """Serialize intakes for the same phone or e-mail (PostgreSQL).

    The unique constraint already refuses a second open lead per phone; the lock
    makes the loser of a race wait and then find the winner's lead, so it records
    a touch instead of failing. E-mail has no constraint, so the lock is all.
    """
    if connection.vendor != "postgresql":
        return  # SQLite takes the write lock at BEGIN: intakes are serial anyway.
    keys = sorted(
        f"{kind}:{value}" for kind, value in (("p", phone), ("e", email)) if value
    )
    with connection.cursor() as cursor:
        for key in keys:
            digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s)",
                [int.from_bytes(digest, "big", signed=True)],
            )


def lead_find_repeat(*, phone: str, email: str, now: datetime) -> Lead | None:
    """The lead a new inquiry repeats: same phone or e-mail, open or recently lost.

    An open lead wins over a lost one, a phone match over an e-mail match, the
    newest over older ones.
    """
    contact = Q()
    if phone:
        contact |= Q(phone=phone)
    if email:
        contact |= Q(email=email)
    if not contact:
        return None
    # Three columns first: most inquiries are new, and this runs on every one.
    candidates = list(
        Lead.objects.filter(contact)
        .filter(
            Q(stage__in=OPEN_STAGES)
            | Q(stage=Stage.LOST, stage_changed_at__gte=now - REPEAT_WINDOW_AFTER_LOST)
        )
        .order_by("-created_at", "-id")
        .values_list("id", "stage", "phone")[:10]
    )
    if not candidates:
        return None

    def rank(row: tuple) -> tuple[bool, bool]:
        _, stage, lead_phone = row
        return (stage in OPEN_STAGES, bool(phone) and str(lead_phone) == phone)

    # max() keeps the first of equals, and candidates come newest first.
    best = (
        Lead.objects.select_related("owner", "team", "source")
        .filter(pk=max(candidates, key=rank)[0])
        .first()
    )
    if best is None:
        return None
    if best.stage not in OPEN_STAGES and best.phone:
        # A lost lead cannot reopen while another open lead holds its number
        # (matched by e-mail alone): the inquiry goes to the open one.
        twin = (
            Lead.objects.open()
            .filter(phone=best.phone)
            .select_related("owner", "team", "source")
            .first()
        )
        if twin is not None:
            return twin
    return best


@transaction.atomic
def lead_intake(
    *,
    channel: str,
    source: LeadSource | None,
    details: Mapping[str, Any],
    attribution: Mapping[str, Any] | None = None,
    message: str = "",
    sms_consent: SmsConsent | None = None,
    by: User | None = None,
    team: Team | None = None,
    owner: User | None = None,
    speed_to_lead: bool = True,
    at: datetime | None = None,
) -> IntakeResult:
    """Take one inquiry in: a new lead, routed and called at once, or a repeat.

    `team`/`owner` skip routing (manual entry); `speed_to_lead=False` (imports)
    stores and routes without the call-back now, the auto-reply, the SLA and alerts.
    """
    now = at or timezone.now()
    details = dict(details)
    details["phone"] = normalize_phone(details.get("phone"))
    details["email"] = normalize_email(details.get("email"))
    if not (details["phone"] or details["email"]):
        raise ValidationError(
            {"phone": ["Give a phone number or an e-mail address to reach you."]}
        )
    if sms_consent is not None and not details["phone"]:
        raise ValidationError(
            {"sms_consent": ["Consent to texts needs a phone number."]}
        )
    attribution = {**dict(attribution or {}), "source": source}
    message = (message or "").strip()

    _lock_contact(details["phone"], details["email"])
    existing = lead_find_repeat(phone=details["phone"], email=details["email"], now=now)
    if existing is None:
        try:
            with transaction.atomic():
                lead = _new_lead(
                    channel=channel,
                    source=source,
                    details=details,
                    attribution=attribution,
                    message=message,
                    by=by,
                    team=team,
                    owner=owner,
                    sms_consent=sms_consent,
                    speed_to_lead=speed_to_lead,
                    now=now,
                )
        except IntegrityError:
            # Another transaction stored this phone first (no advisory lock on
            # this path, or a lead edited meanwhile): this post is a repeat.
            existing = lead_find_repeat(phone=details["phone"], email="", now=now)
            if existing is None:
                raise
        else:
            if speed_to_lead:
                _auto_reply(lead, now=now, just_consented=sms_consent is not None)
            return IntakeResult(lead, duplicate=False)

    lead = _repeat_inquiry(
        lead=existing,
        channel=channel,
        details=details,
        attribution=attribution,
        message=message,
        by=by,
        speed_to_lead=speed_to_lead,
        now=now,
    )
    if sms_consent is not None:
        # The number typed next to the box, which may not be the lead's own.
        _record_consent(lead, sms_consent, details["phone"], now)
    return IntakeResult(lead, duplicate=True)


def _new_lead(
    *,
    channel: str,
    source: LeadSource | None,
    details: dict[str, Any],
    attribution: dict[str, Any],
    message: str,
    by: User | None,
    team: Team | None,
    owner: User | None,
    sms_consent: SmsConsent | None,
    speed_to_lead: bool,
    now: datetime,
) -> Lead:
    routed_by = ""
    if team is None:
        choice = team_for(
            profile=LeadProfile(
                state=details.get("state", ""),
                level_of_care=details.get("level_of_care", LevelOfCare.UNSURE),
                language=details.get("preferred_language", "en"),
                source_id=source.pk if source else None,
            ),
            source=source,
        )
        team, routed_by = choice.team, choice.why
    route = owner is None and team is not None
    if owner is not None:
        lead_check_owner(owner=owner, team=team)  # named by staff, not routed
    lead = lead_create(
        # The phone was found free under the contact lock; a named owner was
        # checked above.
        prechecked=True,
        by=by,
        channel=channel,
        team=team,
        owner=owner,
        attribution=attribution,
        touch_summary=message[:500],
        at=now,
        routed_by="" if route else routed_by,
        alert_owner=speed_to_lead,
        sla_due_at=sla_due_for(team=team, source=source, now=now)
        if speed_to_lead
        else None,
        **details,
    )
    if sms_consent is not None:
        _record_consent(lead, sms_consent, details["phone"], now)
    if route:
        # The turn is taken last: the counselors' row locks are held from here
        # to the commit, so concurrent intakes wait for each other only briefly.
        owner = counselor_take_turn(team=team, now=now)
        turn = f"round-robin in {team}" if owner else "no counselor available"
        lead = lead_route_to(
            lead=lead,
            owner=owner,
            routed_by=f"{routed_by}; {turn}" if routed_by else turn,
            by=by,
            alert_owner=speed_to_lead,
        )
    if not speed_to_lead:
        return lead
    callback_create(
        lead=lead, due_at=now, reason=CallBack.Reason.NEW_LEAD, by=by, now=now
    )
    if owner is None and team is not None:
        _alert_waiting(lead)
    return lead


def _repeat_inquiry(
    *,
    lead: Lead,
    channel: str,
    details: dict[str, Any],
    attribution: dict[str, Any],
    message: str,
    by: User | None,
    speed_to_lead: bool,
    now: datetime,
) -> Lead:
    from . import lead_assign, lead_transition

    lead = (
        Lead.objects.select_for_update(of=("self",))
        .select_related("owner", "team", "source", "last_touch")
        .get(pk=lead.pk)
    )
    touch_record(
        lead=lead,
        channel=channel,
        attribution=attribution,
        summary=message[:500] or "Reached out again",
        by=by,
        at=now,
    )
    if lead.stage == Stage.LOST:
        lead = lead_transition(
            lead=lead,
            to=lead.stage_before_close or Stage.ATTEMPTING_CONTACT,
            by=None,
            reason="Reached out again",
            at=now,
        )
    blanks = {
        name: details[name]
        for name in FILLABLE_ON_REPEAT
        if details.get(name) and not getattr(lead, name)
    }
    if blanks:
        lead = lead_update(lead=lead, by=by, data=blanks)
    lead.priority = min(lead.priority + 1, Priority.URGENT)
    lead.inquiry_count += 1
    # An import of old inquiries out of date order must not move it backwards.
    lead.last_inquiry_at = max(lead.last_inquiry_at, now)
    Lead.objects.filter(pk=lead.pk).update(
        priority=lead.priority,
        inquiry_count=lead.inquiry_count,
        last_inquiry_at=lead.last_inquiry_at,
    )
    if owner_takes_back(lead.owner):
        pass  # the repeat lead goes back to the counselor who has it
    elif lead.team is not None:
        previous = lead.owner
        owner = counselor_take_turn(team=lead.team, now=now)
        if owner is not None:
            lead_check_owner(owner=owner, team=lead.team)
        if owner != previous:
            # A departed owner's lead goes to whose turn it is, else to the queue.
            lead = lead_assign(lead=lead, owner=owner, by=None)
            # The call owed to the lead moves with it, as after a missed SLA.
            CallBack.objects.filter(
                lead=lead, status__in=CALLBACK_OPEN_STATUSES, owner=previous
            ).update(owner=owner)
    if not speed_to_lead:
        return lead
    cadence_stop(lead=lead, by=None, why="the lead reached out again")
    already_due = CallBack.objects.filter(
        lead=lead, status__in=[CallBack.Status.DUE, CallBack.Status.MISSED]
    ).exists()
    if not already_due:
        callback_create(
            lead=lead,
            due_at=now,
            reason=CallBack.Reason.REPEAT_INQUIRY,
            by=by,
            now=now,
        )
    _alert_repeat(lead)
    return lead


def _record_consent(lead: Lead, consent: SmsConsent, phone: str, now: datetime) -> None:
    from notifications.models import ConsentEvent
    from notifications.services import consent_record

    consent_record(
        phone=phone,
        kind=ConsentEvent.Kind.OPT_IN,
        source=consent.source or ConsentEvent.Source.WEB_FORM,
        lead=lead,
        text=consent.text,
        text_version=consent.version,
        ip_address=consent.ip_address,
        user_agent=consent.user_agent,
        by=consent.recorded_by,
        at=now,
    )


def _auto_reply(lead: Lead, *, now: datetime, just_consented: bool = False) -> None:
    """Thank a new web lead by text, when they agreed to texts (now or before)."""
    from notifications.models import Message, MessageTemplate
    from notifications.selectors import consent_state_for
    from notifications.services import message_send_automated

    if not lead.phone:
        return
    if not just_consented and not consent_state_for(str(lead.phone)).consented:
        return
    replied_lately = (
        Message.objects.filter(
            to=str(lead.phone),
            template__key=MessageTemplate.Key.WEB_AUTO_REPLY,
            created_at__gte=now - AUTO_REPLY_QUIET_PERIOD,
        )
        .exclude(status=Message.Status.BLOCKED)
        .exists()
    )
    if replied_lately:
        return
    message_send_automated(
        lead=lead, template_key=MessageTemplate.Key.WEB_AUTO_REPLY, now=now
    )


def _alert_waiting(lead: Lead) -> None:
    from notifications.models import AlertPreference, MessageTemplate
    from notifications.services import alert_team_supervisors

    alert_team_supervisors(
        team=lead.team,
        kind=AlertPreference.Kind.LEAD_WAITING,
        lead=lead,
        template_key=MessageTemplate.Key.ALERT_LEAD_WAITING,
    )


def _alert_repeat(lead: Lead) -> None:
    from notifications.models import AlertPreference, MessageTemplate
    from notifications.services import alert_send

    if lead.owner is not None and lead.owner.is_active:
        alert_send(
            user=lead.owner,
            kind=AlertPreference.Kind.REPEAT_INQUIRY,
            lead=lead,
            template_key=MessageTemplate.Key.ALERT_REPEAT_INQUIRY,
        )
    elif lead.team is not None:
        _alert_waiting(lead)


# --- Idempotent posts ----------------------------------------------------------------


@dataclass(frozen=True)
class Receipt:
    status_code: int
    body: dict[str, Any]
    replayed: bool


def intake_once(
    *,
    source: LeadSource,
    idempotency_key: str,
    request_body: bytes,
    perform,
) -> Receipt:
    """Run `perform()` (returning status and body) once per source and key.

    A retry with the same key and body gets the first answer back; the same key
    with another body is refused, because it is a client bug, not a retry.
    """
    digest = hashlib.sha256(request_body).hexdigest()
    with transaction.atomic():
        try:
            with transaction.atomic():
                # The unique constraint makes a concurrent retry wait here until
                # the first post commits, then fail and read its answer.
                receipt = IntakeReceipt.objects.create(
                    source=source,
                    idempotency_key=idempotency_key,
                    request_digest=digest,
                    status_code=0,
                )
        except IntegrityError:
            receipt = None
        if receipt is not None:
            status_code, body, lead = perform()
            receipt.status_code = status_code
            receipt.response = body
            receipt.lead = lead
            receipt.save(update_fields=["status_code", "response", "lead"])
            return Receipt(status_code, body, replayed=False)
    first = IntakeReceipt.objects.get(source=source, idempotency_key=idempotency_key)
    if first.request_digest != digest:
        raise ValidationError(
            {
                "idempotency_key": [
                    "This Idempotency-Key was used for a different request."
                ]
            }
        )
    return Receipt(first.status_code, first.response, replayed=True)


def intake_receipts_purge(*, older_than: timedelta = timedelta(days=2)) -> int:
    """Forget idempotency keys after clients stopped retrying."""
    deleted, _ = IntakeReceipt.objects.filter(
        created_at__lt=timezone.now() - older_than
    ).delete()
    return deleted


def channel_for_source(source: LeadSource | None) -> str:
    kinds = {
        LeadSource.Kind.WEB_FORM: Channel.WEB_FORM,
        LeadSource.Kind.CHAT: Channel.CHAT,
        LeadSource.Kind.REFERRAL: Channel.REFERRAL,
        LeadSource.Kind.PARTNER: Channel.REFERRAL,
        LeadSource.Kind.PHONE: Channel.PHONE,
        LeadSource.Kind.SMS: Channel.SMS,
        LeadSource.Kind.MANUAL: Channel.MANUAL,
        LeadSource.Kind.IMPORT: Channel.IMPORT,
    }
    return kinds.get(source.kind, Channel.WEB_FORM) if source else Channel.WEB_FORM
