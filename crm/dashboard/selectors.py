"""Reads of the supervisor dashboard: live tiles, funnel, speed to lead, insurance
verification (VOB turnaround and VOB-to-admission conversion), leaderboard,
attribution.

Every figure is an aggregate query whose number does not grow with the leads
counted: the database groups and counts, Python only arranges the few result rows.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import reduce
from hashlib import sha256
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import (
    Case,
    Count,
    F,
    FloatField,
    Func,
    IntegerField,
    Max,
    Min,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Cast, ExtractHour, Greatest
from django.utils import timezone

from crm.models import Team, User
from leads.models import (
    OPEN_STAGES,
    Admission,
    InsuranceVerification,
    Lead,
    LeadSource,
    LevelOfCare,
    LostReason,
    Stage,
    StageChange,
)
from leads.services import FORWARD_AND_BACK
from telephony.models import Call, TrackingNumber

# The forward path of a lead; lost and referred out are exits, not steps.
PIPELINE: tuple[str, ...] = (
    Stage.NEW,
    Stage.ATTEMPTING_CONTACT,
    Stage.CONTACTED,
    Stage.ASSESSMENT,
    Stage.INSURANCE_VERIFICATION,
    Stage.CLINICAL_REVIEW,
    Stage.ADMISSION_SCHEDULED,
    Stage.ADMITTED,
)
RANK: dict[str, int] = {stage: rank for rank, stage in enumerate(PIPELINE)}
# The moves back down the pipeline (a pre-screen redone, benefits verified again,
# an admission postponed for review). The `stagechange_backward` index holds
# exactly these rows; a test keeps the two in step.
BACKWARD_MOVES: tuple[tuple[str, str], ...] = tuple(
    sorted(
        (origin, target)
        for origin, targets in FORWARD_AND_BACK.items()
        for target in targets
        if RANK[target] < RANK[origin]
    )
)
BACKWARD_MOVES_Q = reduce(
    operator.or_,
    (Q(from_stage=origin, to_stage=target) for origin, target in BACKWARD_MOVES),
)
LIVE_CALL_STATUSES: tuple[str, ...] = (Call.Status.RINGING, Call.Status.IN_PROGRESS)
FIRST_RESPONSE_TARGET = timedelta(minutes=5)
# Benefits returned within half an hour convert two to three times better: the
# industry's target for a VOB's turnaround.
VOB_TARGET = timedelta(minutes=30)
ATTRIBUTION_TOP_ROWS = 25
MAX_RANGE_DAYS = 366
DEFAULT_RANGE_DAYS = 30


def center_zone() -> ZoneInfo:
    """The call center's own time zone: days and hours of day are counted in it."""
    return ZoneInfo(settings.TIME_ZONE)


def center_today() -> date:
    return timezone.localtime(timezone.now(), center_zone()).date()


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=center_zone())


# --- Filters and scope ---------------------------------------------------------------


@dataclass(frozen=True)
class DashboardFilters:
    """What the supervisor asked for: leads created from `since` to `until`
    (whole days, both included, in the center's time zone), narrowed down."""

    since: date
    until: date
    team: Team | None = None
    source: LeadSource | None = None
    campaign: str = ""
    level_of_care: str = ""

    @classmethod
    def default(cls) -> DashboardFilters:
        today = center_today()
        return cls(since=today - timedelta(days=DEFAULT_RANGE_DAYS - 1), until=today)

    @property
    def starts_at(self) -> datetime:
        return _day_start(self.since)

    @property
    def ends_before(self) -> datetime:
        return _day_start(self.until + timedelta(days=1))

    @property
    def level_of_care_label(self) -> str:
        return LevelOfCare(self.level_of_care).label if self.level_of_care else ""

    def describe(self) -> str:
        """One line for the audit trail: which leads a report was drawn from."""
        parts = [f"since={self.since.isoformat()}", f"until={self.until.isoformat()}"]
        if self.team is not None:
            parts.append(f"team={self.team.slug}")
        if self.source is not None:
            parts.append(f"source={self.source.slug}")
        if self.campaign:
            parts.append(f"campaign={self.campaign}")
        if self.level_of_care:
            parts.append(f"level_of_care={self.level_of_care}")
        return " ".join(parts)


@dataclass(frozen=True)
class Scope:
    """Whose data the dashboard shows: `team_ids` None means every team (admins)."""

    team_ids: tuple[int, ...] | None

    def leads(self) -> QuerySet[Lead]:
        leads = Lead.objects.order_by()
        if self.team_ids is None:
            return leads
        return leads.filter(team_id__in=self.team_ids)


def dashboard_teams_for(*, user: User) -> QuerySet[Team]:
    """Teams a supervisor may look at: those they supervise or belong to; admins all.

    The same rule as `Lead.objects.visible_to`, so the dashboard never counts a lead
    its viewer could not open.
    """
    if user.sees_all_leads:
        return Team.objects.all()
    return Team.objects.filter(Q(members=user) | Q(supervisors=user)).distinct()


def dashboard_scope(*, user: User, filters: DashboardFilters) -> Scope:
    if filters.team is not None:
        # The filter form only offers teams from `dashboard_teams_for`.
        return Scope(team_ids=(filters.team.pk,))
    if user.sees_all_leads:
        return Scope(team_ids=None)
    ids = dashboard_teams_for(user=user).values_list("id", flat=True)
    return Scope(team_ids=tuple(sorted(ids)))


def _cohort(*, scope: Scope, filters: DashboardFilters) -> QuerySet[Lead]:
    """The leads created in the range that match the filters."""
    leads = scope.leads().filter(
        created_at__gte=filters.starts_at, created_at__lt=filters.ends_before
    )
    if filters.source is not None:
        leads = leads.filter(source=filters.source)
    if filters.campaign:
        leads = leads.filter(campaign=filters.campaign)
    if filters.level_of_care:
        leads = leads.filter(level_of_care=filters.level_of_care)
    return leads


def _of_matching_leads(rows: QuerySet, *, filters: DashboardFilters) -> QuerySet:
    """Keep the rows (calls, stage moves) whose lead matches the filters other than
    the team and the date range; rows of any lead when nothing narrows."""
    lead_filters = {}
    if filters.source is not None:
        lead_filters["lead__source"] = filters.source
    if filters.campaign:
        lead_filters["lead__campaign"] = filters.campaign
    if filters.level_of_care:
        lead_filters["lead__level_of_care"] = filters.level_of_care
    return rows.filter(**lead_filters)


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def percent_label(share: float | None) -> str:
    return "–" if share is None else f"{share * 100:.1f}%"


