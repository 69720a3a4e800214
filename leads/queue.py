"""Reads of the counselor's queues: what to do next, and the team's unassigned leads.

Both pages refresh every few seconds, so each is built from a handful of indexed
queries bounded by the counselor's own work (their open leads, their call-backs,
their teams' unowned leads), never by the size of the lead table. Rows are plain
dataclasses read with `values()`: the queue shows a dozen columns of a lead that
carries encrypted intake answers it never needs.
"""

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from functools import cached_property

from django.db.models import (
    CharField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
)
from django.utils import timezone

from crm.models import Team, User
from notifications.models import Message

from .models import (
    CALLBACK_OPEN_STATUSES,
    OPEN_STAGES,
    CallBack,
    Channel,
    Lead,
    LevelOfCare,
    Priority,
    Stage,
    Urgency,
)
from .services.followup import both_local_times

# Caps on what one page shows. A counselor's capacity is tens of open leads; the
# caps only keep a misconfigured account from rendering thousands of rows.
MY_LEADS_LIMIT = 500
CALLBACKS_LIMIT = 200
TEAM_QUEUE_LIMIT = 100
# The team tab says "99+" rather than counting every unowned lead of a big team.
TEAM_COUNT_CAP = 100
# A due call-back this late is shown as overdue (the beat marks it missed later).
OVERDUE_AFTER = timedelta(minutes=5)
# The SLA countdown turns amber this close to the deadline (as queue.js does).
SLA_SOON = timedelta(minutes=2)
# "Later today" lists the next few; the rest wait their turn.
UPCOMING_LIMIT = 10
BY_STAGE_SHOWN = 15
SEARCH_MAX_TERMS = 5

STAGE_LABELS: dict[str, str] = dict(Stage.choices)
LEVEL_OF_CARE_LABELS: dict[str, str] = dict(LevelOfCare.choices)
URGENCY_LABELS: dict[str, str] = dict(Urgency.choices)
PRIORITY_LABELS: dict[int, str] = dict(Priority.choices)
CHANNEL_LABELS: dict[str, str] = dict(Channel.choices)
REASON_LABELS: dict[str, str] = dict(CallBack.Reason.choices)

# Priority filter: "at least this".
PRIORITY_FILTERS: dict[str, str] = {
    str(Priority.HIGH.value): "High or urgent",
    str(Priority.URGENT.value): "Urgent only",
}

# Characters a typed phone number may contain besides digits.
_PHONE_TEXT = re.compile(r"^[\d\s()+.\-]+$")


# --- Filters -------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueFilters:
    """What the toolbar narrows the queue to; unknown values are ignored."""

    q: str = ""
    stage: str = ""
    level_of_care: str = ""
    priority: str = ""
    urgency: str = ""

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> "QueueFilters":
        def choice(name: str, allowed: Iterable[str]) -> str:
            value = (params.get(name) or "").strip()
            return value if value in allowed else ""

        return cls(
            q=" ".join((params.get("q") or "").split())[:100],
            stage=choice("stage", OPEN_STAGES),
            level_of_care=choice("level_of_care", LevelOfCare.values),
            priority=choice("priority", PRIORITY_FILTERS),
            urgency=choice("urgency", Urgency.values),
        )

    @property
    def active(self) -> bool:
        return any(
            (self.q, self.stage, self.level_of_care, self.priority, self.urgency)
        )

    def as_params(self) -> dict[str, str]:
        """The filters set, as query parameters (to keep them in the address)."""
        values = {
            "q": self.q,
            "stage": self.stage,
            "level_of_care": self.level_of_care,
            "priority": self.priority,
            "urgency": self.urgency,
        }
        return {name: value for name, value in values.items() if value}

    def lead_filter(self, prefix: str = "") -> Q:
        """The filters as a condition on a lead (through `prefix`, e.g. "lead__")."""
        condition = Q()
        if self.stage:
            condition &= Q(**{f"{prefix}stage": self.stage})
        if self.level_of_care:
            condition &= Q(**{f"{prefix}level_of_care": self.level_of_care})
        if self.priority:
            condition &= Q(**{f"{prefix}priority__gte": int(self.priority)})
        if self.urgency:
            condition &= Q(**{f"{prefix}urgency": self.urgency})
        for term in self.q.split()[:SEARCH_MAX_TERMS]:
            condition &= _search_term(term, prefix)
        return condition


