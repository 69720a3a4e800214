"""Follow-up: call-backs, call outcomes and the cadence after an unanswered call.

Every test runs on a frozen clock: the cadence is a schedule in the lead's own
local time, inside calling hours, and only time travel shows it whole.
"""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import ValidationError

from leads.models import (
    Activity,
    CallBack,
    CallDisposition,
    Channel,
    Lead,
    LostReason,
    Stage,
)
from leads.services import lead_transition
from leads.services.followup import (
    CallLogged,
    cadence_close_unreachable,
    callback_schedule,
    callbacks_dispatch,
    lead_call_log,
    lead_followup_on_reply,
)
from leads.services.intake import lead_intake
from notifications import services as sms_services
from notifications.backends import locmem
from notifications.models import Alert, ConsentEvent, Message, MessageTemplate
from tests.factories import make_lead, next_phone

pytestmark = pytest.mark.django_db

NEW_YORK = ZoneInfo("America/New_York")
CHICAGO = ZoneInfo("America/Chicago")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")
HONOLULU = ZoneInfo("Pacific/Honolulu")
# 2026-12-01 is a Tuesday; no time zone changes its offset in the weeks after.
TUESDAY = date(2026, 12, 1)
TUESDAY_11_NY = datetime(2026, 12, 1, 11, 0, tzinfo=NEW_YORK)


def local(zone: ZoneInfo, days: int, hour: int, minute: int = 0) -> datetime:
    """`days` after Tuesday Dec 1, at hour:minute on the wall clock of `zone`."""
    day = TUESDAY + timedelta(days=days)
    return datetime.combine(day, time(hour, minute), tzinfo=zone)


@pytest.fixture
def clock():
    """A frozen clock at Tuesday 11:00 in New York; tests move it with move_to."""
    with time_machine.travel(TUESDAY_11_NY, tick=False) as traveller:
        yield traveller


@pytest.fixture(autouse=True)
def _empty_locmem_outbox():
    locmem.reset()
    yield
    locmem.reset()


def new_lead(*, team, owner, state: str = "NY") -> Lead:
    """A web inquiry taken in now: owned, with its call-back due now."""
    return lead_intake(
        channel=Channel.WEB_FORM,
        source=None,
        details={"first_name": "Casey", "phone": next_phone(), "state": state},
        team=team,
        owner=owner,
    ).lead


def no_answer(lead: Lead, by) -> CallLogged:
    return lead_call_log(lead=lead, by=by, disposition=CallDisposition.NO_ANSWER)


def give_consent(lead: Lead) -> None:
    sms_services.consent_record(
        phone=str(lead.phone),
        kind=ConsentEvent.Kind.OPT_IN,
        source=ConsentEvent.Source.WEB_FORM,
        lead=lead,
        text="I agree to receive texts about my inquiry.",
    )


def opt_out(lead: Lead) -> None:
    sms_services.consent_record(
        phone=str(lead.phone),
        kind=ConsentEvent.Kind.OPT_OUT,
        source=ConsentEvent.Source.KEYWORD,
        lead=lead,
        text="STOP",
    )


def open_callbacks(lead: Lead) -> list[CallBack]:
    return list(CallBack.objects.open().filter(lead=lead).order_by("due_at", "id"))


def cadence_texts(lead: Lead):
    return Message.objects.filter(
        lead=lead, template__key=MessageTemplate.Key.CADENCE_NO_ANSWER
    )


def answer_nothing_until(clock, lead: Lead, by, *, attempt: int) -> CallBack:
    """Log unanswered calls from the first one up to the call-back of `attempt`."""
    logged = no_answer(lead, by)
    while logged.next_callback.attempt < attempt:
        clock.move_to(logged.next_callback.due_at)
        logged = no_answer(lead, by)
    return logged.next_callback


def exhaust_cadence(clock, lead: Lead, by) -> Lead:
    """Leave every follow-up attempt unanswered; return the lead as stored."""
    last = answer_nothing_until(clock, lead, by, attempt=6)
    clock.move_to(last.due_at)
    logged = no_answer(lead, by)
    assert logged.next_callback is None
    return Lead.objects.get(pk=lead.pk)