def duration_label(seconds: float | None) -> str:
    """Seconds as a person reads a wait: 45s, 2m 05s, 3h 20m."""
    if seconds is None:
        return "–"
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def person_name(first_name: str, last_name: str, username: str) -> str:
    return f"{first_name} {last_name}".strip() or username


# --- Live tiles ----------------------------------------------------------------------


@dataclass(frozen=True)
class LiveTiles:
    waiting_unassigned: int
    sla_breaches: int
    presence: dict[str, int]
    calls_in_progress: int
    missed_calls_today: int
    vobs_waiting: int = 0
    # How long the oldest waiting VOB has waited since it was requested.
    oldest_vob_wait_seconds: float | None = None

    @property
    def available(self) -> int:
        return self.presence.get(User.Presence.AVAILABLE, 0)

    @property
    def oldest_vob_wait_label(self) -> str:
        return duration_label(self.oldest_vob_wait_seconds)

    @property
    def vob_wait_over_target(self) -> bool:
        return (
            self.oldest_vob_wait_seconds is not None
            and self.oldest_vob_wait_seconds > VOB_TARGET.total_seconds()
        )

    @property
    def presence_rows(self) -> list[tuple[str, str, int]]:
        return [
            (value, label, self.presence.get(value, 0))
            for value, label in User.Presence.choices
        ]


def _calls_in_scope(scope: Scope) -> QuerySet[Call]:
    calls = Call.objects.order_by()
    if scope.team_ids is None:
        return calls
    # A call belongs to a team through its lead, the number dialled, or the
    # counselor on it: an unanswered call may have only the tracking number.
    members = User.objects.filter(teams__id__in=scope.team_ids).values("id")
    return calls.filter(
        Q(lead__team_id__in=scope.team_ids)
        | Q(tracking_number__team_id__in=scope.team_ids)
        | Q(counselor_id__in=members)
    )


def live_tiles(*, scope: Scope, now: datetime | None = None) -> LiveTiles:
    """What is happening right now in the supervisor's teams."""
    now = now or timezone.now()
    open_leads = scope.leads().filter(stage__in=OPEN_STAGES)
    waiting = open_leads.filter(owner__isnull=True).count()
    breaches = open_leads.filter(
        first_response_at__isnull=True, sla_due_at__isnull=False, sla_due_at__lt=now
    ).count()
    counselors = User.objects.filter(is_active=True, role=User.Role.COUNSELOR)
    if scope.team_ids is not None:
        counselors = counselors.filter(teams__id__in=scope.team_ids)
    presence = dict(
        counselors.order_by()
        .values_list("presence")
        .annotate(n=Count("id", distinct=True))
    )
    calls = _calls_in_scope(scope)
    in_progress = calls.filter(status__in=LIVE_CALL_STATUSES).count()
    today_start = _day_start(timezone.localtime(now, center_zone()).date())
    missed = calls.filter(missed_at__gte=today_start, missed_at__lte=now).count()
    # Read off the verifiers' queue index (`vob_waiting`): a few rows at most.
    vobs = InsuranceVerification.objects.order_by().waiting()
    if scope.team_ids is not None:
        vobs = vobs.filter(lead__team_id__in=scope.team_ids)
    vob_queue = vobs.aggregate(n=Count("id"), oldest=Min("requested_at"))
    oldest = vob_queue["oldest"]
    return LiveTiles(
        waiting_unassigned=waiting,
        sla_breaches=breaches,
        presence=presence,
        calls_in_progress=in_progress,
        missed_calls_today=missed,
        vobs_waiting=vob_queue["n"],
        oldest_vob_wait_seconds=None
        if oldest is None
        else max(0.0, (now - oldest).total_seconds()),
    )


# --- One pass over the range's leads ------------------------------------------------

# Lead columns counted together in one grouped scan; the report's tables each add
# up these groups their own way (see `lead_rollup`).
ROLLUP_COLUMNS: dict[str, str] = {
    "k_source": "source_id",
    "k_campaign": "campaign",
    "k_page": "landing_page",
    "k_number": "tracking_number",
    "k_stage": "stage",
    "k_before": "stage_before_close",
    "k_lost": "lost_reason",
}
# Attribution table key: the rollup column it is grouped by.
ATTRIBUTION_COLUMNS: dict[str, str] = {
    "sources": "k_source",
    "campaigns": "k_campaign",
    "landing-pages": "k_page",
    "tracking-numbers": "k_number",
}


@dataclass(frozen=True)
class LeadRollup:
    """The range's leads counted by stage, lost reason and attribution."""

    by_stage: dict[str, int]
    # Rank in `PIPELINE` of the furthest stage the lead's own columns show (its
    # stage now, or the one it was closed from): how many leads.
    by_furthest: dict[int, int]
    lost_by_reason: dict[str, int]
    # Per attribution table: (value, leads, admissions), biggest first, at most
    # one more row than is shown, so that the page knows there are others.
    attribution: dict[str, list[tuple[str | None, int, int]]]

    @property
    def inquiries(self) -> int:
        return sum(self.by_stage.values())


def _fetch(sql: str, params: tuple) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _arm(
    select: str,
    *,
    where: tuple[str, ...] = (),
    group_by: tuple[str, ...] = (),
    order_by: str = "",
    limit: int | None = None,
    source: str = "c",
) -> str:
    """One SELECT over the common rows `c`, or `source` (see `_union_over`)."""
    sql = f"SELECT {select} FROM {source}"  # noqa: S608 (module constants only)
    if where:
        sql += " WHERE " + " AND ".join(where)
    if group_by:
        sql += " GROUP BY " + ", ".join(group_by)
    if order_by:
        sql += f" ORDER BY {order_by}"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return sql


def _union_over(
    base: QuerySet, arms: list[str], *, also: dict[str, QuerySet | str] | None = None
) -> list[tuple]:
    """Run `arms`, each a grouping of the rows of `base` (named `c`), as one query.

    The rows of `base` are read once (PostgreSQL materializes a CTE used more than
    once) and each arm groups that small result. `also` names more common rows,
    each a query or SQL over the ones before it. The SQL around the ORM's queries
    holds only this module's constants; every value is a query parameter.
    """
    base_sql, params = base.query.sql_with_params()
    ctes = [f"c AS ({base_sql})"]
    params = list(params)
    for name, rows in (also or {}).items():
        if isinstance(rows, str):
            ctes.append(f"{name} AS ({rows})")
        else:
            rows_sql, rows_params = rows.query.sql_with_params()
            ctes.append(f"{name} AS ({rows_sql})")
            params.extend(rows_params)
    # SQLite allows ORDER BY and LIMIT in a compound SELECT only in subqueries.
    arms = [f"SELECT * FROM ({arm}) AS arm_{n}" for n, arm in enumerate(arms)]  # noqa: S608
    sql = "WITH " + ", ".join(ctes) + " " + " UNION ALL ".join(arms)
    return _fetch(sql, tuple(params))