def _search_term(term: str, prefix: str) -> Q:
    """One word of the search box: a name, an e-mail, a phone fragment or `#id`."""
    if term.startswith("#") and term[1:].isdigit():
        return Q(**{f"{prefix}pk": int(term[1:])})
    digits = re.sub(r"\D", "", term)
    if digits and _PHONE_TEXT.match(term):
        # Numbers are stored in E.164: "(305) 555-0142" and "305.555.0142" both
        # find "+13055550142" once reduced to their digits.
        match = Q(**{f"{prefix}phone__contains": digits}) | Q(
            **{f"{prefix}caller_phone__contains": digits}
        )
        if len(digits) <= 9:
            match |= Q(**{f"{prefix}pk": int(digits)})
        return match
    return (
        Q(**{f"{prefix}first_name__icontains": term})
        | Q(**{f"{prefix}last_name__icontains": term})
        | Q(**{f"{prefix}email__icontains": term})
        | Q(**{f"{prefix}caller_first_name__icontains": term})
        | Q(**{f"{prefix}caller_last_name__icontains": term})
    )


# --- Rows ----------------------------------------------------------------------------


def iso(at: datetime | None) -> str:
    """A UTC ISO 8601 time every browser parses (for countdowns and "5 min ago")."""
    if at is None:
        return ""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _clock(seconds: float) -> str:
    """192 → "3:12"; 3725 → "1:02:05" (what queue.js shows)."""
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def relative(at: datetime | None, now: datetime) -> str:
    """ "12 min ago", "in 2 h 5 min": the text queue.js keeps current."""
    if at is None:
        return ""
    seconds = (now - at).total_seconds()
    minutes = int(abs(seconds) // 60)
    if minutes < 1:
        return "in a moment" if seconds < 0 else "just now"
    if minutes < 60:
        text = f"{minutes} min"
    elif minutes < 48 * 60:
        text = f"{minutes // 60} h {minutes % 60} min"
    else:
        text = f"{minutes // 1440} days"
    return f"in {text}" if seconds < 0 else f"{text} ago"


def format_phone(e164: str) -> str:
    """A US number the way people write it; any other number as stored."""
    if len(e164) == 12 and e164.startswith("+1") and e164[1:].isdigit():
        return f"({e164[2:5]}) {e164[5:8]}-{e164[8:]}"
    return e164


class _TemplateRow:
    """Rows the queue templates read hundreds of times per render.

    Django's template engine tries `row[name]` before `row.name` for every
    variable; answering the first try spares it an exception per lookup, a fifth
    of the queue page's render time.
    """

    __slots__ = ()

    def __getitem__(self, name: str):
        try:
            return getattr(self, name)
        except AttributeError:
            raise KeyError(name) from None


@dataclass(frozen=True)
class QueueLead(_TemplateRow):
    """One lead as a queue row shows it."""

    id: int
    name: str
    phone: str
    state: str
    stage: str
    priority: int
    urgency: str
    level_of_care: str
    source: str
    team_id: int | None
    team: str
    owner_id: int | None
    created_at: datetime
    last_activity_at: datetime
    first_response_at: datetime | None
    sla_due_at: datetime | None
    last_text_at: datetime | None = None
    last_text_inbound: bool = False
    # When the row was read: for "5 min ago" and the countdown's first frame.
    # Left out of repr and equality, which tell whether a poll has news.
    now: datetime | None = field(default=None, repr=False, compare=False)

    @property
    def url(self) -> str:
        # The lead page's address (url name "lead-detail"), built without
        # reverse(): a page of rows asks for it hundreds of times.
        return f"/leads/{self.id}/"

    @property
    def created_iso(self) -> str:
        return iso(self.created_at)

    @property
    def sla_due_iso(self) -> str:
        return iso(self.sla_due_at)

    @property
    def last_activity_iso(self) -> str:
        return iso(self.last_activity_at)

    @property
    def last_text_iso(self) -> str:
        return iso(self.last_text_at)

    @property
    def created_ago(self) -> str:
        return relative(self.created_at, self.now)

    @property
    def last_activity_ago(self) -> str:
        return relative(self.last_activity_at, self.now)

    @property
    def last_text_ago(self) -> str:
        return relative(self.last_text_at, self.now)

    @property
    def sla_state(self) -> str:
        """The countdown's colour: "ok", "soon" (under 2 minutes) or "overdue"."""
        if self.sla_due_at is None:
            return ""
        if self.sla_due_at <= self.now:
            return "overdue"
        return "soon" if self.sla_due_at - self.now < SLA_SOON else "ok"

    @property
    def sla_text(self) -> str:
        if self.sla_due_at is None:
            return ""
        left = (self.sla_due_at - self.now).total_seconds()
        return f"overdue {_clock(-left)}" if left <= 0 else f"{_clock(left)} left"

    @property
    def first_name(self) -> str:
        return self.name.split(" ", 1)[0]

    @property
    def stage_label(self) -> str:
        return STAGE_LABELS.get(self.stage, self.stage)

    @property
    def priority_label(self) -> str:
        return PRIORITY_LABELS.get(self.priority, str(self.priority))

    @property
    def urgency_label(self) -> str:
        return URGENCY_LABELS.get(self.urgency, self.urgency)

    @property
    def level_of_care_label(self) -> str:
        return LEVEL_OF_CARE_LABELS.get(self.level_of_care, self.level_of_care)

    @property
    def is_urgent(self) -> bool:
        return self.urgency in (Urgency.URGENT, Urgency.CRISIS)

    @property
    def urgency_class(self) -> str:
        return "badge-danger" if self.urgency == Urgency.CRISIS else "badge-warn"

    @property
    def priority_class(self) -> str:
        """A badge for high and urgent; normal and low stay quiet."""
        if self.priority >= Priority.HIGH:
            return f"badge priority-{self.priority}"
        return "small muted"

    @property
    def phone_and_state(self) -> str:
        return " · ".join(
            part for part in (self.phone or "No phone", self.state) if part
        )


# The lead's columns every queue row reads (and nothing encrypted).
_LEAD_COLUMNS = (
    "id",
    "first_name",
    "last_name",
    "email",
    "state",
    "stage",
    "priority",
    "urgency",
    "level_of_care",
    "team_id",
    "team__name",
    "owner_id",
    "source__name",
    "first_touch__channel",
    "created_at",
    "last_activity_at",
    "first_response_at",
    "sla_due_at",
)


def _lead_columns(prefix: str = "") -> list[str]:
    return [f"{prefix}{name}" for name in _LEAD_COLUMNS]


def _phone_text(prefix: str = "") -> ExpressionWrapper:
    # The number as stored: making a PhoneNumber of it and back costs more than
    # the rest of the row.
    return ExpressionWrapper(F(f"{prefix}phone"), output_field=CharField())


def _queue_lead(
    row: Mapping, *, phone: str | None, now: datetime, prefix: str = "", **extra
) -> QueueLead:
    def get(name: str):
        return row[f"{prefix}{name}"]

    name = f"{get('first_name')} {get('last_name')}".strip()
    phone = phone or ""
    channel = get("first_touch__channel")
    return QueueLead(
        id=get("id"),
        name=name or format_phone(phone) or get("email") or "Unknown caller",
        phone=format_phone(phone),
        state=get("state"),
        stage=get("stage"),
        priority=get("priority"),
        urgency=get("urgency"),
        level_of_care=get("level_of_care"),
        source=get("source__name") or CHANNEL_LABELS.get(channel or "", "Unknown"),
        team_id=get("team_id"),
        team=get("team__name") or "",
        owner_id=get("owner_id"),
        created_at=get("created_at"),
        last_activity_at=get("last_activity_at"),
        first_response_at=get("first_response_at"),
        sla_due_at=get("sla_due_at"),
        now=now,
        **extra,
    )


@dataclass(frozen=True)
class QueueCallBack(_TemplateRow):
    """One call-back as the "Call now" list shows it."""

    id: int
    lead: QueueLead
    status: str
    reason: str
    attempt: int
    due_at: datetime
    due_text: str  # in the lead's time and ours
    overdue: bool
    note: str
    mine: bool  # False: the team's, nobody's yet

    @property
    def due_iso(self) -> str:
        return iso(self.due_at)

    @property
    def due_ago(self) -> str:
        return relative(self.due_at, self.lead.now)

    @property
    def reason_label(self) -> str:
        return REASON_LABELS.get(self.reason, self.reason)

    @property
    def missed(self) -> bool:
        return self.status == CallBack.Status.MISSED


@dataclass(frozen=True)
class StageGroup(_TemplateRow):
    stage: str
    label: str
    leads: list[QueueLead]
    total: int

    @property
    def hidden(self) -> int:
        return self.total - len(self.leads)


# --- Whose work ----------------------------------------------------------------------


@dataclass(frozen=True)
class Teams:
    """The teams whose leads a user sees (None: all) and the ones they work in."""

    visible: frozenset[int] | None
    member: frozenset[int]

    def sees(self, team_id: int | None) -> bool:
        return self.visible is None or team_id in self.visible

    def lead_filter(self, prefix: str = "") -> Q:
        if self.visible is None:
            return Q()
        return Q(**{f"{prefix}team_id__in": sorted(self.visible)})


def teams_of(user: User) -> Teams:
    """One query: the user's teams, as a member or as a supervisor."""
    membership = Team.members.through.objects.filter(
        team_id=OuterRef("pk"), user_id=user.pk
    )
    rows = list(
        Team.objects.filter(Q(members=user) | Q(supervisors=user))
        .annotate(is_member=Exists(membership))
        .values_list("id", "is_member")
        .order_by()
        .distinct()
    )
    member = frozenset(team_id for team_id, is_member in rows if is_member)
    if user.sees_all_leads:
        return Teams(visible=None, member=member)
    return Teams(visible=frozenset(team_id for team_id, _ in rows), member=member)


def _version(*parts: object) -> str:
    """A short digest of what a page shows, to tell a poll nothing changed."""
    return hashlib.blake2b(repr(parts).encode(), digest_size=12).hexdigest()


# --- My queue ------------------------------------------------------------------------


@dataclass(frozen=True)
class Queue(_TemplateRow):
    """A counselor's queue, section by section, each lead in one section only."""

    call_now: list[QueueCallBack]
    upcoming: list[QueueCallBack]
    new_leads: list[QueueLead]
    replies: list[QueueLead]
    by_stage: list[StageGroup]
    open_count: int
    truncated: bool
    team_waiting: int
    filters: QueueFilters
    callback_due_lead_ids: frozenset[int] = field(default_factory=frozenset)

    @property
    def by_stage_count(self) -> int:
        return sum(group.total for group in self.by_stage)

    @property
    def team_waiting_label(self) -> str:
        if self.team_waiting >= TEAM_COUNT_CAP:
            return f"{TEAM_COUNT_CAP - 1}+"
        return str(self.team_waiting)

    @cached_property
    def lead_ids(self) -> list[int]:
        """Every lead the page lists, for the audit trail."""
        ids = {row.lead.id for row in self.call_now + self.upcoming}
        ids.update(lead.id for lead in self.new_leads + self.replies)
        for group in self.by_stage:
            ids.update(lead.id for lead in group.leads)
        return sorted(ids)

    @cached_property
    def cue_keys(self) -> dict[str, str]:
        """Rows worth a cue when they first appear: key → what the cue says."""
        keys = {
            f"n{lead.id}": f"New lead: {lead.first_name} from {lead.source}"
            for lead in self.new_leads
        }
        keys.update(
            (f"r{lead.id}", f"{lead.first_name} texted back") for lead in self.replies
        )
        keys.update(
            (f"c{row.id}", f"Call-back due: {row.lead.first_name}")
            for row in self.call_now
        )
        return keys

    @cached_property
    def version(self) -> str:
        return _version(
            self.filters,
            self.call_now,
            self.upcoming,
            self.new_leads,
            self.replies,
            self.by_stage,
            self.truncated,
            self.team_waiting,
            sorted(self.callback_due_lead_ids),
        )


def _open_callbacks(
    *, user: User, teams: Teams, filters: QueueFilters
) -> QuerySet[CallBack]:
    """Open call-backs on open leads that are the user's to make.

    Theirs, the unowned ones of their leads, and the team's unowned ones on
    unowned leads, except a brand-new lead's first call: that lead waits in the
    team queue with its own countdown and "Take" button.
    """
    whose = (
        Q(owner=user)
        | Q(owner__isnull=True, lead__owner=user)
        | (
            Q(owner__isnull=True, lead__owner__isnull=True)
            & ~Q(reason=CallBack.Reason.NEW_LEAD)
        )
    )
    return (
        CallBack.objects.filter(
            whose,
            teams.lead_filter("lead__"),
            filters.lead_filter("lead__"),
            status__in=CALLBACK_OPEN_STATUSES,
            lead__stage__in=OPEN_STAGES,
        )
        .annotate(lead_phone_text=_phone_text("lead__"))
        .order_by("due_at", "id")
    )


_CALLBACK_COLUMNS = (
    "id",
    "owner_id",
    "status",
    "reason",
    "attempt",
    "due_at",
    "note",
    "lead__time_zone",
    "lead_phone_text",
    *_lead_columns("lead__"),
)


def _callback_rows(
    *, user: User, teams: Teams, filters: QueueFilters, now: datetime
) -> tuple[list[dict], list[dict]]:
    """The call-backs due now (or missed), and the next few later today."""
    callbacks = _open_callbacks(user=user, teams=teams, filters=filters)
    # The user's unanswered new leads show under "New leads" with their own
    # countdown; their first call is not fetched twice.
    due = callbacks.exclude(
        lead__owner=user, lead__first_response_at__isnull=True
    ).filter(
        Q(status__in=[CallBack.Status.DUE, CallBack.Status.MISSED])
        # The beat turns pending into due each minute; the queue does not wait.
        | Q(status=CallBack.Status.PENDING, due_at__lte=now)
    )
    # Only the user's own: read in due order off the (owner, status, due_at) index.
    # Built afresh rather than from `callbacks`: with its OR of owners PostgreSQL
    # walked every pending call-back of the day instead of the user's few.
    later = (
        CallBack.objects.filter(
            teams.lead_filter("lead__"),
            filters.lead_filter("lead__"),
            owner=user,
            status=CallBack.Status.PENDING,
            due_at__gt=now,
            due_at__lt=_end_of_day(now),
            lead__stage__in=OPEN_STAGES,
        )
        .annotate(lead_phone_text=_phone_text("lead__"))
        .order_by("due_at", "id")
    )
    return (
        list(due.values(*_CALLBACK_COLUMNS)[:CALLBACKS_LIMIT]),
        list(later.values(*_CALLBACK_COLUMNS)[:UPCOMING_LIMIT]),
    )


@dataclass(frozen=True, slots=True)
class _ZoneOnly:
    time_zone: str
    state: str


def _queue_callback(row: dict, *, user: User, now: datetime) -> QueueCallBack:
    lead = _queue_lead(row, phone=row["lead_phone_text"], now=now, prefix="lead__")
    # both_local_times reads only the lead's zone and state; building a whole
    # Lead for that cost a tenth of a millisecond per row.
    zone_holder = _ZoneOnly(time_zone=row["lead__time_zone"], state=lead.state)
    due = row["status"] != CallBack.Status.PENDING or row["due_at"] <= now
    return QueueCallBack(
        id=row["id"],
        lead=lead,
        status=row["status"],
        reason=row["reason"],
        attempt=row["attempt"],
        due_at=row["due_at"],
        due_text=both_local_times(zone_holder, row["due_at"]),
        overdue=due and row["due_at"] < now - OVERDUE_AFTER,
        note=row["note"],
        mine=row["owner_id"] == user.pk or lead.owner_id == user.pk,
    )


def _latest_text(field_name: str) -> Subquery:
    # The newest text to or from the lead, alerts to staff aside (they carry no
    # lead). Served by the (lead, created_at) index: one probe per lead listed.
    newest = (
        Message.objects.filter(lead_id=OuterRef("pk"))
        .order_by("-created_at", "-id")
        .values(field_name)[:1]
    )
    return Subquery(newest)


def _my_open_leads(*, user: User, filters: QueueFilters) -> QuerySet[Lead]:
    # No team condition here: with one, PostgreSQL intersects the team's open
    # leads with every lead the user ever owned instead of reading the (owner,
    # stage) index. queue_for drops the rare lead of a team the user has left.
    return (
        Lead.objects.filter(
            filters.lead_filter(),
            owner=user,
            stage__in=OPEN_STAGES,
        )
        .annotate(
            phone_text=_phone_text(),
            last_text_direction=_latest_text("direction"),
            last_text_at=_latest_text("created_at"),
        )
        # Past the cap, the unanswered leads are the ones to keep; the sections
        # sort themselves.
        .order_by(F("first_response_at").asc(nulls_first=True), "id")
    )


def _team_waiting(*, teams: Teams) -> int:
    unowned = Lead.objects.filter(
        teams.lead_filter(), owner__isnull=True, stage__in=OPEN_STAGES
    )
    return unowned[:TEAM_COUNT_CAP].count()


def _stalest_first(lead: QueueLead) -> tuple:
    """Within a stage: the most pressing, then the longest untouched."""
    return (-lead.priority, lead.last_activity_at, lead.id)


def _end_of_day(now: datetime) -> datetime:
    local = timezone.localtime(now)
    return timezone.make_aware(
        datetime.combine(local.date() + timedelta(days=1), time.min),
        local.tzinfo,
    )


def queue_for(
    *, user: User, filters: QueueFilters | None = None, now: datetime | None = None
) -> Queue:
    """What `user` should do next: call-backs due, new leads, replies, the rest.

    Five queries whatever the number of leads: teams, the user's open leads
    (with their newest text), call-backs due, call-backs later today, and the
    count of the team's unowned leads.
    A lead shows once: unanswered new leads and unanswered texts take precedence
    over their call-back, and "by stage" holds what no other section does.
    """
    filters = filters or QueueFilters()
    now = now or timezone.now()
    teams = teams_of(user)

    rows = [
        row
        for row in _my_open_leads(user=user, filters=filters).values(
            *_LEAD_COLUMNS, "phone_text", "last_text_direction", "last_text_at"
        )[: MY_LEADS_LIMIT + 1]
        if teams.sees(row["team_id"])
    ]
    truncated = len(rows) > MY_LEADS_LIMIT
    leads = [
        _queue_lead(
            row,
            phone=row["phone_text"],
            now=now,
            last_text_at=row["last_text_at"],
            last_text_inbound=row["last_text_direction"] == Message.Direction.INBOUND,
        )
        for row in rows[:MY_LEADS_LIMIT]
    ]
    new_leads = sorted(
        (lead for lead in leads if lead.first_response_at is None),
        key=lambda lead: (lead.created_at, lead.id),
    )
    replies = sorted(
        (
            lead
            for lead in leads
            if lead.first_response_at is not None and lead.last_text_inbound
        ),
        key=lambda lead: (lead.last_text_at, lead.id),
    )
    claimed = {lead.id for lead in new_leads} | {lead.id for lead in replies}

    due_rows, later_rows = _callback_rows(
        user=user, teams=teams, filters=filters, now=now
    )
    call_now: list[QueueCallBack] = []
    due_lead_ids: set[int] = set()
    for row in due_rows:
        lead_id = row["lead__id"]
        due_lead_ids.add(lead_id)
        # One row per lead: its oldest due call-back stands for the others.
        if lead_id not in claimed:
            claimed.add(lead_id)
            call_now.append(_queue_callback(row, user=user, now=now))
    upcoming = [_queue_callback(row, user=user, now=now) for row in later_rows]

    groups: dict[str, list[QueueLead]] = {}
    for lead in sorted(leads, key=_stalest_first):
        if lead.id not in claimed:
            groups.setdefault(lead.stage, []).append(lead)
    # The stalest few of each stage: the queue says what to do next, and a stage's
    # whole list is one click away (the stage filter shows all of it).
    shown = MY_LEADS_LIMIT if filters.stage else BY_STAGE_SHOWN
    by_stage = [
        StageGroup(
            stage=stage,
            label=STAGE_LABELS[stage],
            leads=groups[stage][:shown],
            total=len(groups[stage]),
        )
        for stage in OPEN_STAGES
        if stage in groups
    ]
    return Queue(
        call_now=call_now,
        upcoming=upcoming,
        new_leads=new_leads,
        replies=replies,
        by_stage=by_stage,
        open_count=len(leads),
        truncated=truncated,
        team_waiting=_team_waiting(teams=teams),
        filters=filters,
        callback_due_lead_ids=frozenset(due_lead_ids),
    )


# --- Team queue ----------------------------------------------------------------------


@dataclass(frozen=True)
class TeamQueue(_TemplateRow):
    """Open leads of the user's teams that nobody owns yet, oldest first."""

    leads: list[QueueLead]
    truncated: bool
    member_team_ids: frozenset[int]
    show_team: bool
    filters: QueueFilters

    def can_take(self, lead: QueueLead) -> bool:
        return lead.team_id in self.member_team_ids

    @property
    def waiting_label(self) -> str:
        count = len(self.leads)
        return f"{count}+" if self.truncated else str(count)

    @property
    def rows(self) -> list[tuple[QueueLead, bool]]:
        return [(lead, self.can_take(lead)) for lead in self.leads]

    @cached_property
    def lead_ids(self) -> list[int]:
        return [lead.id for lead in self.leads]

    @cached_property
    def cue_keys(self) -> dict[str, str]:
        return {
            f"t{lead.id}": f"New lead in the team queue: {lead.first_name} from "
            f"{lead.source}"
            for lead in self.leads
        }

    @cached_property
    def version(self) -> str:
        return _version(self.filters, self.leads, self.truncated, self.member_team_ids)


def team_queue_for(
    *, user: User, filters: QueueFilters | None = None, now: datetime | None = None
) -> TeamQueue:
    """The unassigned open leads of `user`'s teams (all teams for an admin).

    Two queries: the teams, then the leads, found through the (owner, stage)
    index with an empty owner: the unassigned are few, whatever the table's size.
    """
    filters = filters or QueueFilters()
    now = now or timezone.now()
    teams = teams_of(user)
    rows = list(
        Lead.objects.filter(
            teams.lead_filter(),
            filters.lead_filter(),
            owner__isnull=True,
            stage__in=OPEN_STAGES,
        )
        .annotate(phone_text=_phone_text())
        .order_by("created_at", "id")
        .values(*_LEAD_COLUMNS, "phone_text")[: TEAM_QUEUE_LIMIT + 1]
    )
    return TeamQueue(
        leads=[
            _queue_lead(row, phone=row["phone_text"], now=now)
            for row in rows[:TEAM_QUEUE_LIMIT]
        ],
        truncated=len(rows) > TEAM_QUEUE_LIMIT,
        member_team_ids=teams.member,
        show_team=teams.visible is None or len(teams.visible) > 1,
        filters=filters,
    )
