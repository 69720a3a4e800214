"""Reads of leads: what a user may see, timelines, time spent in each stage."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import median

from django.db.models import (
    Case,
    CharField,
    ExpressionWrapper,
    F,
    IntegerField,
    Q,
    QuerySet,
    When,
)
from django.http import Http404
from django.utils import timezone

from crm.models import User

from .models import CLOSED_STAGES, Activity, CallBack, Lead, StageChange


def leads_visible_to(user: User) -> QuerySet[Lead]:
    """Leads `user` may see: admins all, supervisors and counselors their teams'."""
    return Lead.objects.visible_to(user)


# What a row of the lead list shows or sorts by, including the related rows' columns.
LEAD_LIST_COLUMNS = (
    "id",
    "first_name",
    "last_name",
    "email",
    "state",
    "level_of_care",
    "urgency",
    "priority",
    "stage",
    "stage_changed_at",
    "campaign",
    "created_at",
    "first_response_at",
    "last_activity_at",
    "team_id",
    "owner__id",
    "owner__username",
    "owner__first_name",
    "owner__last_name",
    "team__id",
    "team__slug",
    "team__name",
    "source__id",
    "source__slug",
    "source__name",
    "source__kind",
)


def lead_list_for(user: User) -> QuerySet[Lead]:
    """The lead list, with what its rows show fetched in the same query.

    Only the listed columns are read: a lead row also carries encrypted intake
    answers, which the list never shows and would otherwise fetch for every row.
    """
    return (
        leads_visible_to(user)
        .select_related("owner", "team", "source")
        .only(*LEAD_LIST_COLUMNS)
        # The number as stored (E.164, validated on the way in) and as plain text:
        # turning it into a PhoneNumber and back costs more than the rest of the row.
        .annotate(phone_e164=ExpressionWrapper(F("phone"), output_field=CharField()))
    )


def lead_visible_to(*, user: User, lead: Lead) -> bool:
    """Whether `user` may see `lead` (already loaded, e.g. found by dedupe)."""
    return leads_visible_to(user).filter(pk=lead.pk).exists()


def lead_get_for(*, user: User, lead_id: int) -> Lead:
    """Return the lead if `user` may see it; otherwise 404, never a hint it exists."""
    lead = (
        leads_visible_to(user)
        .select_related(
            "owner",
            "team",
            "source",
            "first_response_by",
            "first_touch",
            "last_touch",
            "first_touch__source",
            "last_touch__source",
        )
        .filter(pk=lead_id)
        .first()
    )
    if lead is None:
        raise Http404("No such lead.")
    return lead


def lead_timeline(*, lead: Lead) -> QuerySet[Activity]:
    """Every event on the lead, newest first."""
    return lead.activities.select_related("actor").order_by("-at", "-id")


def lead_notes(*, lead: Lead) -> QuerySet[Activity]:
    return lead_timeline(lead=lead).filter(kind=Activity.Kind.NOTE)


@dataclass(frozen=True)
class StageStay:
    stage: str
    entered_at: datetime
    left_at: datetime | None
    duration: timedelta


def lead_stage_stays(*, lead: Lead, now: datetime | None = None) -> list[StageStay]:
    """Each stay of the lead in a stage, oldest first; the current one runs to now."""
    now = now or timezone.now()
    changes = list(
        StageChange.objects.filter(lead=lead)
        .order_by("at", "id")
        .values_list("to_stage", "at")
    )
    stays = []
    for index, (stage, entered_at) in enumerate(changes):
        left_at = changes[index + 1][1] if index + 1 < len(changes) else None
        stays.append(
            StageStay(
                stage=stage,
                entered_at=entered_at,
                left_at=left_at,
                duration=(left_at or now) - entered_at,
            )
        )
    return stays


def lead_time_in_stages(*, lead: Lead, now: datetime | None = None) -> dict[str, float]:
    """Seconds the lead has spent in each stage it has been in, summed over stays."""
    totals: dict[str, float] = {}
    for stay in lead_stage_stays(lead=lead, now=now):
        if stay.left_at is None and stay.stage in CLOSED_STAGES:
            continue  # a closed lead does not keep "spending time" in its last stage
        totals[stay.stage] = totals.get(stay.stage, 0.0) + stay.duration.total_seconds()
    return totals


# --- Call-backs and speed to lead ----------------------------------------------------


def callbacks_for_lead(*, lead: Lead) -> QuerySet[CallBack]:
    return (
        CallBack.objects.filter(lead=lead)
        .select_related("owner", "lead")
        .order_by("-due_at", "-id")
    )