def lead_rollup(*, scope: Scope, filters: DashboardFilters) -> LeadRollup:
    """Count the range's leads for the funnel totals, the lost reasons and the
    four attribution tables, in one query.

    The leads are read once and grouped by all those columns together (some
    hundreds of groups: a campaign, its landing pages and numbers go together);
    each table then sums those groups. That is one pass over the table where a
    query per table would be six.
    """
    grouped = (
        _cohort(scope=scope, filters=filters)
        .values(**{alias: F(column) for alias, column in ROLLUP_COLUMNS.items()})
        .annotate(n=Count("id"))
    )
    admitted = f"SUM(CASE WHEN k_stage = '{Stage.ADMITTED}' THEN n ELSE 0 END)"
    arms = [
        _arm(
            f"'{key}' AS dim, CAST({column} AS TEXT) AS k, SUM(n) AS leads, "
            f"{admitted} AS admissions",
            group_by=(column,),
            order_by="leads DESC, admissions DESC, k",
            limit=ATTRIBUTION_TOP_ROWS + 1,
        )
        for key, column in ATTRIBUTION_COLUMNS.items()
    ]
    arms += [
        _arm("'stages', k_stage, SUM(n), 0", group_by=("k_stage",)),
        _arm(
            "'furthest', k_stage || '|' || k_before, SUM(n), 0",
            group_by=("k_stage", "k_before"),
        ),
        _arm(
            "'lost', k_lost, SUM(n), 0",
            where=(f"k_stage = '{Stage.LOST}'",),
            group_by=("k_lost",),
        ),
    ]
    by_dimension: dict[str, list[tuple[str | None, int, int]]] = {}
    for dimension, key, leads, admissions in _union_over(grouped, arms):
        by_dimension.setdefault(dimension, []).append(
            (key, int(leads), int(admissions))
        )
    by_furthest: dict[int, int] = {}
    for stages, leads, _ in by_dimension.get("furthest", []):
        now, before = stages.split("|")
        rank = max(RANK.get(now, -1), RANK.get(before, -1))
        by_furthest[rank] = by_furthest.get(rank, 0) + leads
    return LeadRollup(
        by_stage={key: leads for key, leads, _ in by_dimension.get("stages", [])},
        by_furthest=by_furthest,
        lost_by_reason={key: leads for key, leads, _ in by_dimension.get("lost", [])},
        attribution={key: by_dimension.get(key, []) for key in ATTRIBUTION_COLUMNS},
    )


# --- Funnel --------------------------------------------------------------------------


@dataclass(frozen=True)
class FunnelStep:
    stage: str
    label: str
    leads: int
    from_previous: float | None
    of_inquiries: float | None

    @property
    def from_previous_label(self) -> str:
        return percent_label(self.from_previous)

    @property
    def of_inquiries_label(self) -> str:
        return percent_label(self.of_inquiries)


@dataclass(frozen=True)
class Funnel:
    inquiries: int
    steps: list[FunnelStep]
    admitted: int
    lost: int
    referred_out: int
    open: int
    lost_by_reason: list[tuple[str, str, int]]

    @property
    def inquiry_to_admission(self) -> float | None:
        return _rate(self.admitted, self.inquiries)

    @property
    def inquiry_to_admission_label(self) -> str:
        return percent_label(self.inquiry_to_admission)

    @property
    def chart_summary(self) -> str:
        steps = ", ".join(f"{step.label} {step.leads}" for step in self.steps)
        return f"Leads that got at least this far: {steps}"


def _rank_of(field: str) -> Case:
    """The rank in `PIPELINE` of the stage in `field`; -1 for none or an exit."""
    return Case(
        *[When(**{field: stage}, then=Value(rank)) for stage, rank in RANK.items()],
        default=Value(-1),
        output_field=IntegerField(),
    )


def _of_range_leads(
    rows: QuerySet, *, scope: Scope, filters: DashboardFilters
) -> QuerySet:
    """Keep the rows (stage moves) whose lead is one of the range's."""
    rows = _of_matching_leads(rows, filters=filters).filter(
        lead__created_at__gte=filters.starts_at,
        lead__created_at__lt=filters.ends_before,
    )
    if scope.team_ids is not None:
        rows = rows.filter(lead__team_id__in=scope.team_ids)
    return rows


def _went_further_back(*, scope: Scope, filters: DashboardFilters) -> dict[int, int]:
    """For each rank, how many of the range's leads reached it although their stage
    now and the stage they were closed from are lower: they moved back down."""
    moves = _of_range_leads(
        # A lead's history starts when it is created: only moves since the range
        # began can be its leads'.
        StageChange.objects.order_by().filter(
            BACKWARD_MOVES_Q, at__gte=filters.starts_at
        ),
        scope=scope,
        filters=filters,
    )
    own = Greatest(_rank_of("lead__stage"), _rank_of("lead__stage_before_close"))
    further = (
        moves.values("lead_id")
        .annotate(own=Max(own), back=Max(_rank_of("from_stage")))
        .aggregate(
            **{
                str(rank): Count("lead_id", filter=Q(own__lt=rank, back__gte=rank))
                for rank in range(1, len(PIPELINE))
            }
        )
    )
    return {int(rank): count for rank, count in further.items()}


def funnel(
    *, scope: Scope, filters: DashboardFilters, rollup: LeadRollup | None = None
) -> Funnel:
    """How far the leads of the range got, stage by stage.

    A step counts the leads that got at least that far, whatever their stage now:
    a lead may skip attempting contact (answered at once) or insurance
    verification (self-pay) and still has passed those steps, and a lost lead keeps
    the ground it covered. A lead's furthest stage is its stage now or the one it
    was closed from, unless it moved back down since (benefits verified again, an
    admission postponed): only those few moves are read from the stage history.
    """
    rollup = rollup or lead_rollup(scope=scope, filters=filters)
    went_back = _went_further_back(scope=scope, filters=filters)
    inquiries = rollup.inquiries
    steps = []
    previous = None
    for rank, stage in enumerate(PIPELINE):
        if rank == 0:
            # Every lead of the range was an inquiry.
            count = inquiries
        else:
            count = went_back.get(rank, 0) + sum(
                leads
                for furthest, leads in rollup.by_furthest.items()
                if furthest >= rank
            )
        steps.append(
            FunnelStep(
                stage=stage,
                label=Stage(stage).label,
                leads=count,
                from_previous=None if previous is None else _rate(count, previous),
                of_inquiries=_rate(count, inquiries),
            )
        )
        previous = count
    lost_by_reason = sorted(
        (
            (reason, label, rollup.lost_by_reason[reason])
            for reason, label in LostReason.choices
            if rollup.lost_by_reason.get(reason)
        ),
        key=lambda row: -row[2],
    )
    admitted = rollup.by_stage.get(Stage.ADMITTED, 0)
    lost = rollup.by_stage.get(Stage.LOST, 0)
    referred_out = rollup.by_stage.get(Stage.REFERRED_OUT, 0)
    return Funnel(
        inquiries=inquiries,
        steps=steps,
        admitted=admitted,
        lost=lost,
        referred_out=referred_out,
        open=inquiries - admitted - lost - referred_out,
        lost_by_reason=lost_by_reason,
    )


