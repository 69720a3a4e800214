"""Reads of leads: what a user may see, timelines, time spent in each stage."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import CharField, ExpressionWrapper, F, QuerySet
from django.http import Http404
from django.utils import timezone

from crm.models import User

from .models import CLOSED_STAGES, Activity, Lead, StageChange


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


def lead_get_for(*, user: User, lead_id: int) -> Lead:
    """Return the lead if `user` may see it; otherwise 404, never a hint it exists."""
    lead = (
        leads_visible_to(user)
        .select_related(
            "owner",
            "team",
            "source",
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
