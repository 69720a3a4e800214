"""Reads of telephony: who to ring, the call log, the default phone source."""

from django.db.models import Exists, OuterRef, QuerySet

from crm.models import Team, User
from leads.models import Lead, LeadSource

from .models import LIVE_STATUSES, Call

UNKNOWN_NUMBER_SOURCE_SLUG = "phone-unknown-number"


def counselors_to_ring(*, team: Team | None, owner: User | None) -> list[User]:
    """The counselors to ring for a call, in order: the lead's owner first when
    free, then the team's available counselors whose turn is oldest.

    Busy, away or offline counselors, those on a live call and those without a
    phone are left out.
    """
    on_a_call = Call.objects.filter(counselor=OuterRef("pk"), status__in=LIVE_STATUSES)
    free = (
        User.objects.counselors()
        .filter(presence=User.Presence.AVAILABLE)
        .exclude(phone="")
        .exclude(Exists(on_a_call))
    )
    ring: list[User] = []
    if owner is not None:
        ring += list(free.filter(pk=owner.pk))
    if team is not None:
        ring += [
            user
            for user in free.filter(teams=team).order_by("last_routed_at", "pk")
            if owner is None or user.pk != owner.pk
        ]
    return ring


def default_phone_source() -> LeadSource:
    """Calls to a number we do not know still make leads, attributed here."""
    source, _ = LeadSource.objects.get_or_create(
        slug=UNKNOWN_NUMBER_SOURCE_SLUG,
        defaults={
            "name": "Phone (unknown tracking number)",
            "kind": LeadSource.Kind.PHONE,
        },
    )
    return source


def calls_for_lead(lead: Lead) -> QuerySet[Call]:
    return (
        Call.objects.filter(lead=lead)
        .select_related("counselor", "tracking_number")
        .order_by("-started_at", "-id")
    )


def calls_by_id(ids: list[int]) -> dict[int, Call]:
    return Call.objects.in_bulk(ids)
