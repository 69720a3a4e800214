"""Speed-to-lead SLA: when a first response is due, and what happens when it is not.

A new lead's first response is due within its source's SLA during its team's
business hours (the team's after-hours SLA outside them). Missed: the supervisors
are alerted; still nothing after the team's second window: the lead goes to the
next available counselor. Both steps run in the beat task `sla_sweep`, over the
leads' due times, never as delayed Celery tasks.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from crm.models import Team

from ..models import CALLBACK_OPEN_STATUSES, Activity, CallBack, Lead, LeadSource
from . import lead_activity_record, lead_assign
from .routing import counselor_take_turn

logger = logging.getLogger(__name__)

DEFAULT_SLA_MINUTES = 5
SWEEP_BATCH = 200


def _team_zone(team: Team) -> ZoneInfo:
    try:
        return ZoneInfo(team.time_zone or settings.TIME_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(settings.TIME_ZONE)


def team_is_open(team: Team | None, at: datetime) -> bool:
    """Whether `at` falls in the team's business hours (no team: always open)."""
    if team is None:
        return True
    local = at.astimezone(_team_zone(team))
    if local.weekday() not in (team.business_days or []):
        return False
    start, end = team.business_hours_start, team.business_hours_end
    if start == end:
        return True  # open around the clock on business days
    if start < end:
        return start <= local.time() < end
    return local.time() >= start or local.time() < end  # overnight shift


def sla_due_for(
    *, team: Team | None, source: LeadSource | None, now: datetime
) -> datetime:
    """When a lead arriving `now` must have had its first response."""
    if team is not None and not team_is_open(team, now):
        return now + timedelta(minutes=team.after_hours_sla_minutes)
    minutes = source.sla_minutes if source is not None else DEFAULT_SLA_MINUTES
    return now + timedelta(minutes=minutes)


@dataclass(frozen=True)
class SlaSweepResult:
    escalated: int
    reassigned: int


def _waiting() -> QuerySet[Lead]:
    return Lead.objects.open().filter(
        first_response_at__isnull=True, sla_due_at__isnull=False
    )


def sla_sweep(*, now: datetime | None = None) -> SlaSweepResult:
    """Escalate leads past their SLA, and reassign the ones still waiting after."""
    now = now or timezone.now()
    return SlaSweepResult(_escalate(now), _reassign(now))


def _escalate(now: datetime) -> int:
    from notifications.models import AlertPreference, MessageTemplate
    from notifications.services import alert_team_supervisors

    with transaction.atomic():
        leads = list(
            _waiting()
            .select_for_update(skip_locked=True, of=("self",))
            .select_related("team", "owner")
            .filter(sla_due_at__lte=now, sla_escalated_at__isnull=True)
            .order_by("sla_due_at", "id")[:SWEEP_BATCH]
        )
        for lead in leads:
            lead.sla_escalated_at = now
            Lead.objects.filter(pk=lead.pk).update(sla_escalated_at=now)
            waited = int((now - lead.created_at).total_seconds() // 60)
            lead_activity_record(
                lead=lead,
                kind=Activity.Kind.ASSIGNMENT,
                actor=None,
                summary=f"No response in {waited} min: past the SLA, supervisor "
                "alerted",
                data={"sla": "escalated"},
                at=now,
            )
            if lead.team is not None:
                alert_team_supervisors(
                    team=lead.team,
                    kind=AlertPreference.Kind.SLA_BREACH,
                    lead=lead,
                    template_key=MessageTemplate.Key.ALERT_SLA_BREACH,
                )
    if leads:
        logger.info("sla escalated n=%s", len(leads))
    return len(leads)


def _reassign(now: datetime) -> int:
    reassigned = 0
    with transaction.atomic():
        # Each team has its own second window: select per team, so that leads
        # still inside one team's window never hide another team's due ones.
        leads: list[Lead] = []
        for team in Team.objects.filter(is_active=True).order_by("pk"):
            window = timedelta(minutes=team.sla_reassign_after_minutes)
            leads += list(
                _waiting()
                .select_for_update(skip_locked=True, of=("self",))
                .select_related("team", "owner")
                .filter(
                    team=team,
                    sla_reassigned_at__isnull=True,
                    sla_escalated_at__lte=now - window,
                )
                .order_by("sla_escalated_at", "id")[:SWEEP_BATCH]
            )
        for lead in leads:
            team = lead.team
            previous = lead.owner
            exclude = {previous.pk} if previous else set()
            owner = counselor_take_turn(team=team, exclude=exclude, now=now)
            lead.sla_reassigned_at = now
            Lead.objects.filter(pk=lead.pk).update(sla_reassigned_at=now)
            if owner is None:
                lead_activity_record(
                    lead=lead,
                    kind=Activity.Kind.ASSIGNMENT,
                    actor=None,
                    summary="Still no response, and no other counselor is available "
                    "to take it",
                    data={"sla": "no_one_available"},
                    at=now,
                )
                continue
            lead = lead_assign(lead=lead, owner=owner, by=None)
            # The call owed to the lead moves with it.
            CallBack.objects.filter(
                lead=lead, status__in=CALLBACK_OPEN_STATUSES, owner=previous
            ).update(owner=owner)
            lead_activity_record(
                lead=lead,
                kind=Activity.Kind.ASSIGNMENT,
                actor=None,
                summary=f"No response in time: moved from {previous or 'the queue'} "
                f"to {owner}",
                data={"sla": "reassigned", "from": previous.pk if previous else None},
                at=now,
            )
            reassigned += 1
    if reassigned:
        logger.info("sla reassigned n=%s", reassigned)
    return reassigned