def callback_queue_for(
    *, user: User, team_id: int | None = None, now: datetime | None = None
) -> QuerySet[CallBack]:
    """Open call-backs to work, the overdue and due ones first, then by time.

    A counselor gets their own plus their teams' unowned ones; a supervisor may
    look at one team's whole queue.
    """
    leads = Lead.objects.visible_to(user)
    callbacks = CallBack.objects.open().filter(lead__in=leads)
    if team_id is not None and user.is_supervisor:
        callbacks = callbacks.filter(lead__team_id=team_id)
    else:
        callbacks = callbacks.filter(Q(owner=user) | Q(owner__isnull=True))
    due_first = Case(
        When(status__in=[CallBack.Status.DUE, CallBack.Status.MISSED], then=0),
        default=1,
        output_field=IntegerField(),
    )
    return (
        callbacks.select_related("lead", "owner")
        .annotate(due_first=due_first)
        .order_by("due_first", "due_at", "id")
    )


def _percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


def _response_figures(seconds: list[float]) -> dict:
    seconds = sorted(seconds)
    return {
        "median_seconds": median(seconds) if seconds else None,
        "p90_seconds": _percentile(seconds, 0.9),
        "within_5_minutes": (
            sum(1 for s in seconds if s <= 300) / len(seconds) if seconds else None
        ),
    }


def speed_to_lead(
    *,
    user: User,
    since: datetime,
    until: datetime,
    team_id: int | None = None,
) -> dict:
    """Time to first response of leads created in [since, until), overall and by
    the counselor who responded first."""
    leads = Lead.objects.visible_to(user).filter(
        created_at__gte=since, created_at__lt=until
    )
    if team_id is not None:
        leads = leads.filter(team_id=team_id)
    rows = list(
        leads.values_list("created_at", "first_response_at", "first_response_by")
    )
    by_counselor: dict[int, list[float]] = {}
    overall: list[float] = []
    for created_at, responded_at, responder in rows:
        if responded_at is None:
            continue
        seconds = max(0.0, (responded_at - created_at).total_seconds())
        overall.append(seconds)
        by_counselor.setdefault(responder, []).append(seconds)
    users = User.objects.in_bulk([pk for pk in by_counselor if pk is not None])
    counselors = [
        {"counselor": users.get(pk), "leads": len(values), **_response_figures(values)}
        for pk, values in by_counselor.items()
    ]
    counselors.sort(
        key=lambda row: (row["median_seconds"] is None, row["median_seconds"])
    )
    return {
        "since": since,
        "until": until,
        "leads": len(rows),
        "responded": len(overall),
        "waiting": len(rows) - len(overall),
        **_response_figures(overall),
        "by_counselor": counselors,
    }


# --- Whether the lead may be texted or called now -------------------------------------


@dataclass(frozen=True)
class LeadReach:
    """What a counselor must know before texting or calling the lead now."""

    consent: object | None  # notifications.selectors.ConsentState; None: no phone
    texting_now: bool
    texting_local: str  # the lead's local time(s) now, e.g. "04:24 EST"
    texting_opens: str  # when texting opens, in both zones; "" when open now
    calling_now: bool
    calling_opens: str  # when calling opens, in both zones; "" when open now
    do_not_call: bool


def lead_reach_now(*, lead: Lead, now: datetime) -> LeadReach:
    """Consent, quiet hours, calling hours and do-not-call for the lead, now."""
    # Imported here: texting and calls build on leads, not the other way round.
    from notifications import quiet_hours
    from notifications.selectors import consent_state_for
    from telephony.services import do_not_call_contains

    from .services import followup

    phone = str(lead.phone or "")
    recipient = quiet_hours.Recipient(
        state=lead.state, time_zone=lead.time_zone, phone=phone
    )
    texting_now = quiet_hours.is_allowed(recipient, now)
    calling_opens = followup.within_calling_hours(lead, now)
    return LeadReach(
        consent=consent_state_for(phone) if phone else None,
        texting_now=texting_now,
        texting_local=", ".join(
            f"{t:%H:%M %Z}" for t in quiet_hours.local_times(recipient, now)
        ),
        texting_opens=""
        if texting_now
        else followup.both_local_times(lead, quiet_hours.next_allowed(recipient, now)),
        calling_now=calling_opens == now,
        calling_opens=""
        if calling_opens == now
        else followup.both_local_times(lead, calling_opens),
        do_not_call=do_not_call_contains(phone) if phone else False,
    )