# --- The first unanswered call ------------------------------------------------------


def test_no_answer_on_a_new_lead_starts_attempting_contact_and_attempt_1_in_5_min(
    clock, team_a, counselor
):
    # Given a new web lead with its call-back due now
    lead = new_lead(team=team_a, owner=counselor)
    (due_now,) = open_callbacks(lead)
    assert (due_now.reason, due_now.status) == ("new_lead", CallBack.Status.DUE)

    # When the counselor calls a minute later and nobody answers
    clock.move_to(TUESDAY_11_NY + timedelta(minutes=1))
    logged = no_answer(lead, counselor)

    # Then the lead is being attempted, the call-back is done with the outcome,
    # and follow-up attempt 1 waits five minutes out, for the same counselor
    lead.refresh_from_db()
    assert lead.stage == Stage.ATTEMPTING_CONTACT
    assert lead.cadence_attempt == 1
    due_now.refresh_from_db()
    assert due_now.status == CallBack.Status.DONE
    assert due_now.outcome == CallDisposition.NO_ANSWER
    assert due_now.closed_by == counselor
    (attempt_1,) = open_callbacks(lead)
    assert attempt_1 == logged.next_callback
    assert attempt_1.reason == CallBack.Reason.CADENCE
    assert attempt_1.attempt == 1
    assert attempt_1.status == CallBack.Status.PENDING
    assert attempt_1.due_at == TUESDAY_11_NY + timedelta(minutes=6)
    assert attempt_1.owner == counselor
    assert lead.activities.filter(
        kind=Activity.Kind.CALLBACK, summary__startswith="Follow-up attempt 1 due"
    ).exists()


# --- The schedule, in the lead's own time -------------------------------------------


@pytest.mark.parametrize(
    ("state", "zone"), [("NY", NEW_YORK), ("CA", LOS_ANGELES)], ids=["NY", "CA"]
)
def test_default_cadence_runs_on_the_leads_own_clock(
    clock, team_a, counselor, state, zone
):
    # Given a lead whose first call goes unanswered at 11:00 their time on Tuesday
    clock.move_to(local(zone, 0, 11))
    lead = new_lead(team=team_a, owner=counselor, state=state)
    expected = [
        # attempt, due (local), voicemail, text
        (1, local(zone, 0, 11, 5), True, False),
        (2, local(zone, 0, 11, 35), True, True),
        (3, local(zone, 0, 13, 35), False, False),
        (4, local(zone, 1, 10), False, False),  # next day 10:00
        (5, local(zone, 3, 10), False, False),  # day 3 (Friday) 10:00
        (6, local(zone, 5, 10), False, False),  # day 5 (Sunday) 10:00
    ]

    # When every call, each at the time its attempt is due, goes unanswered
    seen = []
    logged = no_answer(lead, counselor)
    while logged.next_callback is not None:
        callback = logged.next_callback
        seen.append(
            (
                callback.attempt,
                callback.due_at.astimezone(zone),
                callback.leave_voicemail,
                callback.send_text,
            )
        )
        clock.move_to(callback.due_at)
        logged = no_answer(lead, counselor)

    # Then the attempts fell exactly on the default schedule, in the lead's zone
    assert seen == expected
    # and after the sixth unanswered attempt the lead closes 24 h later
    lead.refresh_from_db()
    assert lead.cadence_attempt == 6
    assert lead.cadence_close_at == local(zone, 6, 10)
    assert open_callbacks(lead) == []
    assert lead.activities.filter(
        summary__startswith="All 6 follow-up attempts made"
    ).exists()


def test_cadence_days_count_from_the_leads_date_not_the_centers(
    clock, team_a, counselor
):
    # Given a Hawaii lead first called at 19:30 on Tuesday, their time, which is
    # already 00:30 Wednesday at the center in New York
    clock.move_to(local(HONOLULU, 0, 19, 30))
    lead = new_lead(team=team_a, owner=counselor, state="HI")

    # When the calls go unanswered up to attempt 5
    attempt_3 = answer_nothing_until(clock, lead, counselor, attempt=3)
    attempt_5 = answer_nothing_until(clock, lead, counselor, attempt=5)
    attempt_4 = CallBack.objects.get(lead=lead, attempt=4)

    # Then attempt 3 (22:05) waited for 08:00, and "next day" and "day 3" are
    # Wednesday and Friday in Hawaii, not Thursday and Saturday
    assert attempt_3.due_at == local(HONOLULU, 1, 8)
    assert attempt_4.due_at == local(HONOLULU, 1, 10)
    assert attempt_5.due_at == local(HONOLULU, 3, 10)