# --- Speed to lead -------------------------------------------------------------------


class SecondsBetween(Func):
    """Seconds from the second timestamp to the first, as a float."""

    arity = 2
    output_field = FloatField()

    def as_sql(self, compiler, connection, **extra_context):
        return super().as_sql(
            compiler,
            connection,
            template="EXTRACT(EPOCH FROM (%(expressions)s))::double precision",
            arg_joiner=" - ",
            **extra_context,
        )

    def as_sqlite(self, compiler, connection, **extra_context):
        return super().as_sql(
            compiler,
            connection,
            template="((JULIANDAY(%(expressions)s)) * 86400.0)",
            arg_joiner=") - JULIANDAY(",
            **extra_context,
        )


RESPONSE_SECONDS = SecondsBetween(F("first_response_at"), F("created_at"))
ANSWERED_IN_TIME = Q(first_response_at__lte=F("created_at") + FIRST_RESPONSE_TARGET)


def _percentile_of_histogram(histogram: list[tuple[float, int]], q: float) -> float:
    """`percentile_cont` over values given as (value, how many times), sorted."""
    total = sum(n for _, n in histogram)
    position = q * (total - 1)
    below = int(position)
    fraction = position - below
    seen = 0
    lower = upper = None
    for value, n in histogram:
        if lower is None and below < seen + n:
            lower = value
        if below + 1 < seen + n:
            upper = value
            break
        seen += n
    if upper is None:
        upper = lower
    return lower + (upper - lower) * fraction


class _SpeedLabels:
    """How fast, as a page says it: speed to lead and VOB turnaround alike.

    The figures carry `within_target`, `median_seconds` and `p90_seconds`, and
    name what the share is of in `answered`.
    """

    answered: int
    within_target: int
    median_seconds: float | None
    p90_seconds: float | None

    @property
    def within_target_share(self) -> float | None:
        return _rate(self.within_target, self.answered)

    @property
    def within_target_label(self) -> str:
        return percent_label(self.within_target_share)

    @property
    def median_label(self) -> str:
        return duration_label(self.median_seconds)

    @property
    def p90_label(self) -> str:
        return duration_label(self.p90_seconds)


@dataclass(frozen=True)
class ResponseFigures(_SpeedLabels):
    leads: int
    responded: int
    within_target: int
    median_seconds: float | None
    p90_seconds: float | None

    @property
    def answered(self) -> int:
        return self.responded

    @property
    def waiting(self) -> int:
        return self.leads - self.responded


NO_RESPONSES = ResponseFigures(0, 0, 0, None, None)


@dataclass(frozen=True)
class CounselorSpeed:
    counselor_id: int
    name: str
    figures: ResponseFigures


@dataclass(frozen=True)
class HourSpeed:
    hour: int
    figures: ResponseFigures

    @property
    def label(self) -> str:
        return f"{self.hour:02d}:00"


