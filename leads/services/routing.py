"""Routing: which team a lead belongs to, and whose turn it is to take it.

Rules run in order and name a team; inside the team, leads go round-robin to the
counselors who are available and under capacity. The counselors' rows are locked
while the turn is decided, so concurrent intakes cannot both hand out one turn or
push a counselor past capacity.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from crm.models import Team, User

from ..models import CALLBACK_OPEN_STATUSES, CallBack, Lead, LeadSource, RoutingRule
from . import lead_assign

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LeadProfile:
    """What routing looks at: the inquiry's place, need, language and source."""

    state: str = ""
    level_of_care: str = ""
    language: str = ""
    source_id: int | None = None

    @classmethod
    def of(cls, lead: Lead) -> "LeadProfile":
        return cls(
            state=lead.state,
            level_of_care=lead.level_of_care,
            language=lead.preferred_language,
            source_id=lead.source_id,
        )


@dataclass(frozen=True)
class TeamChoice:
    team: Team | None
    why: str


def rule_matches(rule: RoutingRule, profile: LeadProfile, source_ids: set[int]) -> bool:
    """An empty condition matches anything; a set one must contain the value."""
    return (
        (not rule.states or profile.state in rule.states)
        and (not rule.levels_of_care or profile.level_of_care in rule.levels_of_care)
        and (not rule.languages or profile.language in rule.languages)
        and (not source_ids or profile.source_id in source_ids)
    )


def team_for(*, profile: LeadProfile, source: LeadSource | None) -> TeamChoice:
    """Pick the lead's team: the first matching rule, else the source's team."""
    rules = (
        RoutingRule.objects.filter(is_active=True, team__is_active=True)
        .select_related("team")
        .prefetch_related("sources")
        .order_by("position", "id")
    )
    for rule in rules:
        source_ids = {source.pk for source in rule.sources.all()}
        if rule_matches(rule, profile, source_ids):
            return TeamChoice(rule.team, f"rule {rule.position} “{rule.name}”")
    if source is not None and source.team_id and source.team.is_active:
        return TeamChoice(source.team, f"default team of {source.name}")
    # Never leave a lead with no queue at all: the first team sees it.
    team = Team.objects.filter(is_active=True).order_by("id").first()
    return TeamChoice(team, "first active team (no rule matched)")


def open_lead_counts(user_ids: list[int]) -> dict[int, int]:
    rows = (
        Lead.objects.open()
        .filter(owner_id__in=user_ids)
        .values("owner_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {row["owner_id"]: row["n"] for row in rows}


def counselor_take_turn(
    *,
    team: Team,
    exclude: set[int] | frozenset[int] = frozenset(),
    now: datetime | None = None,
) -> User | None:
    """Lock the team's available counselors, pick whose turn it is, and record it.

    Must run inside the caller's transaction: the locks are held until it commits,
    so the lead is stored with its owner before the next intake decides.
    """
    now = now or timezone.now()
    candidates = (
        User.objects.counselors()
        .filter(teams=team, presence=User.Presence.AVAILABLE)
        .exclude(pk__in=exclude)
    )
    # Rows are locked in primary-key order so that two intakes for overlapping
    # teams always wait for each other instead of deadlocking.
    locked = list(
        User.objects.select_for_update()
        .filter(pk__in=candidates.values("pk"))
        .order_by("pk")
    )
    # Presence may have changed while we waited for the locks.
    locked = [
        user
        for user in locked
        if user.is_active and user.presence == User.Presence.AVAILABLE
    ]
    if not locked:
        return None
    counts = open_lead_counts([user.pk for user in locked])
    under_capacity = [
        user for user in locked if counts.get(user.pk, 0) < user.max_open_leads
    ]
    if not under_capacity:
        return None
    epoch = datetime.min.replace(tzinfo=now.tzinfo)
    chosen = min(
        under_capacity, key=lambda user: (user.last_routed_at or epoch, user.pk)
    )
    # `now` was read before waiting for the locks; an intake that waited longer
    # may hold an earlier one. The turn still goes to the back of the line.
    latest = max((user.last_routed_at or epoch for user in locked), default=epoch)
    turn_at = max(now, latest + timedelta(microseconds=1))
    User.objects.filter(pk=chosen.pk).update(last_routed_at=turn_at)
    chosen.last_routed_at = turn_at
    return chosen


def owner_takes_back(owner: User | None) -> bool:
    """A repeat lead goes back to its owner while they still work here."""
    return owner is not None and owner.is_active


class LeadAlreadyTaken(Exception):
    """Someone else owns the lead: the slower of two "Take" clicks."""

    def __init__(self, owner: User) -> None:
        super().__init__(f"Already taken by {owner}.")
        self.owner = owner


@transaction.atomic
def lead_take(*, lead: Lead, by: User) -> Lead:
    """Make an unowned lead of `by`'s team theirs, with the calls owed to it.

    The row lock makes two counselors clicking "Take" at once wait for each other:
    the second sees the first one's owner and gets `LeadAlreadyTaken`.
    """
    locked = (
        Lead.objects.select_for_update(of=("self",))
        .select_related("owner")
        .get(pk=lead.pk)
    )
    if locked.owner_id == by.pk:
        return locked  # a double click, or the page was behind
    if locked.owner_id is not None:
        raise LeadAlreadyTaken(locked.owner)
    if not locked.is_open:
        raise ValidationError(
            {"owner": [f"This lead is {locked.get_stage_display().lower()}."]}
        )
    taken = lead_assign(lead=locked, owner=by, by=by)
    # The call the lead is owed (its first call now) goes with it, as when the
    # SLA sweep hands a lead on.
    CallBack.objects.filter(
        lead=taken, status__in=CALLBACK_OPEN_STATUSES, owner__isnull=True
    ).update(owner=by)
    logger.info("lead taken lead_id=%s by=%s", taken.pk, by.pk)
    return taken