# --- Calling hours ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "zone", "called_at", "attempt_1_due"),
    [
        # Hawaii keeps the federal 08:00-21:00: 21:03 waits for the morning.
        ("HI", HONOLULU, local(HONOLULU, 0, 20, 58), local(HONOLULU, 1, 8)),
        ("HI", HONOLULU, local(HONOLULU, 0, 19, 58), local(HONOLULU, 0, 20, 3)),
        # Florida stops at 20:00: even 20:03 waits for the morning.
        ("FL", NEW_YORK, local(NEW_YORK, 0, 20, 58), local(NEW_YORK, 1, 8)),
        ("FL", NEW_YORK, local(NEW_YORK, 0, 19, 58), local(NEW_YORK, 1, 8)),
        ("NY", NEW_YORK, local(NEW_YORK, 0, 19, 58), local(NEW_YORK, 0, 20, 3)),
        # Texas calls start at noon on Sundays.
        ("TX", CHICAGO, local(CHICAGO, 4, 20, 58), local(CHICAGO, 5, 12)),
    ],
    ids=[
        "HI-20:58",
        "HI-19:58",
        "FL-20:58",
        "FL-19:58",
        "NY-19:58",
        "TX-Saturday-20:58",
    ],
)
def test_an_attempt_outside_calling_hours_waits_for_the_leads_morning(
    clock, team_a, counselor, state, zone, called_at, attempt_1_due
):
    # Given a lead called, unanswered, late in their evening
    clock.move_to(called_at)
    lead = new_lead(team=team_a, owner=counselor, state=state)

    # When the first follow-up would fall five minutes later
    attempt_1 = no_answer(lead, counselor).next_callback

    # Then it is due when calling hours open in the lead's state and zone
    assert attempt_1.due_at == attempt_1_due
    assert attempt_1.due_at.astimezone(zone) == attempt_1_due


# --- Voicemail and the text on attempt 2 --------------------------------------------


def test_attempt_2_left_unanswered_texts_a_lead_who_consented(clock, team_a, counselor):
    # Given a lead who agreed to texts, with attempt 1 left unanswered too
    lead = new_lead(team=team_a, owner=counselor)
    give_consent(lead)
    attempt_2 = answer_nothing_until(clock, lead, counselor, attempt=2)
    assert not cadence_texts(lead).exists()
    assert (attempt_2.leave_voicemail, attempt_2.send_text) == (True, True)

    # When attempt 2 goes unanswered
    clock.move_to(attempt_2.due_at)
    logged = no_answer(lead, counselor)

    # Then the follow-up text is in the outbox, signed by the owner
    assert logged.text_queued is True
    (text,) = cadence_texts(lead)
    assert text.kind == Message.Kind.AUTOMATED
    assert text.status == Message.Status.PENDING
    assert text.to == str(lead.phone)
    assert "Maya" in text.body
    # and the next attempt carries no text
    assert logged.next_callback.attempt == 3
    assert logged.next_callback.send_text is False


def test_attempt_2_left_unanswered_sends_no_text_without_consent(
    clock, team_a, counselor
):
    # Given a lead who never agreed to texts
    lead = new_lead(team=team_a, owner=counselor)
    attempt_2 = answer_nothing_until(clock, lead, counselor, attempt=2)

    # When attempt 2 goes unanswered
    clock.move_to(attempt_2.due_at)
    logged = no_answer(lead, counselor)

    # Then nothing goes out: the text is recorded as blocked, and the counselor
    # sees why on the timeline
    assert logged.text_queued is False
    (text,) = cadence_texts(lead)
    assert text.status == Message.Status.BLOCKED
    assert text.blocked_reason == Message.BlockedReason.NO_CONSENT
    assert sms_services.message_send(message_id=text.pk).result == "skipped"
    assert locmem.outbox == []
    assert lead.activities.filter(
        kind=Activity.Kind.SMS, summary__startswith="Text not sent"
    ).exists()