@dataclass(frozen=True)
class SpeedToLead:
    overall: ResponseFigures
    by_counselor: list[CounselorSpeed]
    by_hour: list[HourSpeed]
    target_minutes: int = int(FIRST_RESPONSE_TARGET.total_seconds() // 60)

    @property
    def chart_summary(self) -> str:
        hours = "; ".join(
            f"{row.label} {row.figures.median_label}"
            for row in self.by_hour
            if row.figures.responded
        )
        return "Median time to first response by hour the lead came in: " + (
            hours or "no lead answered"
        )


# The ways the range's leads are cut in their one row-by-row pass: name, grouping
# column, condition, and whether response-time percentiles are wanted. Owners
# are the leaderboard's "leads handled", counted in the same pass.
LEAD_FIGURE_ARMS: tuple[tuple[str, str | None, tuple[str, ...], bool], ...] = (
    ("all", None, (), True),
    ("hour", "k_hour", (), True),
    ("counselor", "k_resp", ("k_resp IS NOT NULL",), True),
    ("owner", "k_owner", ("k_owner IS NOT NULL",), False),
)
# Counts of one group of an arm (three numbers) and its median and 90th percentile.
ArmFigures = tuple[int, int, int, list[float] | None]


@dataclass(frozen=True)
class LeadFigures:
    """What the one pass over the range's leads found, keyed (arm name, key)."""

    response: dict[tuple[str, int | None], ResponseFigures]
    # The VOBs of those leads (see `VOB_FIGURE_ARMS`).
    vob: dict[tuple[str, int | None], ArmFigures]


def lead_figures(*, scope: Scope, filters: DashboardFilters) -> LeadFigures:
    """Response figures of the range's leads: overall, by hour of arrival (center
    time), by first responder and by owner; and the turnaround and outcome of
    their VOBs (`vob_report`).

    One query reads the leads once, and their VOBs beside them; PostgreSQL
    computes each group's median and 90th percentile (`percentile_cont`). SQLite,
    the local default, has no percentile function: a second query returns how
    many leads were answered (VOBs returned) in each whole second per group, and
    the percentiles are read off those counts.
    """
    rows = _cohort(scope=scope, filters=filters).values(
        k_hour=Cast(
            ExtractHour("created_at", tzinfo=center_zone()), output_field=IntegerField()
        ),
        k_resp=F("first_response_by_id"),
        k_owner=F("owner_id"),
        secs=RESPONSE_SECONDS,
        in_time=Case(
            When(ANSWERED_IN_TIME, then=Value(1)),
            default=Value(0),
            output_field=IntegerField(),
        ),
        k_id=F("id"),
        k_stage=F("stage"),
    )
    also = {"v": _vobs_from(filters), "cv": VOBS_OF_THE_LEADS_SQL}
    on_postgres = connection.vendor == "postgresql"
    percentiles, none = (
        (
            "PERCENTILE_CONT(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY {secs})",
            "CAST(NULL AS DOUBLE PRECISION[])",
        )
        if on_postgres
        else ("NULL", "NULL")
    )
    arms = [
        _arm(
            f"'{name}' AS dim, CAST({column or 'NULL'} AS INTEGER) AS k, "
            "COUNT(*) AS leads, COUNT(secs) AS responded, SUM(in_time) AS in_time, "
            f"{percentiles.format(secs='secs') if wanted else none} AS pct",
            where=where,
            group_by=(column,) if column else (),
        )
        for name, column, where, wanted in LEAD_FIGURE_ARMS
    ] + [
        _arm(
            f"'{name}', CAST({column or 'NULL'} AS INTEGER), {counts}, "
            f"{percentiles.format(secs='v_secs') if wanted else none}",
            where=where,
            group_by=(column,) if column else (),
            source="cv",
        )
        for name, column, where, counts, wanted in VOB_FIGURE_ARMS
    ]
    found: dict[tuple[str, int | None], ArmFigures] = {
        (name, None if key is None else int(key)): (
            int(leads or 0),
            int(responded or 0),
            int(in_time or 0),
            pct,
        )
        for name, key, leads, responded, in_time, pct in _union_over(
            rows, arms, also=also
        )
    }
    if not on_postgres:
        arms = [
            _arm(
                f"'{name}' AS dim, CAST({column or 'NULL'} AS INTEGER) AS k, "
                f"ROUND({secs}) AS s, COUNT(*) AS n",
                where=(f"{secs} IS NOT NULL", *where),
                group_by=(*((column,) if column else ()), f"ROUND({secs})"),
                source=source,
            )
            for name, column, where, wanted, secs, source in (
                *(arm + ("secs", "c") for arm in LEAD_FIGURE_ARMS),
                *(
                    (name, column, where, wanted, "v_secs", "cv")
                    for name, column, where, _, wanted in VOB_FIGURE_ARMS
                ),
            )
            if wanted
        ]
        histograms: dict[tuple[str, int | None], list[tuple[float, int]]] = {}
        for name, key, seconds, n in sorted(
            _union_over(rows, arms, also=also),
            key=lambda row: (row[0], row[1] or 0, row[2]),
        ):
            group = (name, None if key is None else int(key))
            histograms.setdefault(group, []).append((float(seconds), n))
        for group, histogram in histograms.items():
            leads, responded, in_time, _ = found[group]
            found[group] = (
                leads,
                responded,
                in_time,
                [
                    _percentile_of_histogram(histogram, 0.5),
                    _percentile_of_histogram(histogram, 0.9),
                ],
            )
    response_arms = {name for name, *_ in LEAD_FIGURE_ARMS}
    return LeadFigures(
        response={
            group: ResponseFigures(
                leads=leads,
                responded=responded,
                within_target=in_time,
                median_seconds=pct[0] if pct else None,
                p90_seconds=pct[1] if pct else None,
            )
            for group, (leads, responded, in_time, pct) in found.items()
            if group[0] in response_arms
        },
        vob={
            group: figures
            for group, figures in found.items()
            if group[0] not in response_arms
        },
    )


def speed_to_lead_report(
    *, scope: Scope, filters: DashboardFilters, figures: LeadFigures | None = None
) -> SpeedToLead:
    """Time from a lead's creation to the first call or text by a person: overall,
    by the counselor who answered first, and by the hour the lead came in."""
    figures = (figures or lead_figures(scope=scope, filters=filters)).response
    responders = [key for name, key in figures if name == "counselor"]
    names = {
        row["id"]: person_name(row["first_name"], row["last_name"], row["username"])
        for row in User.objects.filter(pk__in=responders).values(
            "id", "first_name", "last_name", "username"
        )
    }
    by_counselor = sorted(
        (
            CounselorSpeed(
                counselor_id=key, name=names[key], figures=figures[("counselor", key)]
            )
            for key in responders
        ),
        key=lambda row: (
            row.figures.median_seconds is None,
            row.figures.median_seconds,
        ),
    )
    by_hour = [
        HourSpeed(hour=hour, figures=figures.get(("hour", hour), NO_RESPONSES))
        for hour in range(24)
    ]
    return SpeedToLead(
        overall=figures.get(("all", None), NO_RESPONSES),
        by_counselor=by_counselor,
        by_hour=by_hour,
    )


# --- Insurance verification (VOB) ----------------------------------------------------

VERIFIED = InsuranceVerification.Status.VERIFIED
# Turnaround bands of the chart, by their upper bound in minutes (included); the
# first two together are the VOBs returned within the target.
VOB_TURNAROUND_BANDS: tuple[tuple[int | None, str], ...] = (
    (15, "15 min or less"),
    (30, "15–30 min"),
    (60, "30–60 min"),
    (120, "1–2 h"),
    (240, "2–4 h"),
    (480, "4–8 h"),
    (1440, "8–24 h"),
    (None, "Over a day"),
)
VOB_BAND_SQL = (
    "CASE "
    + " ".join(
        f"WHEN v_secs <= {minutes * 60} THEN {index}"
        for index, (minutes, _) in enumerate(VOB_TURNAROUND_BANDS)
        if minutes is not None
    )
    + f" ELSE {len(VOB_TURNAROUND_BANDS) - 1} END"
)


@dataclass(frozen=True)
class TurnaroundFigures(_SpeedLabels):
    """VOBs requested, how many came back, and how fast (request to result)."""

    requested: int
    completed: int
    within_target: int
    median_seconds: float | None
    p90_seconds: float | None

    @property
    def answered(self) -> int:
        return self.completed

    @property
    def waiting(self) -> int:
        return self.requested - self.completed


NO_VOBS = TurnaroundFigures(0, 0, 0, None, None)


@dataclass(frozen=True)
class OutcomeTurnaround:
    status: str
    label: str
    figures: TurnaroundFigures


@dataclass(frozen=True)
class TurnaroundBand:
    label: str
    vobs: int
    within_target: bool


@dataclass(frozen=True)
class VobConversion:
    """From the range's leads to a VOB, and from verified benefits to admission."""

    # Leads created in the range (the funnel's inquiries).
    leads: int
    # Of those, the leads with a VOB requested.
    leads_with_vob: int
    # Of those, the leads whose benefits a VOB verified, and what became of them.
    verified: int
    admitted: int
    scheduled: int

    @property
    def lead_to_vob(self) -> float | None:
        return _rate(self.leads_with_vob, self.leads)

    @property
    def vob_to_admit(self) -> float | None:
        return _rate(self.admitted, self.verified)

    @property
    def scheduled_share(self) -> float | None:
        return _rate(self.scheduled, self.verified)

    @property
    def lead_to_vob_label(self) -> str:
        return percent_label(self.lead_to_vob)

    @property
    def vob_to_admit_label(self) -> str:
        return percent_label(self.vob_to_admit)

    @property
    def scheduled_share_label(self) -> str:
        return percent_label(self.scheduled_share)


@dataclass(frozen=True)
class VobReport:
    overall: TurnaroundFigures
    by_outcome: list[OutcomeTurnaround]
    bands: list[TurnaroundBand]
    conversion: VobConversion
    target_minutes: int = int(VOB_TARGET.total_seconds() // 60)

    @property
    def chart_summary(self) -> str:
        bands = "; ".join(f"{band.label}: {band.vobs}" for band in self.bands)
        return "Completed VOBs by turnaround: " + (
            bands if self.overall.completed else "no VOB completed"
        )


def _requested_in_range(filters: DashboardFilters) -> Q:
    """VOBs requested in the range, written so that the two partial indexes answer.

    A VOB is waiting or has its result time (a database rule), and a result comes
    after the request: those done are found on `vob_completed` from the range's
    start, those waiting on `vob_waiting`. No index on the request time is needed.
    """
    requested = Q(
        requested_at__gte=filters.starts_at, requested_at__lt=filters.ends_before
    )
    return (Q(completed_at__gte=filters.starts_at) & requested) | Q(
        requested, status__in=InsuranceVerification.WAITING_STATUSES
    )


# VOB statuses as small numbers, so that they group beside the leads' integer keys.
VOB_STATUS_CODE: dict[str, int] = {
    status: code for code, status in enumerate(InsuranceVerification.Status.values)
}
VERIFIED_CODE = VOB_STATUS_CODE[VERIFIED]
# What became of a VOB's lead: admitted (an admission marked admitted, or the
# lead's stage: admitted is final), else an admission scheduled, else neither.
ADMITTED, SCHEDULED = 2, 1


def _vobs_from(filters: DashboardFilters) -> QuerySet[InsuranceVerification]:
    """The VOBs that may be of the range's leads: those requested since the range
    began (a lead's VOBs come after it), each with what it found and how fast.

    Read off the two partial indexes: those done from the range's start on
    `vob_completed` (a result comes after its request), those waiting on
    `vob_waiting`. Whether the lead was admitted or has an admission scheduled is
    looked up in two small sets the database hashes once: the admissions admitted
    since the range began, the ones scheduled now.
    """
    one, zero = Value(1), Value(0)
    admitted = Admission.objects.filter(
        status=Admission.Status.ADMITTED, admitted_at__gte=filters.starts_at
    ).values("lead_id")
    scheduled = Admission.objects.filter(status=Admission.Status.SCHEDULED).values(
        "lead_id"
    )
    return (
        InsuranceVerification.objects.order_by()
        .filter(
            Q(completed_at__gte=filters.starts_at)
            | Q(
                requested_at__gte=filters.starts_at,
                status__in=InsuranceVerification.WAITING_STATUSES,
            )
        )
        .values(
            v_lead=F("lead_id"),
            v_status=Case(
                *[
                    When(status=status, then=Value(code))
                    for status, code in VOB_STATUS_CODE.items()
                ],
                output_field=IntegerField(),
            ),
            v_secs=SecondsBetween(F("completed_at"), F("requested_at")),
            v_in_time=Case(
                When(completed_at__lte=F("requested_at") + VOB_TARGET, then=one),
                default=zero,
            ),
            v_admission=Case(
                When(lead_id__in=admitted, then=Value(ADMITTED)),
                When(lead_id__in=scheduled, then=Value(SCHEDULED)),
                default=zero,
            ),
        )
    )


VOB_BECAME_SQL = (
    f"CASE WHEN c.k_stage = '{Stage.ADMITTED}' OR v.v_admission = {ADMITTED} "
    f"THEN {ADMITTED} "
    f"WHEN c.k_stage = '{Stage.ADMISSION_SCHEDULED}' OR v.v_admission = {SCHEDULED} "
    f"THEN {SCHEDULED} ELSE 0 END"
)
# The range's leads' VOBs (`c` the leads, `v` the VOBs): the rows that
# `VOB_FIGURE_ARMS` group.
VOBS_OF_THE_LEADS_SQL = (
    f"SELECT v.v_lead, v.v_status, v.v_secs, v.v_in_time, {VOB_BECAME_SQL} "  # noqa: S608
    "AS v_became FROM c JOIN v ON v.v_lead = c.k_id"
)
_VERIFIED_LEAD = f"CASE WHEN v_status = {VERIFIED_CODE}"
# name, grouping column, condition, three counts, percentiles wanted.
VOB_FIGURE_ARMS: tuple[tuple[str, str | None, tuple[str, ...], str, bool], ...] = (
    ("vob", None, (), "COUNT(*), COUNT(v_secs), SUM(v_in_time)", True),
    ("vob_outcome", "v_status", (), "COUNT(*), COUNT(v_secs), SUM(v_in_time)", True),
    ("vob_band", VOB_BAND_SQL, ("v_secs IS NOT NULL",), "COUNT(*), 0, 0", False),
    (
        "vob_leads",
        None,
        (),
        "COUNT(DISTINCT v_lead), "
        f"COUNT(DISTINCT {_VERIFIED_LEAD} THEN v_lead END), "
        f"COUNT(DISTINCT {_VERIFIED_LEAD} AND v_became = {ADMITTED} THEN v_lead END)",
        False,
    ),
    (
        "vob_scheduled",
        None,
        (f"v_status = {VERIFIED_CODE}", f"v_became = {SCHEDULED}"),
        "COUNT(DISTINCT v_lead), 0, 0",
        False,
    ),
)


def vob_report(
    *, scope: Scope, filters: DashboardFilters, figures: LeadFigures | None = None
) -> VobReport:
    """The VOBs of the range's leads: how many were requested and how fast they
    came back (overall, by outcome, by band), and conversion: how many of the
    leads had a VOB, and of those whose benefits were verified, how many were
    admitted. Counted in the leads' own pass (`lead_figures`).
    """
    figures = figures or lead_figures(scope=scope, filters=filters)
    found = figures.vob

    def turnaround(group: tuple[str, int | None]) -> TurnaroundFigures:
        if group not in found:
            return NO_VOBS
        vobs, done, in_time, pct = found[group]
        return TurnaroundFigures(
            requested=vobs,
            completed=done,
            within_target=in_time,
            median_seconds=pct[0] if pct else None,
            p90_seconds=pct[1] if pct else None,
        )

    leads_with_vob, verified, admitted, _ = found.get(
        ("vob_leads", None), (0, 0, 0, None)
    )
    scheduled = found.get(("vob_scheduled", None), (0,))[0]
    return VobReport(
        overall=turnaround(("vob", None)),
        by_outcome=[
            OutcomeTurnaround(
                status=status,
                label=InsuranceVerification.Status(status).label,
                figures=turnaround(("vob_outcome", VOB_STATUS_CODE[status])),
            )
            for status in InsuranceVerification.DONE_STATUSES
        ],
        bands=[
            TurnaroundBand(
                label=label,
                vobs=found.get(("vob_band", index), (0,))[0],
                within_target=minutes is not None
                and minutes <= VOB_TARGET.total_seconds() // 60,
            )
            for index, (minutes, label) in enumerate(VOB_TURNAROUND_BANDS)
        ],
        conversion=VobConversion(
            leads=figures.response.get(("all", None), NO_RESPONSES).leads,
            leads_with_vob=leads_with_vob,
            verified=verified,
            admitted=admitted,
            scheduled=scheduled,
        ),
    )


# --- Counselor leaderboard -----------------------------------------------------------


@dataclass(frozen=True)
class LeaderboardRow:
    counselor_id: int
    name: str
    leads_handled: int = 0
    calls: int = 0
    talk_seconds: int = 0
    contacts: int = 0
    vobs: int = 0
    admissions: int = 0

    @property
    def talk_label(self) -> str:
        return duration_label(self.talk_seconds) if self.talk_seconds else "–"


def leaderboard(
    *, scope: Scope, filters: DashboardFilters, figures: LeadFigures | None = None
) -> list[LeaderboardRow]:
    """What each counselor of the teams did in the range.

    Leads handled are the range's leads they own; calls and talk time are their
    calls placed or answered in the range; contacts are the moves they made in the
    range into contacted. VOBs are the verifications they requested in the range
    (a second one for the same lead is work done again, and counts); admissions
    the admissions they marked admitted in the range. For a counselor with no VOB
    (no admission) on record in the range, the moves they made into insurance
    verification (admitted) count instead: the range's work from before VOBs and
    admissions were recorded. Requesting a VOB and admitting are those very moves,
    so the two are never added up. Calls, moves and records are the counselor's
    own work whichever team the lead is in (the counselors are the teams'
    already); the source, campaign and level of care filters narrow them by their
    lead.
    """
    counselors = User.objects.filter(is_active=True, role=User.Role.COUNSELOR)
    if scope.team_ids is not None:
        counselors = counselors.filter(teams__id__in=scope.team_ids)
    names = {
        row["id"]: person_name(row["first_name"], row["last_name"], row["username"])
        for row in counselors.order_by()
        .values("id", "first_name", "last_name", "username")
        .distinct()
    }
    if not names:
        return []
    ids = list(names)
    figures = figures or lead_figures(scope=scope, filters=filters)
    calls = _of_matching_leads(
        Call.objects.order_by().filter(
            counselor_id__in=ids,
            started_at__gte=filters.starts_at,
            started_at__lt=filters.ends_before,
        ),
        filters=filters,
    )
    call_figures = {
        row["counselor_id"]: row
        # COUNT(*), not of a column: the `call_started_talk` index alone answers.
        for row in calls.values("counselor_id").annotate(
            n=Count("*"), talk=Sum("talk_seconds")
        )
    }
    moves = (
        _of_matching_leads(
            StageChange.objects.order_by().filter(
                by_id__in=ids,
                to_stage__in=(
                    Stage.CONTACTED,
                    Stage.INSURANCE_VERIFICATION,
                    Stage.ADMITTED,
                ),
                at__gte=filters.starts_at,
                at__lt=filters.ends_before,
            ),
            filters=filters,
        )
        .values("by_id")
        .annotate(
            contacts=Count("lead_id", filter=Q(to_stage=Stage.CONTACTED)),
            vobs=Count("lead_id", filter=Q(to_stage=Stage.INSURANCE_VERIFICATION)),
            admissions=Count("lead_id", filter=Q(to_stage=Stage.ADMITTED)),
        )
    )
    move_figures = {row["by_id"]: row for row in moves}
    requests = (
        _of_matching_leads(
            InsuranceVerification.objects.order_by().filter(
                _requested_in_range(filters), requested_by_id__in=ids
            ),
            filters=filters,
        )
        .values(by=F("requested_by_id"))
        .annotate(vobs=Count("*"), admissions=Value(0))
    )
    admitted = (
        _of_matching_leads(
            Admission.objects.order_by().filter(
                status=Admission.Status.ADMITTED,
                admitted_at__gte=filters.starts_at,
                admitted_at__lt=filters.ends_before,
                status_changed_by_id__in=ids,
            ),
            filters=filters,
        )
        .values(by=F("status_changed_by_id"))
        .annotate(vobs=Value(0), admissions=Count("*"))
    )
    recorded: dict[int, dict[str, int]] = {}
    for row in requests.union(admitted, all=True):
        counts = recorded.setdefault(row["by"], {"vobs": 0, "admissions": 0})
        counts["vobs"] += row["vobs"]
        counts["admissions"] += row["admissions"]
    rows = []
    for counselor_id, name in names.items():
        call_row = call_figures.get(counselor_id, {})
        move_row = move_figures.get(counselor_id, {})
        records = recorded.get(counselor_id, {})
        rows.append(
            LeaderboardRow(
                counselor_id=counselor_id,
                name=name,
                leads_handled=figures.response.get(
                    ("owner", counselor_id), NO_RESPONSES
                ).leads,
                calls=call_row.get("n", 0),
                talk_seconds=call_row.get("talk") or 0,
                contacts=move_row.get("contacts", 0),
                vobs=records.get("vobs") or move_row.get("vobs", 0),
                admissions=records.get("admissions") or move_row.get("admissions", 0),
            )
        )
    rows.sort(
        key=lambda r: (-r.admissions, -r.vobs, -r.contacts, -r.leads_handled, r.name)
    )
    return rows


# --- Source attribution --------------------------------------------------------------


@dataclass(frozen=True)
class AttributionRow:
    label: str
    leads: int
    admissions: int
    is_rest: bool = False

    @property
    def conversion(self) -> float | None:
        return _rate(self.admissions, self.leads)

    @property
    def conversion_label(self) -> str:
        return percent_label(self.conversion)


@dataclass(frozen=True)
class AttributionTable:
    key: str
    title: str
    dimension: str
    rows: list[AttributionRow] = field(default_factory=list)

    @property
    def chart_summary(self) -> str:
        rows = "; ".join(
            f"{row.label}: {row.leads} leads, {row.admissions} admitted"
            for row in self.rows
        )
        return f"Leads and admissions {self.title.lower()}: {rows or 'no leads'}"


# key: (title, column heading, label of leads without a value)
ATTRIBUTION_DIMENSIONS: dict[str, tuple[str, str, str]] = {
    "sources": ("By source", "Source", "No source"),
    "campaigns": ("By campaign", "Campaign", "No campaign"),
    "landing-pages": ("By landing page", "Landing page", "No landing page"),
    "tracking-numbers": ("By tracking number", "Tracking number", "No tracking number"),
}


def _attribution_labels(key: str, values: list[str | None]) -> dict[str | None, str]:
    """Readable names for grouped values: source names, tracking numbers' names."""
    present = [value for value in values if value]
    if key == "sources":
        named = LeadSource.objects.filter(pk__in=[int(value) for value in present])
        return {str(pk): name for pk, name in named.values_list("id", "name")}
    if key == "tracking-numbers" and present:
        named = dict(
            TrackingNumber.objects.filter(number__in=present).values_list(
                "number", "name"
            )
        )
        names = {str(number): name for number, name in named.items()}
        return {
            value: f"{names[value]} ({value})" if value in names else value
            for value in present
        }
    return {value: value for value in present}


def attribution(
    *,
    scope: Scope,
    filters: DashboardFilters,
    key: str,
    rollup: LeadRollup | None = None,
) -> AttributionTable:
    """Leads, admissions and conversion of the range's leads, by one attribution
    field: the biggest `ATTRIBUTION_TOP_ROWS` values, then the rest in one row."""
    title, dimension, not_set = ATTRIBUTION_DIMENSIONS[key]
    rollup = rollup or lead_rollup(scope=scope, filters=filters)
    top = rollup.attribution[key][:ATTRIBUTION_TOP_ROWS]
    labels = _attribution_labels(key, [value for value, _, _ in top])
    rows = [
        AttributionRow(label=labels.get(value) or not_set, leads=n, admissions=a)
        for value, n, a in top
    ]
    if len(rollup.attribution[key]) > ATTRIBUTION_TOP_ROWS:
        rows.append(
            AttributionRow(
                "All others",
                leads=rollup.inquiries - sum(row.leads for row in rows),
                admissions=rollup.by_stage.get(Stage.ADMITTED, 0)
                - sum(row.admissions for row in rows),
                is_rest=True,
            )
        )
    return AttributionTable(key=key, title=title, dimension=dimension, rows=rows)


# --- The whole page ------------------------------------------------------------------

# The report under the live tiles is read at most once a minute per scope and
# filters: a supervisor reloading the page, or several looking at the same teams,
# do not run it again. The tiles are always read afresh.
REPORT_CACHE_SECONDS = 60


@dataclass(frozen=True)
class Report:
    funnel: Funnel
    speed: SpeedToLead
    vob: VobReport
    leaderboard: list[LeaderboardRow]
    attribution: list[AttributionTable]
    computed_at: datetime


def dashboard_report(*, scope: Scope, filters: DashboardFilters) -> Report:
    """The funnel, speed to lead, VOBs, leaderboard and attribution of the range."""
    key = (
        "dashboard:report:"
        + sha256(
            f"{scope.team_ids}|{filters.describe()}|{settings.TIME_ZONE}".encode()
        ).hexdigest()
    )
    report = cache.get(key)
    # The age is checked here too, not left to the cache's expiry alone: the
    # figures must be no older than promised whatever the backend's clock says.
    now = timezone.now()
    if report is not None and (
        (now - report.computed_at).total_seconds() > REPORT_CACHE_SECONDS
        or report.computed_at > now
    ):
        report = None
    if report is None:
        report = _report_compute(scope=scope, filters=filters, now=now)
        cache.set(key, report, REPORT_CACHE_SECONDS)
    return report


def _report_compute(
    *, scope: Scope, filters: DashboardFilters, now: datetime
) -> Report:
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # The percentiles and group-bys sort a month of leads; with the default
            # 4 MB those sorts spill to disk. The VOBs' look-ups of their leads make
            # the planner think that query costly enough to compile (JIT), which
            # takes longer than running it. Only for this read-only transaction.
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT set_config('work_mem', '32MB', true), "
                    "set_config('jit', 'off', true)"
                )
        rollup = lead_rollup(scope=scope, filters=filters)
        figures = lead_figures(scope=scope, filters=filters)
        report = Report(
            funnel=funnel(scope=scope, filters=filters, rollup=rollup),
            speed=speed_to_lead_report(scope=scope, filters=filters, figures=figures),
            vob=vob_report(scope=scope, filters=filters, figures=figures),
            leaderboard=leaderboard(scope=scope, filters=filters, figures=figures),
            attribution=[
                attribution(scope=scope, filters=filters, key=key, rollup=rollup)
                for key in ATTRIBUTION_DIMENSIONS
            ],
            computed_at=now,
        )
    return report


@dataclass(frozen=True)
class Dashboard:
    filters: DashboardFilters
    tiles: LiveTiles
    report: Report

    @property
    def funnel(self) -> Funnel:
        return self.report.funnel

    @property
    def speed(self) -> SpeedToLead:
        return self.report.speed

    @property
    def vob(self) -> VobReport:
        return self.report.vob

    @property
    def leaderboard(self) -> list[LeaderboardRow]:
        return self.report.leaderboard

    @property
    def attribution(self) -> list[AttributionTable]:
        return self.report.attribution

    def charts(self) -> dict:
        """The numbers the page's charts draw; the tables beside them say the same."""
        report = self.report
        sources = next(t for t in report.attribution if t.key == "sources")
        return {
            "funnel": {
                "labels": [step.label for step in report.funnel.steps],
                "leads": [step.leads for step in report.funnel.steps],
            },
            "hours": {
                "labels": [row.label for row in report.speed.by_hour],
                "median_minutes": [
                    None
                    if row.figures.median_seconds is None
                    else round(row.figures.median_seconds / 60, 1)
                    for row in report.speed.by_hour
                ],
                "leads": [row.figures.leads for row in report.speed.by_hour],
            },
            "vob_bands": {
                "labels": [band.label for band in report.vob.bands],
                "vobs": [band.vobs for band in report.vob.bands],
                "within_target": [band.within_target for band in report.vob.bands],
            },
            "sources": {
                "labels": [row.label for row in sources.rows],
                "leads": [row.leads for row in sources.rows],
                "admissions": [row.admissions for row in sources.rows],
            },
        }


def dashboard_for(*, user: User, filters: DashboardFilters) -> Dashboard:
    """Everything the supervisor dashboard shows, for `user`'s teams."""
    scope = dashboard_scope(user=user, filters=filters)
    return Dashboard(
        filters=filters,
        tiles=live_tiles(scope=scope),
        report=dashboard_report(scope=scope, filters=filters),
    )
