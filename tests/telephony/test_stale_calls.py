"""Calls whose final status never came are closed, and their counselors freed."""

from datetime import timedelta

from django.utils import timezone

from crm.models import User
from leads.models import CallBack
from telephony.models import Call
from telephony.services import calls_close_stale

from ..factories import make_lead


def test_a_click_to_call_that_never_reported_back_frees_its_counselor(
    counselor, team_a
):
    # Given a click-to-call queued 20 minutes ago that Twilio never reported on
    lead = make_lead(team=team_a, owner=counselor, state="NY")
    User.objects.filter(pk=counselor.pk).update(presence=User.Presence.BUSY)
    stale = Call.objects.create(
        direction=Call.Direction.OUTBOUND,
        status=Call.Status.QUEUED,
        lead=lead,
        counselor=counselor,
        started_at=timezone.now() - timedelta(minutes=20),
    )
    fresh = Call.objects.create(
        direction=Call.Direction.OUTBOUND,
        status=Call.Status.RINGING,
        lead=lead,
        counselor=counselor,
        started_at=timezone.now() - timedelta(minutes=1),
    )

    # When the sweeper runs (twice, as beat would)
    closed = calls_close_stale()
    calls_close_stale()

    # Then the stale one is closed once, the ringing one is left alone
    assert closed == 1
    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert (stale.status, fresh.status) == (Call.Status.FAILED, Call.Status.RINGING)
    assert stale.ended_at is not None
    counselor.refresh_from_db()
    # Still busy: the fresh call is live.
    assert counselor.presence == User.Presence.BUSY


def test_an_inbound_call_left_ringing_counts_as_missed(counselor, team_a):
    lead = make_lead(team=team_a, owner=counselor, state="NY")
    Call.objects.create(
        sid="CA" + "1" * 32,
        direction=Call.Direction.INBOUND,
        status=Call.Status.RINGING,
        lead=lead,
        started_at=timezone.now() - timedelta(minutes=30),
    )

    calls_close_stale()

    assert CallBack.objects.filter(lead=lead, reason="missed_call").count() == 1
    assert Call.objects.get().missed_at is not None


def test_an_answered_call_never_closed_is_completed_after_hours(counselor, team_a):
    lead = make_lead(team=team_a, owner=counselor, state="NY")
    User.objects.filter(pk=counselor.pk).update(presence=User.Presence.BUSY)
    long_ago = timezone.now() - timedelta(hours=5)
    call = Call.objects.create(
        direction=Call.Direction.INBOUND,
        status=Call.Status.IN_PROGRESS,
        lead=lead,
        counselor=counselor,
        started_at=long_ago,
        answered_at=long_ago,
    )

    calls_close_stale()

    call.refresh_from_db()
    assert call.status == Call.Status.COMPLETED
    assert CallBack.objects.filter(lead=lead, reason="missed_call").count() == 0
    counselor.refresh_from_db()
    assert counselor.presence == User.Presence.AVAILABLE