def test_an_opt_out_during_the_cadence_turns_off_its_text(clock, team_a, counselor):
    # Given a consenting lead in the cadence, attempt 1 waiting
    lead = new_lead(team=team_a, owner=counselor)
    give_consent(lead)
    attempt_1 = answer_nothing_until(clock, lead, counselor, attempt=1)

    # When the lead texts STOP before attempt 2 is even scheduled
    opt_out(lead)
    clock.move_to(attempt_1.due_at)
    attempt_2 = no_answer(lead, counselor).next_callback
    clock.move_to(attempt_2.due_at)
    logged = no_answer(lead, counselor)

    # Then attempt 2 is a call only, and no text is queued
    assert attempt_2.attempt == 2
    assert attempt_2.send_text is False
    assert logged.text_queued is False
    assert not cadence_texts(lead).exclude(status=Message.Status.BLOCKED).exists()


def test_an_opt_out_takes_the_text_off_an_attempt_already_scheduled(
    clock, team_a, counselor
):
    # Given a consenting lead whose attempt 2 (with a text) is scheduled
    lead = new_lead(team=team_a, owner=counselor)
    give_consent(lead)
    attempt_2 = answer_nothing_until(clock, lead, counselor, attempt=2)
    assert attempt_2.send_text is True

    # When the lead opts out, and attempt 2 then goes unanswered
    opt_out(lead)
    clock.move_to(attempt_2.due_at)
    logged = no_answer(lead, counselor)

    # Then the attempt no longer texts
    attempt_2.refresh_from_db()
    assert attempt_2.send_text is False
    assert logged.text_queued is False
    assert not cadence_texts(lead).exists()


# --- What stops the cadence ---------------------------------------------------------


def test_a_text_reply_stops_the_cadence_and_puts_a_call_due_now(
    clock, team_a, counselor
):
    # Given a lead in the cadence, attempt 1 waiting
    lead = new_lead(team=team_a, owner=counselor)
    attempt_1 = answer_nothing_until(clock, lead, counselor, attempt=1)

    # When the lead texts back two minutes later
    clock.move_to(TUESDAY_11_NY + timedelta(minutes=2))
    received = sms_services.inbound_message_receive(
        sid="SM" + "1" * 32,
        from_number=str(lead.phone),
        to_number="+18885550100",
        body="Sorry, missed you. Call me now?",
    )
    sms_services.inbound_message_process(message_id=received.message.pk)

    # Then the pending attempt is cancelled, the cadence forgotten, and a call
    # is due now in the owner's queue, who is alerted
    attempt_1.refresh_from_db()
    assert attempt_1.status == CallBack.Status.CANCELLED
    lead.refresh_from_db()
    assert (lead.cadence_attempt, lead.cadence_started_at) == (0, None)
    (replied,) = open_callbacks(lead)
    assert replied.reason == CallBack.Reason.REPLIED
    assert replied.status == CallBack.Status.DUE
    assert replied.due_at == TUESDAY_11_NY + timedelta(minutes=2)
    assert replied.owner == counselor
    assert Alert.objects.filter(user=counselor, kind="lead_replied").count() == 1
    assert lead.activities.filter(
        summary="Follow-up attempts stopped: the lead replied"
    ).exists()


def test_a_reply_when_a_call_is_already_due_adds_no_second_one(
    clock, team_a, counselor
):
    # Given a new lead whose call-back is due now
    lead = new_lead(team=team_a, owner=counselor)

    # When they text before anyone called
    created = lead_followup_on_reply(lead=lead)

    # Then the queue keeps the one call that is due
    assert created is None
    (due,) = open_callbacks(lead)
    assert due.reason == CallBack.Reason.NEW_LEAD


