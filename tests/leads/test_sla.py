"""Speed to lead: when a first response is due, and what the sweep does when not."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import ValidationError

from crm.models import Team, User
from leads.models import Activity, CallBack, CallDisposition, Channel, Lead
from leads.services.followup import callback_cancel, callback_schedule, lead_call_log
from leads.services.intake import lead_intake
from leads.services.sla import sla_due_for, sla_sweep, team_is_open
from notifications import services as sms_services
from notifications.models import Alert, ConsentEvent, Message
from tests.factories import LeadSourceFactory, TeamFactory, UserFactory, next_phone

pytestmark = pytest.mark.django_db

NEW_YORK = ZoneInfo("America/New_York")
# 2026-12-01 is a Tuesday; the 5th a Saturday.
TUESDAY_NOON = datetime(2026, 12, 1, 12, 0, tzinfo=NEW_YORK)
SATURDAY_NOON = datetime(2026, 12, 5, 12, 0, tzinfo=NEW_YORK)
WEEKDAYS = [0, 1, 2, 3, 4]


@pytest.fixture
def clock():
    with time_machine.travel(TUESDAY_NOON, tick=False) as traveller:
        yield traveller


@pytest.fixture
def source(db):
    return LeadSourceFactory(name="Google Ads form", slug="google-ads", sla_minutes=10)


def new_lead(*, team, owner, source) -> Lead:
    """A web inquiry taken in now, owned, its first response due by the SLA."""
    return lead_intake(
        channel=Channel.WEB_FORM,
        source=source,
        details={"first_name": "Casey", "phone": next_phone(), "state": "NY"},
        team=team,
        owner=owner,
    ).lead


def sla_alerts():
    return Alert.objects.filter(kind="sla_breach")


# --- When the first response is due -------------------------------------------------


@pytest.mark.parametrize(
    ("arrives", "minutes"),
    [
        (TUESDAY_NOON, 10),
        (TUESDAY_NOON.replace(hour=8), 10),  # opens at 08:00
        (TUESDAY_NOON.replace(hour=7, minute=59), 30),
        (TUESDAY_NOON.replace(hour=19, minute=59), 10),
        (TUESDAY_NOON.replace(hour=20), 30),  # closed from 20:00 on
        (TUESDAY_NOON.replace(hour=23, minute=30), 30),
        (SATURDAY_NOON, 30),  # not a business day
    ],
    ids=[
        "Tue-12:00",
        "Tue-08:00",
        "Tue-07:59",
        "Tue-19:59",
        "Tue-20:00",
        "Tue-23:30",
        "Sat-12:00",
    ],
)
def test_sla_is_the_sources_in_business_hours_and_the_teams_after_hours(
    team_a, source, arrives, minutes
):
    # Given a team open 08:00-20:00 New York time on weekdays, 30 min after hours
    team_a.business_days = WEEKDAYS
    team_a.business_hours_start, team_a.business_hours_end = time(8), time(20)
    team_a.after_hours_sla_minutes = 30

    # When a lead from a 10-minute source arrives
    due = sla_due_for(team=team_a, source=source, now=arrives)

    # Then the first response is due by the rule of that moment
    assert due == arrives + timedelta(minutes=minutes)


def test_business_hours_are_read_on_the_teams_clock(source):
    # Given a team in Los Angeles, open 08:00-20:00 there
    team = TeamFactory(name="West", slug="west", time_zone="America/Los_Angeles")
    at_22_new_york = TUESDAY_NOON.replace(hour=22)  # 19:00 in Los Angeles
    at_10_new_york = TUESDAY_NOON.replace(hour=10)  # 07:00 in Los Angeles

    # Then 22:00 in New York is in its hours, 10:00 in New York is not
    assert team_is_open(team, at_22_new_york)
    assert not team_is_open(team, at_10_new_york)
    assert sla_due_for(team=team, source=source, now=at_22_new_york) == (
        at_22_new_york + timedelta(minutes=10)
    )
    assert sla_due_for(team=team, source=source, now=at_10_new_york) == (
        at_10_new_york + timedelta(minutes=team.after_hours_sla_minutes)
    )


def test_a_lead_with_no_source_gets_five_minutes(team_a):
    assert sla_due_for(team=team_a, source=None, now=TUESDAY_NOON) == (
        TUESDAY_NOON + timedelta(minutes=5)
    )


def test_intake_stores_the_after_hours_due_time(team_a, counselor, source):
    # Given a team with a 45-minute after-hours SLA
    team_a.after_hours_sla_minutes = 45
    team_a.save()
    late = TUESDAY_NOON.replace(hour=21)

    # When a lead arrives at 21:00
    with time_machine.travel(late, tick=False):
        lead = new_lead(team=team_a, owner=counselor, source=source)

    # Then its first response is due at 21:45
    lead.refresh_from_db()
    assert lead.sla_due_at == late + timedelta(minutes=45)


# --- Escalation ---------------------------------------------------------------------


def test_a_lead_past_its_sla_alerts_the_team_supervisors_once(
    clock, team_a, team_b, counselor, supervisor, source
):
    # Given a lead due a response at 12:10, and a supervisor of another team
    other_supervisor = UserFactory(username="lee", role=User.Role.SUPERVISOR)
    team_b.supervisors.add(other_supervisor)
    lead = new_lead(team=team_a, owner=counselor, source=source)

    # When the sweep runs at 12:09, then twice at 12:10
    clock.move_to(TUESDAY_NOON + timedelta(minutes=9))
    early = sla_sweep()
    clock.move_to(TUESDAY_NOON + timedelta(minutes=10))
    first = sla_sweep()
    second = sla_sweep()

    # Then the lead's supervisor is alerted once, and nobody else
    assert (early.escalated, first.escalated, second.escalated) == (0, 1, 0)
    assert [(a.user, a.lead_id) for a in sla_alerts()] == [(supervisor, lead.pk)]
    lead.refresh_from_db()
    assert lead.sla_escalated_at == TUESDAY_NOON + timedelta(minutes=10)
    assert lead.owner == counselor
    assert lead.activities.filter(
        summary="No response in 10 min: past the SLA, supervisor alerted"
    ).exists()


def _call_unanswered(lead: Lead, counselor) -> None:
    lead_call_log(lead=lead, by=counselor, disposition=CallDisposition.NO_ANSWER)


def _text_with_consent(lead: Lead, counselor) -> None:
    sms_services.consent_record(
        phone=str(lead.phone),
        kind=ConsentEvent.Kind.OPT_IN,
        source=ConsentEvent.Source.WEB_FORM,
        lead=lead,
        text="I agree to receive texts about my inquiry.",
    )
    message = sms_services.message_send_manual(
        lead=lead, body="Hi Casey, this is Maya. Is now a good time?", by=counselor
    )
    assert message.status == Message.Status.PENDING


@pytest.mark.parametrize(
    "respond", [_call_unanswered, _text_with_consent], ids=["call", "text"]
)
def test_a_lead_that_got_a_first_response_is_never_escalated(
    clock, team_a, counselor, teammate, supervisor, source, respond
):
    # Given a lead the counselor called or texted within its SLA
    lead = new_lead(team=team_a, owner=counselor, source=source)
    clock.move_to(TUESDAY_NOON + timedelta(minutes=3))
    respond(lead, counselor)

    # When the sweep runs long after the SLA and the reassign window
    clock.move_to(TUESDAY_NOON + timedelta(hours=2))
    first = sla_sweep()
    clock.move_to(TUESDAY_NOON + timedelta(hours=3))
    second = sla_sweep()

    # Then nobody is alerted and the lead stays with its counselor
    assert (first.escalated, first.reassigned) == (0, 0)
    assert (second.escalated, second.reassigned) == (0, 0)
    assert not sla_alerts().exists()
    lead.refresh_from_db()
    assert lead.first_response_at == TUESDAY_NOON + timedelta(minutes=3)
    assert lead.first_response_by == counselor
    assert lead.owner == counselor


def test_a_text_that_was_not_sent_is_not_a_response(
    clock, team_a, counselor, supervisor, source
):
    # Given a lead with no consent to texts, texted by the counselor anyway
    lead = new_lead(team=team_a, owner=counselor, source=source)
    message = sms_services.message_send_manual(lead=lead, body="Hi", by=counselor)
    assert message.status == Message.Status.BLOCKED

    # When the SLA passes
    clock.move_to(TUESDAY_NOON + timedelta(minutes=10))

    # Then the lead is escalated
    assert sla_sweep().escalated == 1
    assert sla_alerts().count() == 1


# --- Reassignment -------------------------------------------------------------------


def test_still_waiting_after_the_second_window_goes_to_the_next_counselor(
    clock, team_a, counselor, teammate, supervisor, source
):
    # Given a lead of Maya's, due at 12:10, with its call due now and a call the
    # supervisor promised for 15:00, and a cancelled one; a 5-minute window
    team_a.sla_reassign_after_minutes = 5
    team_a.save()
    lead = new_lead(team=team_a, owner=counselor, source=source)
    promised = callback_schedule(
        lead=lead, by=supervisor, due_at=TUESDAY_NOON.replace(hour=15)
    )
    cancelled = callback_schedule(
        lead=lead, by=supervisor, due_at=TUESDAY_NOON.replace(hour=16)
    )
    callback_cancel(callback=cancelled, by=supervisor)
    clock.move_to(TUESDAY_NOON + timedelta(minutes=10))
    assert sla_sweep().escalated == 1

    # When the sweep runs 4 minutes, then 5 minutes, then 10 minutes later
    clock.move_to(TUESDAY_NOON + timedelta(minutes=14))
    too_soon = sla_sweep()
    clock.move_to(TUESDAY_NOON + timedelta(minutes=15))
    on_time = sla_sweep()
    clock.move_to(TUESDAY_NOON + timedelta(minutes=20))
    later = sla_sweep()

    # Then the lead moved once, to Jordan, and its open calls moved with it
    assert (too_soon.reassigned, on_time.reassigned, later.reassigned) == (0, 1, 0)
    lead.refresh_from_db()
    assert lead.owner == teammate
    assert lead.sla_reassigned_at == TUESDAY_NOON + timedelta(minutes=15)
    open_owners = set(
        CallBack.objects.open().filter(lead=lead).values_list("owner", flat=True)
    )
    assert open_owners == {teammate.pk}
    promised.refresh_from_db()
    assert promised.owner == teammate
    cancelled.refresh_from_db()
    assert cancelled.owner == counselor
    assert Alert.objects.filter(user=teammate, kind="lead_assigned").count() == 1
    assert lead.activities.filter(
        kind=Activity.Kind.ASSIGNMENT,
        summary="No response in time: moved from Maya Torres to Jordan Reyes",
    ).exists()


@pytest.mark.parametrize(
    "teammate_presence", [User.Presence.AWAY, User.Presence.BUSY, User.Presence.OFFLINE]
)
def test_with_nobody_else_available_the_lead_stays_and_the_timeline_says_so(
    clock, team_a, counselor, teammate, supervisor, source, teammate_presence
):
    # Given Maya's lead past its SLA, and her only teammate not available
    User.objects.filter(pk=teammate.pk).update(presence=teammate_presence)
    lead = new_lead(team=team_a, owner=counselor, source=source)
    clock.move_to(TUESDAY_NOON + timedelta(minutes=10))
    sla_sweep()

    # When the second window passes, twice over
    clock.move_to(TUESDAY_NOON + timedelta(minutes=15))
    first = sla_sweep()
    clock.move_to(TUESDAY_NOON + timedelta(minutes=30))
    second = sla_sweep()

    # Then the lead stays with Maya and the timeline says why, once
    assert (first.reassigned, second.reassigned) == (0, 0)
    lead.refresh_from_db()
    assert lead.owner == counselor
    stays = lead.activities.filter(
        summary="Still no response, and no other counselor is available to take it"
    )
    assert stays.count() == 1
    assert (
        CallBack.objects.open().filter(lead=lead).values_list("owner", flat=True)
    ).get() == counselor.pk


@pytest.mark.parametrize("days", ["0123456", [0, 7], [True], {"mon": 1}])
def test_business_days_must_be_a_list_of_weekday_numbers(db, days):
    team = Team(name="Night shift", slug="night-shift", business_days=days)

    with pytest.raises(ValidationError) as refusal:
        team.full_clean()

    assert "business_days" in refusal.value.message_dict
