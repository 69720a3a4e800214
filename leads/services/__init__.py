"""Every write to a lead: creation, details, assignment, the pipeline, notes, touches.

The pipeline lives in `lead_transition` alone; a reader finds every way a lead's
stage can change there.
"""

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from crm.models import Team, User
from crm.services import audit_record

from ..geo import time_zone_for_state
from ..models import (
    ATTRIBUTION_FIELDS,
    OPEN_STAGES,
    Activity,
    Channel,
    Lead,
    LostReason,
    Stage,
    StageChange,
    Touch,
)

if TYPE_CHECKING:
    from .intake import SmsConsent

logger = logging.getLogger(__name__)

# Fields a counselor edits on the lead itself. Stage, owner and team have their
# own services because each change there is a decision someone must answer for.
LEAD_DETAIL_FIELDS: tuple[str, ...] = (
    "first_name",
    "last_name",
    "phone",
    "email",
    "date_of_birth",
    "state",
    "city",
    "time_zone",
    "preferred_language",
    "caller_relationship",
    "caller_first_name",
    "caller_last_name",
    "caller_phone",
    "caller_email",
    "patient_consents_to_caller",
    "substances",
    "level_of_care",
    "co_occurring_mental_health",
    "urgency",
    "intake_notes",
    "insurance_payer",
    "insurance_member_id",
    "insurance_group_number",
    "insurance_subscriber_name",
    "priority",
)

# The forward path, plus one step back where a stage must be redone (a pre-screen
# corrected, benefits re-verified, an admission postponed for review). Every open
# stage may also close as lost or referred out; a lost lead reopens where it was.
FORWARD_AND_BACK: dict[str, frozenset[str]] = {
    Stage.NEW: frozenset({Stage.ATTEMPTING_CONTACT, Stage.CONTACTED}),
    Stage.ATTEMPTING_CONTACT: frozenset({Stage.CONTACTED}),
    # Benefits are often checked on the first call, before the pre-screen.
    Stage.CONTACTED: frozenset({Stage.ASSESSMENT, Stage.INSURANCE_VERIFICATION}),
    Stage.ASSESSMENT: frozenset(
        # Self-pay callers skip insurance verification.
        {Stage.INSURANCE_VERIFICATION, Stage.CLINICAL_REVIEW}
    ),
    Stage.INSURANCE_VERIFICATION: frozenset(
        # Outpatient programs admit on verified benefits without a clinical review.
        {Stage.CLINICAL_REVIEW, Stage.ADMISSION_SCHEDULED, Stage.ASSESSMENT}
    ),
    Stage.CLINICAL_REVIEW: frozenset(
        {Stage.ADMISSION_SCHEDULED, Stage.INSURANCE_VERIFICATION}
    ),
    Stage.ADMISSION_SCHEDULED: frozenset({Stage.ADMITTED, Stage.CLINICAL_REVIEW}),
}
CLOSING_STAGES = frozenset({Stage.LOST, Stage.REFERRED_OUT})
REOPEN_FALLBACK_STAGE = Stage.ATTEMPTING_CONTACT


def allowed_next_stages(lead: Lead) -> list[str]:
    """Return the stages `lead` may move to now, in pipeline order."""
    if lead.stage in FORWARD_AND_BACK:
        allowed = FORWARD_AND_BACK[lead.stage] | CLOSING_STAGES
    elif lead.stage == Stage.LOST:
        allowed = frozenset({lead.stage_before_close or REOPEN_FALLBACK_STAGE})
    else:
        allowed = frozenset()
    return [stage for stage in Stage.values if stage in allowed]