def test_reaching_the_lead_stops_the_cadence_and_moves_to_contacted(
    clock, team_a, counselor
):
    # Given a lead in the cadence
    lead = new_lead(team=team_a, owner=counselor)
    attempt_1 = answer_nothing_until(clock, lead, counselor, attempt=1)

    # When the attempt-1 call is answered
    clock.move_to(attempt_1.due_at)
    logged = lead_call_log(lead=lead, by=counselor, disposition=CallDisposition.REACHED)

    # Then the lead is contacted, the attempt done, and nothing else scheduled
    lead.refresh_from_db()
    assert lead.stage == Stage.CONTACTED
    assert (lead.cadence_attempt, lead.cadence_close_at) == (0, None)
    attempt_1.refresh_from_db()
    assert (attempt_1.status, attempt_1.outcome) == ("done", "reached")
    assert logged.next_callback is None
    assert open_callbacks(lead) == []


def test_reaching_the_lead_before_a_later_attempt_cancels_it(clock, team_a, counselor):
    # Given a lead whose next attempt is tomorrow morning
    lead = new_lead(team=team_a, owner=counselor)
    attempt_4 = answer_nothing_until(clock, lead, counselor, attempt=4)

    # When the lead calls in this afternoon and is reached
    clock.move_to(local(NEW_YORK, 0, 16))
    lead_call_log(lead=lead, by=counselor, disposition=CallDisposition.REACHED)

    # Then tomorrow's attempt is cancelled
    attempt_4.refresh_from_db()
    assert attempt_4.status == CallBack.Status.CANCELLED
    assert open_callbacks(lead) == []


def test_a_stage_change_cancels_cadence_attempts_but_keeps_promised_calls(
    clock, team_a, counselor
):
    # Given a contacted lead with a promised call tomorrow and, after a missed
    # call today, a follow-up attempt waiting
    lead = new_lead(team=team_a, owner=counselor)
    lead_call_log(lead=lead, by=counselor, disposition=CallDisposition.REACHED)
    promised = callback_schedule(lead=lead, by=counselor, due_at=local(NEW_YORK, 1, 15))
    clock.move_to(local(NEW_YORK, 0, 14))
    attempt_1 = no_answer(lead, counselor).next_callback
    assert attempt_1.attempt == 1

    # When the lead moves on to the pre-screen assessment
    lead_transition(lead=lead, to=Stage.ASSESSMENT, by=counselor)

    # Then the attempt is cancelled and the promised call stays
    attempt_1.refresh_from_db()
    assert attempt_1.status == CallBack.Status.CANCELLED
    assert open_callbacks(lead) == [promised]
    lead.refresh_from_db()
    assert lead.cadence_attempt == 0


def test_closing_as_lost_cancels_every_open_call_back(clock, team_a, counselor):
    # Given a lead with a call due now, a promised call and a missed one
    lead = new_lead(team=team_a, owner=counselor)
    missed = callback_schedule(
        lead=lead, by=counselor, due_at=TUESDAY_11_NY + timedelta(minutes=10)
    )
    promised = callback_schedule(lead=lead, by=counselor, due_at=local(NEW_YORK, 1, 15))
    CallBack.objects.filter(pk=missed.pk).update(status=CallBack.Status.MISSED)
    assert len(open_callbacks(lead)) == 3

    # When the lead is closed as lost
    lead_transition(lead=lead, to=Stage.LOST, by=counselor, reason=LostReason.NOT_READY)

    # Then nothing is left to call, and the queue rows say who closed them
    assert open_callbacks(lead) == []
    promised.refresh_from_db()
    assert (promised.status, promised.closed_by) == ("cancelled", counselor)
    assert CallBack.objects.filter(lead=lead, status="cancelled").count() == 3


# --- Closing as unreachable ---------------------------------------------------------


def test_after_the_last_attempt_the_lead_closes_as_unreachable_a_day_later(
    clock, team_a, counselor
):
    # Given a lead whose six follow-up attempts all went unanswered
    lead = new_lead(team=team_a, owner=counselor)
    lead = exhaust_cadence(clock, lead, counselor)
    close_at = lead.cadence_close_at
    assert close_at == local(NEW_YORK, 6, 10)

    # When the close sweep runs just before, then just after the close time
    clock.move_to(close_at - timedelta(minutes=1))
    before = cadence_close_unreachable()
    clock.move_to(close_at + timedelta(minutes=1))
    closed = cadence_close_unreachable()
    again = cadence_close_unreachable()

    # Then the lead closes once, as lost and unreachable, by the system
    assert (before, closed, again) == (0, 1, 0)
    lead.refresh_from_db()
    assert lead.stage == Stage.LOST
    assert lead.lost_reason == LostReason.UNREACHABLE
    assert lead.cadence_close_at is None
    change = lead.stage_changes.get(to_stage=Stage.LOST)
    assert change.by is None
    assert change.reason == "No answer after 6 follow-up attempts."


def _schedule_a_call(lead: Lead, counselor) -> None:
    callback_schedule(lead=lead, by=counselor, due_at=local(NEW_YORK, 8, 12))


def _text_the_lead(lead: Lead, counselor) -> None:
    message = sms_services.message_send_manual(
        lead=lead, body="Still here when you're ready.", by=counselor
    )
    assert message.status == Message.Status.PENDING


@pytest.mark.parametrize(
    "counselor_acts", [_schedule_a_call, _text_the_lead], ids=["schedules", "texts"]
)
def test_a_counselor_acting_after_the_last_attempt_keeps_the_lead_open(
    clock, team_a, counselor, counselor_acts
):
    # Given a consenting lead whose follow-up attempts all went unanswered
    lead = new_lead(team=team_a, owner=counselor)
    give_consent(lead)
    lead = exhaust_cadence(clock, lead, counselor)
    close_at = lead.cadence_close_at

    # When the counselor acts on it before the close time
    clock.move_to(close_at - timedelta(hours=2))
    counselor_acts(Lead.objects.get(pk=lead.pk), counselor)
    clock.move_to(close_at + timedelta(hours=1))
    closed = cadence_close_unreachable()

    # Then the lead stays open
    assert closed == 0
    lead.refresh_from_db()
    assert lead.stage == Stage.ATTEMPTING_CONTACT
    assert lead.cadence_close_at is None


# --- Dispatching call-backs ---------------------------------------------------------


def test_dispatch_makes_a_call_back_due_once_and_alerts_its_owner(
    clock, team_a, counselor
):
    # Given two promised calls, at 11:30 and 14:00
    lead = make_lead(team=team_a, owner=counselor, state="NY")
    soon = callback_schedule(
        lead=lead, by=counselor, due_at=TUESDAY_11_NY + timedelta(minutes=30)
    )
    later = callback_schedule(lead=lead, by=counselor, due_at=local(NEW_YORK, 0, 14))

    # When the dispatcher runs at 11:29, then twice at 11:30
    clock.move_to(soon.due_at - timedelta(minutes=1))
    early = callbacks_dispatch()
    clock.move_to(soon.due_at)
    first = callbacks_dispatch()
    second = callbacks_dispatch()

    # Then the 11:30 call became due once, and its owner was alerted once
    assert (early.dispatched, first.dispatched, second.dispatched) == (0, 1, 0)
    soon.refresh_from_db()
    assert soon.status == CallBack.Status.DUE
    assert soon.dispatched_at == soon.due_at
    alerts = Alert.objects.filter(kind="callback_due")
    assert [(a.user, a.lead_id) for a in alerts] == [(counselor, lead.pk)]
    # and the 14:00 call still waits
    later.refresh_from_db()
    assert later.status == CallBack.Status.PENDING


def test_a_call_back_left_due_too_long_is_marked_missed(
    clock, team_a, counselor, settings
):
    # Given a promised call dispatched at 11:30
    settings.CALLBACK_MISSED_AFTER_MINUTES = 60
    lead = make_lead(team=team_a, owner=counselor, state="NY")
    callback = callback_schedule(
        lead=lead, by=counselor, due_at=TUESDAY_11_NY + timedelta(minutes=30)
    )
    clock.move_to(callback.due_at)
    callbacks_dispatch()

    # When nobody calls for 59 minutes, then for an hour
    clock.move_to(callback.due_at + timedelta(minutes=59))
    not_yet = callbacks_dispatch()
    callback.refresh_from_db()
    status_before = callback.status
    clock.move_to(callback.due_at + timedelta(minutes=60))
    late = callbacks_dispatch()
    again = callbacks_dispatch()

    # Then it is marked missed at the hour, once
    assert (not_yet.missed, late.missed, again.missed) == (0, 1, 0)
    assert status_before == CallBack.Status.DUE
    callback.refresh_from_db()
    assert callback.status == CallBack.Status.MISSED