def _activity_record(
    *,
    lead: Lead,
    kind: str,
    actor: User | None,
    summary: str,
    body: str = "",
    data: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> Activity:
    at = at or timezone.now()
    activity = Activity.objects.create(
        lead=lead,
        kind=kind,
        actor=actor,
        at=at,
        summary=summary[:500],
        body=body,
        data=data or {},
    )
    if at > lead.last_activity_at:
        lead.last_activity_at = at
        Lead.objects.filter(pk=lead.pk).update(last_activity_at=at)
    return activity


def lead_activity_record(
    *,
    lead: Lead,
    kind: str,
    actor: User | None,
    summary: str,
    body: str = "",
    data: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> Activity:
    """Add a line to the lead's timeline: for other apps' services (texts, calls)."""
    return _activity_record(
        lead=lead, kind=kind, actor=actor, summary=summary, body=body, data=data, at=at
    )


def _full_clean(lead: Lead) -> None:
    # Model validation turns bad choices, lengths and addresses into field errors
    # before anything is written. Relations are left out: services set them from
    # rows they loaded (validating them would re-read each one), and the database
    # enforces them anyway.
    lead.full_clean(
        exclude=[
            "first_touch",
            "last_touch",
            "source",
            "owner",
            "team",
            "first_response_by",
        ],
        validate_unique=False,
        # The database enforces the constraints; services check them with
        # clearer messages before writing.
        validate_constraints=False,
    )


def lead_check_contact(*, phone: object, email: str, caller_phone: object) -> None:
    """Refuse a lead nobody could call back: a phone or an e-mail is needed."""
    if not (phone or email or caller_phone):
        raise ValidationError(
            {"phone": ["Give a phone number or an e-mail address to reach this lead."]}
        )


def _require_contact(lead: Lead) -> None:
    lead_check_contact(
        phone=lead.phone, email=lead.email, caller_phone=lead.caller_phone
    )
    if lead.phone and lead.stage in OPEN_STAGES:
        twin = lead_open_with_phone(str(lead.phone), exclude=lead.pk)
        if twin is not None:
            raise ValidationError(
                {
                    "phone": [
                        f"This phone number belongs to lead #{twin.pk}, owned by "
                        f"{twin.owner or 'nobody yet'}."
                    ]
                }
            )


def lead_open_with_phone(phone: str, *, exclude: int | None = None) -> Lead | None:
    """The open lead holding `phone`, if any: there is at most one."""
    leads = Lead.objects.open().filter(phone=phone).select_related("owner")
    if exclude is not None:
        leads = leads.exclude(pk=exclude)
    return leads.first()


def _actor_name(user: User | None) -> str:
    return str(user) if user is not None else "the system"


@transaction.atomic
def lead_create(
    *,
    by: User | None,
    channel: str,
    team: Team | None = None,
    owner: User | None = None,
    attribution: Mapping[str, Any] | None = None,
    touch_summary: str = "",
    at: datetime | None = None,
    routed_by: str = "",
    alert_owner: bool = True,
    prechecked: bool = False,
    sla_due_at: datetime | None = None,
    **details: Any,
) -> Lead:
    """Store a new lead with its first touch, and start its timeline.

    `routed_by` explains an automatic assignment on the timeline (which rule, whose
    turn); `alert_owner=False` keeps bulk imports from paging counselors;
    `prechecked=True` says the caller (intake) already found the phone free and
    took the owner from the team, under locks, so those reads are not repeated.
    """
    unknown = set(details) - set(LEAD_DETAIL_FIELDS)
    if unknown:
        raise TypeError(f"lead_create got unknown fields: {sorted(unknown)}")
    attribution = dict(attribution or {})
    unknown = set(attribution) - set(ATTRIBUTION_FIELDS)
    if unknown:
        raise TypeError(f"lead_create got unknown attribution: {sorted(unknown)}")
    at = at or timezone.now()

    lead = Lead(
        **details,
        **attribution,
        team=team,
        owner=owner,
        created_at=at,
        stage_changed_at=at,
        last_activity_at=at,
        last_inquiry_at=at,
        sla_due_at=sla_due_at,
    )
    if lead.state and not lead.time_zone:
        lead.time_zone = time_zone_for_state(lead.state)
    # Lower case everywhere, so that dedupe's exact match finds every lead.
    lead.email = (lead.email or "").strip().lower()
    if prechecked:
        lead_check_contact(
            phone=lead.phone, email=lead.email, caller_phone=lead.caller_phone
        )
    else:
        _require_contact(lead)
        if owner is not None:
            lead_check_owner(owner=owner, team=team)
    _full_clean(lead)
    lead.save()

    touch = Touch.objects.create(
        lead=lead, channel=channel, occurred_at=at, summary=touch_summary, **attribution
    )
    lead.first_touch = lead.last_touch = touch
    lead.save(update_fields=["first_touch", "last_touch"])
    StageChange.objects.create(
        lead=lead, from_stage="", to_stage=lead.stage, by=by, at=at
    )
    source_name = lead.source.name if lead.source_id else touch.get_channel_display()
    _activity_record(
        lead=lead,
        kind=Activity.Kind.CREATED,
        actor=by,
        summary=f"Lead created from {source_name}",
        data={"channel": channel, "source": lead.source_id},
        at=at,
    )
    audit_record(
        actor=by,
        action="create",
        object_type="lead",
        object_id=lead.pk,
        lead_id=lead.pk,
    )
    if owner is not None or routed_by:
        _assignment_record(
            lead=lead, by=by, routed_by=routed_by, alert_owner=alert_owner, at=at
        )
    logger.info("lead created lead_id=%s channel=%s", lead.pk, channel)
    return lead


def lead_route_to(
    *,
    lead: Lead,
    owner: User | None,
    routed_by: str,
    by: User | None = None,
    alert_owner: bool = True,
) -> Lead:
    """Give a lead just stored by intake the owner routing chose (or none: it
    waits in its team's queue), say why on the timeline, and alert the owner.

    Intake stores the lead first and routes it last, so that the counselors' row
    locks routing takes are held for as little of the transaction as possible.
    """
    if owner is not None:
        Lead.objects.filter(pk=lead.pk).update(owner=owner)
        lead.owner = owner
    _assignment_record(lead=lead, by=by, routed_by=routed_by, alert_owner=alert_owner)
    return lead


def _assignment_record(
    *,
    lead: Lead,
    by: User | None,
    routed_by: str,
    alert_owner: bool,
    at: datetime | None = None,
) -> None:
    owner, team = lead.owner, lead.team
    summary = f"Assigned to {owner}" if owner else f"Waiting in the {team} queue"
    _activity_record(
        lead=lead,
        kind=Activity.Kind.ASSIGNMENT,
        actor=by,
        summary=f"{summary} ({routed_by})" if routed_by else summary,
        data={
            "owner": owner.pk if owner else None,
            "team": team.pk if team else None,
            "routing": routed_by,
        },
        at=at,
    )
    if owner is not None and alert_owner:
        _alert_new_owner(lead=lead, by=by)


@transaction.atomic
def lead_update(*, lead: Lead, by: User | None, data: Mapping[str, Any]) -> Lead:
    """Change the lead's details; record which fields changed, not their values."""
    unknown = set(data) - set(LEAD_DETAIL_FIELDS)
    if unknown:
        raise ValidationError(
            {name: ["This field cannot be changed here."] for name in sorted(unknown)}
        )
    lead = Lead.objects.select_for_update().get(pk=lead.pk)
    data = dict(data)
    if "email" in data:
        data["email"] = (data["email"] or "").strip().lower()
    changed = [name for name, value in data.items() if getattr(lead, name) != value]
    for name in changed:
        setattr(lead, name, data[name])
    if "state" in changed and "time_zone" not in data:
        lead.time_zone = time_zone_for_state(lead.state)
        changed.append("time_zone")
    if not changed:
        return lead
    _require_contact(lead)
    _full_clean(lead)
    lead.save(update_fields=[*changed, "updated_at"])
    labels = ", ".join(str(Lead._meta.get_field(name).verbose_name) for name in changed)
    _activity_record(
        lead=lead,
        kind=Activity.Kind.UPDATE,
        actor=by,
        summary=f"Changed {labels}",
        data={"fields": sorted(changed)},
    )
    audit_record(
        actor=by,
        action="update",
        object_type="lead",
        object_id=lead.pk,
        lead_id=lead.pk,
        fields=changed,
    )
    return lead


def lead_check_owner(*, owner: User, team: Team | None) -> None:
    """Refuse an owner who is inactive or outside the lead's team."""
    if not owner.is_active:
        raise ValidationError({"owner": [f"{owner} is not an active user."]})
    if team is None:
        raise ValidationError({"team": ["Choose a team before choosing an owner."]})
    if not team.members.filter(pk=owner.pk).exists():
        raise ValidationError({"owner": [f"{owner} is not a member of {team}."]})


def _ensure_can_assign(
    *, by: User | None, lead: Lead, owner: User | None, moving_team: bool
) -> None:
    if by is None or by.is_supervisor:
        return
    # A counselor may take an unowned lead of their team for themselves; every
    # other change of hands is a supervisor's decision.
    if lead.owner_id is None and owner == by and not moving_team:
        return
    raise ValidationError(
        {"owner": ["Only a supervisor can reassign a lead or move it to another team."]}
    )


@transaction.atomic
def lead_assign(
    *,
    lead: Lead,
    owner: User | None,
    by: User | None,
    team: Team | None = None,
) -> Lead:
    """Make `owner` (or nobody) the lead's owner, optionally moving it to `team`."""
    lead = Lead.objects.select_for_update().get(pk=lead.pk)
    new_team = team if team is not None else lead.team
    moving_team = new_team != lead.team
    if owner == lead.owner and not moving_team:
        return lead
    _ensure_can_assign(by=by, lead=lead, owner=owner, moving_team=moving_team)
    if owner is not None:
        lead_check_owner(owner=owner, team=new_team)
    lead.owner = owner
    lead.team = new_team
    lead.save(update_fields=["owner", "team", "updated_at"])
    if owner is None:
        summary = f"Returned to the {new_team} queue by {_actor_name(by)}"
    else:
        summary = f"Assigned to {owner} by {_actor_name(by)}"
    _activity_record(
        lead=lead,
        kind=Activity.Kind.ASSIGNMENT,
        actor=by,
        summary=summary,
        data={
            "owner": owner.pk if owner else None,
            "team": new_team.pk if new_team else None,
        },
    )
    audit_record(
        actor=by,
        action="update",
        object_type="lead",
        object_id=lead.pk,
        lead_id=lead.pk,
        fields=["owner", "team"] if moving_team else ["owner"],
    )
    _alert_new_owner(lead=lead, by=by)
    return lead


def _alert_new_owner(*, lead: Lead, by: User | None) -> None:
    # Imported here: notifications builds on leads, not the other way round.
    from notifications.services import alert_lead_assigned

    alert_lead_assigned(lead=lead, by=by)


@transaction.atomic
def lead_transition(
    *,
    lead: Lead,
    to: str,
    by: User | None,
    reason: str = "",
    referred_to: str = "",
    note: str = "",
    at: datetime | None = None,
) -> Lead:
    """Move the lead through the pipeline, or refuse with a field error.

    `reason` is a `LostReason` value when closing as lost, the why of a referral
    when referring out, and an optional explanation otherwise.
    """
    # Lock the row so that two counselors moving the same lead at once cannot both
    # pass the allowed-move check against the same old stage.
    lead = Lead.objects.select_for_update().get(pk=lead.pk)
    at = at or timezone.now()
    reason = (reason or "").strip()
    referred_to = (referred_to or "").strip()
    note = (note or "").strip()

    if to not in Stage.values:
        raise ValidationError({"to": [f"{to!r} is not a stage."]})
    allowed = allowed_next_stages(lead)
    if to not in allowed:
        names = ", ".join(Stage(stage).label for stage in allowed) or "none (closed)"
        raise ValidationError(
            {
                "to": [
                    f"A lead in {lead.get_stage_display()} cannot move to "
                    f"{Stage(to).label}. Allowed: {names}."
                ]
            }
        )
    if to == Stage.LOST and reason not in LostReason.values:
        choices = ", ".join(LostReason.values)
        raise ValidationError(
            {"reason": [f"Closing as lost needs a reason, one of: {choices}."]}
        )
    if to == Stage.REFERRED_OUT:
        errors = {}
        if not referred_to:
            errors["referred_to"] = ["Name the program the lead is referred to."]
        if not reason:
            errors["reason"] = ["Say why the lead is referred out."]
        if errors:
            raise ValidationError(errors)

    from_stage = lead.stage
    reopening = from_stage == Stage.LOST
    if reopening and lead.phone:
        twin = (
            Lead.objects.open()
            .filter(phone=lead.phone)
            .exclude(pk=lead.pk)
            .values_list("pk", flat=True)
            .first()
        )
        if twin is not None:
            raise ValidationError(
                {
                    "to": [
                        f"Lead #{twin} is open with the same phone number; work "
                        "that lead instead of reopening this one."
                    ]
                }
            )
    lead.stage = to
    lead.stage_changed_at = at
    if to in CLOSING_STAGES:
        lead.stage_before_close = from_stage
        lead.lost_reason = reason if to == Stage.LOST else ""
        lead.referred_to = referred_to
        lead.closed_reason_note = note if to == Stage.LOST else reason
    elif reopening:
        lead.stage_before_close = ""
        lead.lost_reason = ""
        lead.closed_reason_note = ""
    if from_stage == Stage.NEW and lead.first_response_at is None and by is not None:
        # Moving a new lead on means someone called or wrote to them.
        lead.first_response_at = at
        lead.first_response_by = by
    lead.save(
        update_fields=[
            "stage",
            "stage_changed_at",
            "stage_before_close",
            "lost_reason",
            "referred_to",
            "closed_reason_note",
            "first_response_at",
            "first_response_by",
            "updated_at",
        ]
    )

    explanation = note if to == Stage.LOST else reason
    StageChange.objects.create(
        lead=lead,
        from_stage=from_stage,
        to_stage=to,
        lost_reason=lead.lost_reason,
        reason=explanation if to != Stage.REFERRED_OUT else f"{reason} → {referred_to}",
        by=by,
        at=at,
    )
    verb = "Reopened" if reopening else "Moved"
    summary = f"{verb} from {Stage(from_stage).label} to {Stage(to).label}"
    if to == Stage.LOST:
        summary += f": {LostReason(reason).label}"
    elif to == Stage.REFERRED_OUT:
        summary += f" ({referred_to})"
    _activity_record(
        lead=lead,
        kind=Activity.Kind.STAGE_CHANGE,
        actor=by,
        summary=summary,
        body=explanation,
        data={"from": from_stage, "to": to, "lost_reason": lead.lost_reason},
        at=at,
    )
    audit_record(
        actor=by,
        action="update",
        object_type="lead",
        object_id=lead.pk,
        lead_id=lead.pk,
        fields=["stage"],
        detail=f"{from_stage}->{to}",
    )
    # Imported here: follow-up builds on this module.
    from .followup import lead_followup_on_stage_change

    lead_followup_on_stage_change(lead=lead, to=to, by=by)
    return lead


NOTE_MAX_LENGTH = 10_000


@transaction.atomic
def lead_add_note(
    *, lead: Lead, by: User | None, body: str, at: datetime | None = None
) -> Activity:
    """Add a counselor's note to the lead's timeline."""
    body = (body or "").strip()
    if not body:
        raise ValidationError({"body": ["Write something in the note."]})
    if len(body) > NOTE_MAX_LENGTH:
        raise ValidationError(
            {"body": [f"Keep a note under {NOTE_MAX_LENGTH:,} characters."]}
        )
    first_line = body.splitlines()[0]
    activity = _activity_record(
        lead=lead,
        kind=Activity.Kind.NOTE,
        actor=by,
        summary=first_line[:120],
        body=body,
        at=at,
    )
    audit_record(
        actor=by,
        action="update",
        object_type="lead",
        object_id=lead.pk,
        lead_id=lead.pk,
        fields=["notes"],
    )
    return activity


@transaction.atomic
def touch_record(
    *,
    lead: Lead,
    channel: str,
    attribution: Mapping[str, Any] | None = None,
    summary: str = "",
    by: User | None = None,
    at: datetime | None = None,
) -> Touch:
    """Record another inquiry on an existing lead and make it the last touch."""
    at = at or timezone.now()
    touch = Touch.objects.create(
        lead=lead,
        channel=channel,
        occurred_at=at,
        summary=summary,
        **dict(attribution or {}),
    )
    if lead.last_touch is None or at >= lead.last_touch.occurred_at:
        lead.last_touch = touch
        Lead.objects.filter(pk=lead.pk).update(last_touch=touch)
    _activity_record(
        lead=lead,
        kind=Activity.Kind.TOUCH,
        actor=by,
        summary=f"New inquiry by {touch.get_channel_display().lower()}",
        body=summary,
        data={"touch": touch.pk, "channel": channel},
        at=at,
    )
    return touch


@transaction.atomic
def lead_enter_manually(
    *,
    by: User,
    team: Team | None = None,
    owner: User | None = None,
    attribution: Mapping[str, Any] | None = None,
    message: str = "",
    sms_consent: "SmsConsent | None" = None,
    **details: Any,
):
    """Store an inquiry typed in by staff, through the same door as web intake.

    A counselor's lead goes to their team when they have only one, and is theirs
    unless they name another owner; otherwise the lead is routed. A phone or
    e-mail that belongs to a lead already is a repeat inquiry on that lead:
    the answer's `duplicate` says so. `sms_consent` is consent to texts the
    person gave on the phone, recorded in the same transaction.
    """
    from .intake import lead_intake

    if team is None and not by.sees_all_leads:
        teams = list(by.teams.filter(is_active=True)[:2])
        if len(teams) != 1:
            raise ValidationError({"team": ["Choose the team this lead belongs to."]})
        team = teams[0]
    if owner is None and by.role == User.Role.COUNSELOR:
        owner = by
    attribution = dict(attribution or {})
    source = attribution.pop("source", None)
    return lead_intake(
        channel=Channel.MANUAL,
        source=source,
        details=details,
        attribution=attribution,
        message=message,
        by=by,
        team=team,
        owner=owner,
        sms_consent=sms_consent,
    )


@transaction.atomic
def lead_edit(*, lead: Lead, by: User | None, data: Mapping[str, Any]) -> Lead:
    """Apply one edit of the lead form or API: details, then owner and team if given.

    One transaction: a refused reassignment leaves the details unchanged too.
    """
    data = dict(data)
    assignment = {name: data.pop(name) for name in ("owner", "team") if name in data}
    lead = lead_update(lead=lead, by=by, data=data)
    if assignment:
        lead = lead_assign(
            lead=lead,
            owner=assignment.get("owner", lead.owner),
            team=assignment.get("team"),
            by=by,
        )
    return lead