def test_a_call_back_with_no_owner_alerts_the_team_supervisors(
    clock, team_a, supervisor
):
    # Given a promised call on a lead waiting in the team queue
    lead = make_lead(team=team_a, state="NY")
    callback = callback_schedule(
        lead=lead, by=supervisor, due_at=TUESDAY_11_NY + timedelta(minutes=30)
    )

    # When it comes due
    clock.move_to(callback.due_at)
    callbacks_dispatch()

    # Then the supervisors hear that a lead waits
    assert list(Alert.objects.values_list("user", "kind")) == [
        (supervisor.pk, "lead_waiting")
    ]


# --- Scheduling call-backs ----------------------------------------------------------


def test_a_time_without_offset_is_the_leads_own_local_time(clock, team_a, counselor):
    # Given a California lead, at 11:00 in New York (08:00 in California)
    lead = make_lead(team=team_a, owner=counselor, state="CA")

    # When the counselor promises a call at "10:00" (a naive time)
    callback = callback_schedule(
        lead=lead,
        by=counselor,
        due_at=datetime(2026, 12, 1, 10, 0),  # noqa: DTZ001 - the point of the test
    )

    # Then it is 10:00 in California, 13:00 at the center, and the timeline says so
    assert callback.due_at == local(LOS_ANGELES, 0, 10)
    assert callback.status == CallBack.Status.PENDING
    assert lead.activities.filter(
        summary="Call-back set for Tue Dec 1 10:00 PST (13:00 EST here)"
    ).exists()


@pytest.mark.parametrize(
    "due_at",
    [
        TUESDAY_11_NY - timedelta(hours=2),
        # 07:00 in California is 10:00 in New York: already past.
        datetime(2026, 12, 1, 7, 0),  # noqa: DTZ001 - read in the lead's zone
    ],
    ids=["aware", "naive-in-the-leads-zone"],
)
def test_a_call_back_in_the_past_is_a_field_error(clock, team_a, counselor, due_at):
    lead = make_lead(team=team_a, owner=counselor, state="CA")

    with pytest.raises(ValidationError) as refusal:
        callback_schedule(lead=lead, by=counselor, due_at=due_at)

    assert set(refusal.value.message_dict) == {"due_at"}
    assert not CallBack.objects.filter(lead=lead).exists()


def test_call_back_later_without_a_time_is_a_field_error_and_writes_nothing(
    clock, team_a, counselor
):
    lead = new_lead(team=team_a, owner=counselor)
    calls_before = lead.activities.filter(kind=Activity.Kind.CALL).count()

    with pytest.raises(ValidationError) as refusal:
        lead_call_log(
            lead=lead, by=counselor, disposition=CallDisposition.CALL_BACK_LATER
        )

    assert set(refusal.value.message_dict) == {"call_back_at"}
    assert lead.activities.filter(kind=Activity.Kind.CALL).count() == calls_before
    (due,) = open_callbacks(lead)
    assert due.status == CallBack.Status.DUE


def test_call_back_later_schedules_the_promised_call_and_ends_the_cadence(
    clock, team_a, counselor
):
    # Given a lead in the cadence
    lead = new_lead(team=team_a, owner=counselor)
    attempt_1 = answer_nothing_until(clock, lead, counselor, attempt=1)

    # When the lead answers attempt 1 and asks for a call at 18:00 their time
    clock.move_to(attempt_1.due_at)
    logged = lead_call_log(
        lead=lead,
        by=counselor,
        disposition=CallDisposition.CALL_BACK_LATER,
        call_back_at=datetime(2026, 12, 1, 18, 0),  # noqa: DTZ001 - lead's time
    )

    # Then that call is the only one left
    assert logged.next_callback.reason == CallBack.Reason.SCHEDULED
    assert logged.next_callback.due_at == local(NEW_YORK, 0, 18)
    assert open_callbacks(lead) == [logged.next_callback]
