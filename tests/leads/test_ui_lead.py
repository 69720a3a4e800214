"""The lead page and its actions, as a counselor uses them in the browser."""

import datetime
import re
from zoneinfo import ZoneInfo

import pytest
import time_machine

from crm.models import AuditEvent, User
from leads.models import Activity, CallBack, Lead, LostReason, Stage, StageChange
from leads.services import lead_add_note, lead_transition
from leads.services.followup import lead_call_log
from notifications.backends import locmem
from notifications.models import ConsentEvent, Message
from notifications.services import consent_record, message_send_manual
from telephony.models import Call
from telephony.services import do_not_call_add

from ..factories import make_lead

NEW_YORK = ZoneInfo("America/New_York")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")
# A Tuesday: noon in New York is inside texting and calling hours everywhere in the
# lower 48; 22:30 is outside them in New York.
NOON_NY = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=NEW_YORK)
LATE_NY = datetime.datetime(2026, 12, 1, 22, 30, tzinfo=NEW_YORK)
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def _noon_in_new_york():
    with time_machine.travel(NOON_NY, tick=False):
        yield


@pytest.fixture(autouse=True)
def _empty_sms_outbox():
    locmem.reset()
    yield
    locmem.reset()


@pytest.fixture
def lead(team_a, counselor):
    return make_lead(
        team=team_a,
        owner=counselor,
        first_name="Ann",
        last_name="Baker",
        state="NY",
        phone="+12125550142",
    )


@pytest.fixture
def maya(client, counselor):
    client.force_login(counselor)
    return client


def page(lead) -> str:
    return f"/leads/{lead.pk}/"


def consent_to_texts(lead) -> None:
    consent_record(
        phone=str(lead.phone),
        kind=ConsentEvent.Kind.OPT_IN,
        source=ConsentEvent.Source.WEB_FORM,
        lead=lead,
        text="I agree to receive texts about my inquiry.",
    )


def stage_options(html: str) -> list[str]:
    select = re.search(r'<select name="to".*?</select>', html, re.S).group(0)
    return [value for value in re.findall(r'value="([^"]*)"', select) if value]


def add_call_with_recording(lead, counselor) -> Call:
    call = Call.objects.create(
        direction=Call.Direction.INBOUND,
        status=Call.Status.COMPLETED,
        lead=lead,
        counselor=counselor,
        duration_seconds=154,
        recording_url="https://api.twilio.com/recordings/RE123",
        recording_duration=150,
        transcription="I need help for my brother.",
        disposition="reached",
    )
    Activity.objects.create(
        lead=lead,
        kind=Activity.Kind.CALL,
        summary="Call answered by Maya Torres",
        data={"call": call.pk, "direction": call.direction},
    )
    return call


# --- The page -------------------------------------------------------------------------


def test_the_page_shows_every_kind_of_timeline_item(lead, counselor, maya):
    # Given a lead with a note, a stage change, a text and a recorded call
    consent_to_texts(lead)
    lead_add_note(lead=lead, by=counselor, body="Mother called, wants IOP")
    lead_transition(lead=lead, to=Stage.ATTEMPTING_CONTACT, by=counselor)
    message_send_manual(lead=lead, by=counselor, body="Hi Ann, this is Maya")
    add_call_with_recording(lead, counselor)

    # When the counselor opens the lead
    response = maya.get(page(lead))

    # Then every kind shows on one timeline, with the text's delivery status
    # and a player for the recording
    html = response.content.decode()
    assert response.status_code == 200
    assert "Mother called, wants IOP" in html
    assert "Moved from New to Attempting contact" in html
    assert 'class="sms-bubble sms-out"' in html
    assert "Hi Ann, this is Maya" in html
    assert "Waiting to send" in html
    assert (
        '<audio controls preload="none" src="https://api.twilio.com/recordings/RE123">'
        in html
    )
    assert "I need help for my brother." in html
    assert "2:34" in html  # the call's duration
    assert 'class="kind-note"' in html
    assert 'class="kind-stage_change"' in html


def test_the_header_shows_stage_owner_local_time_and_the_sla_countdown(
    team_a, counselor, maya
):
    due = NOON_NY + datetime.timedelta(minutes=5)
    lead = make_lead(
        team=team_a, owner=counselor, state="CA", phone="+13105550142", sla_due_at=due
    )

    html = maya.get(page(lead)).content.decode()

    assert 'class="badge stage-new"' in html
    assert "Maya Torres" in html
    assert 'href="tel:+13105550142"' in html
    assert "Tue 09:00 PST" in html  # the lead's own clock
    assert 'class="countdown ok"' in html
    assert f'data-due="{due.isoformat()}"' in html


def test_a_crisis_lead_shows_the_988_and_911_script(team_a, counselor, maya):
    lead = make_lead(team=team_a, owner=counselor, urgency="crisis")

    html = maya.get(page(lead)).content.decode()

    assert 'role="alert"' in html
    assert "call 911" in html
    assert "988" in html


def test_the_member_id_is_masked_but_for_its_last_four(team_a, counselor, maya):
    lead = make_lead(
        team=team_a,
        owner=counselor,
        insurance_payer="Aetna",
        insurance_member_id="W123456789",
    )

    html = maya.get(page(lead)).content.decode()

    assert "Aetna" in html
    assert "•••• 6789" in html
    assert "W123456789" not in html


def test_only_the_allowed_stage_moves_are_offered(lead, maya):
    html = maya.get(page(lead)).content.decode()

    assert stage_options(html) == [
        Stage.ATTEMPTING_CONTACT,
        Stage.CONTACTED,
        Stage.LOST,
        Stage.REFERRED_OUT,
    ]


def test_another_teams_lead_is_a_404_for_the_page_and_every_action(
    team_b, other_counselor, maya
):
    foreign = make_lead(team=team_b, owner=other_counselor)
    actions = ["note/", "text/", "call/", "call-outcome/", "callbacks/", "stage/"]

    assert maya.get(page(foreign)).status_code == 404
    for action in actions:
        response = maya.post(page(foreign) + action, {"body": "hello"})
        assert response.status_code == 404, action
    assert not Activity.objects.filter(lead=foreign, kind="note").exists()
    assert maya.get("/leads/99999999999999999999/").status_code == 404


def test_signed_out_people_are_sent_to_sign_in(lead, client):
    response = client.get(page(lead))

    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_every_view_of_the_page_is_audited(lead, counselor, maya):
    maya.get(page(lead))
    maya.get(page(lead))

    views = AuditEvent.objects.filter(
        action="view", object_type="lead", lead_id=lead.pk, actor=counselor
    )
    assert views.count() == 2


def _busy_lead(lead, counselor, events: int) -> None:
    consent_to_texts(lead)
    for n in range(events):
        lead_add_note(lead=lead, by=counselor, body=f"Note {n}")
        message_send_manual(lead=lead, by=counselor, body=f"Text {n}")
        add_call_with_recording(lead, counselor)


@pytest.mark.parametrize("events", [1, 30])
def test_the_page_reads_a_fixed_number_of_queries_however_long_the_timeline(
    lead, counselor, supervisor, client, django_assert_max_num_queries, events
):
    _busy_lead(lead, counselor, events)
    CallBack.objects.create(
        lead=lead, owner=counselor, due_at=NOON_NY, reason="scheduled"
    )
    client.force_login(supervisor)

    # The page's own 20, and at most three for each of the four admissions cards.
    with django_assert_max_num_queries(20 + 4 * 3):
        response = client.get(page(lead))

    assert response.status_code == 200


# --- Notes ---------------------------------------------------------------------------


def test_a_note_is_added_and_the_page_comes_back_with_a_message(lead, maya):
    response = maya.post(page(lead) + "note/", {"body": "Left a message with mom"})

    assert response.status_code == 302
    assert response["Location"] == page(lead) + "#panel-note"
    html = maya.get(response["Location"]).content.decode()
    assert "Note added." in html
    assert "Left a message with mom" in html


def test_with_htmx_an_action_swaps_its_panels_and_toasts(lead, maya):
    response = maya.post(page(lead) + "note/", {"body": "Called back"}, **HTMX)

    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert '<section id="panel-note"' in html
    assert 'id="lead-timeline"' in html
    assert 'hx-swap-oob="true"' in html
    assert "Called back" in html
    assert response["HX-Trigger"] == '{"crm:toast": "Note added."}'


# --- Texts ---------------------------------------------------------------------------


def test_texting_a_consenting_lead_queues_the_text(lead, maya):
    consent_to_texts(lead)

    response = maya.post(
        page(lead) + "text/", {"body": "Hi Ann, a good time to talk?"}, follow=True
    )

    message = Message.objects.get(lead=lead, kind=Message.Kind.MANUAL)
    assert message.status == Message.Status.PENDING
    assert message.body.startswith("Hi Ann, a good time to talk?")
    assert "Text queued." in response.content.decode()


def test_without_consent_the_page_warns_and_a_text_is_recorded_as_blocked(lead, maya):
    before = maya.get(page(lead)).content.decode()
    assert "No consent to text this number on record" in before

    response = maya.post(page(lead) + "text/", {"body": "Hi Ann"}, follow=True)

    message = Message.objects.get(lead=lead)
    assert message.status == Message.Status.BLOCKED
    assert message.blocked_reason == Message.BlockedReason.NO_CONSENT
    assert locmem.outbox == []
    html = response.content.decode()
    assert "Text not sent" in html
    assert "No consent to text this number" in html


def test_a_blocked_text_with_htmx_is_a_409_that_keeps_the_words(lead, maya):
    response = maya.post(page(lead) + "text/", {"body": "Hi Ann"}, **HTMX)

    assert response.status_code == 409
    html = response.content.decode()
    assert "Text not sent" in html
    assert "Hi Ann</textarea>" in html


def test_quiet_hours_are_shown_before_sending_and_need_the_override(
    lead, counselor, maya
):
    consent_to_texts(lead)

    with time_machine.travel(LATE_NY, tick=False):
        maya.force_login(counselor)  # hours later: signed out for inactivity
        html = maya.get(page(lead)).content.decode()
        refused = maya.post(page(lead) + "text/", {"body": "Hi"})
        sent = maya.post(
            page(lead) + "text/", {"body": "Hi", "override_quiet_hours": "on"}
        )

    assert "Quiet hours: it is 22:30 EST for this lead" in html
    assert 'name="override_quiet_hours"' in html
    assert refused.status_code == 302
    assert sent.status_code == 302
    statuses = list(Message.objects.order_by("id").values_list("status", flat=True))
    assert statuses == [Message.Status.BLOCKED, Message.Status.PENDING]


def test_a_template_fills_the_text_box(lead, maya):
    response = maya.get(page(lead) + "text/?template=missed_call", **HTMX)

    html = response.content.decode()
    assert response.status_code == 200
    assert "Hi Ann, sorry we missed your call. This is Maya" in html
    without_js = maya.get(page(lead) + "text/?template=missed_call")
    assert without_js.status_code == 302
    assert (
        "sorry we missed your call" in maya.get(without_js["Location"]).content.decode()
    )


# --- Calls ---------------------------------------------------------------------------


def test_click_to_call_rings_the_counselor_first(lead, counselor, maya):
    User.objects.filter(pk=counselor.pk).update(phone="+13055550111")

    response = maya.post(page(lead) + "call/", follow=True)

    call = Call.objects.get(lead=lead)
    assert call.direction == Call.Direction.OUTBOUND
    assert call.status != Call.Status.BLOCKED
    assert "Calling your phone" in response.content.decode()


def test_click_to_call_without_your_own_phone_says_so_and_places_nothing(lead, maya):
    response = maya.post(page(lead) + "call/")

    assert response.status_code == 400
    assert "Your profile has no phone number" in response.content.decode()
    assert not Call.objects.exists()


def test_a_do_not_call_number_is_refused_and_the_refusal_recorded(
    lead, counselor, maya
):
    User.objects.filter(pk=counselor.pk).update(phone="+13055550111")
    do_not_call_add(phone=str(lead.phone), by=counselor)

    page_html = maya.get(page(lead)).content.decode()
    response = maya.post(page(lead) + "call/", **HTMX)

    assert "on the do-not-call list" in page_html
    assert response.status_code == 409
    assert "Call not placed: This number asked not to be called." in (
        response.content.decode()
    )
    assert Call.objects.get(lead=lead).status == Call.Status.BLOCKED


def test_outside_calling_hours_a_call_needs_the_override(lead, counselor, maya):
    User.objects.filter(pk=counselor.pk).update(phone="+13055550111")

    with time_machine.travel(LATE_NY, tick=False):
        maya.force_login(counselor)  # hours later: signed out for inactivity
        html = maya.get(page(lead)).content.decode()
        refused = maya.post(page(lead) + "call/", follow=True)
        placed = maya.post(page(lead) + "call/", {"override_quiet_hours": "on"})

    assert "Outside calling hours" in html
    assert "Call not placed" in refused.content.decode()
    assert placed.status_code == 302
    statuses = list(Call.objects.order_by("id").values_list("status", flat=True))
    assert statuses[0] == Call.Status.BLOCKED
    assert statuses[1] != Call.Status.BLOCKED


def test_no_answer_schedules_the_next_attempt_and_the_page_shows_it(lead, maya):
    response = maya.post(
        page(lead) + "call-outcome/", {"disposition": "no_answer"}, follow=True
    )

    attempt = CallBack.objects.get(lead=lead, reason=CallBack.Reason.CADENCE)
    assert attempt.status == CallBack.Status.PENDING
    html = response.content.decode()
    # 5 minutes after noon, in the lead's zone, which is also the center's
    assert "Next attempt scheduled for Tue Dec 1 12:05 EST." in html
    assert "Follow-up attempt" in html  # in the open call-backs list
    assert Lead.objects.get(pk=lead.pk).stage == Stage.ATTEMPTING_CONTACT


def test_call_back_later_needs_a_time_and_uses_the_leads_clock(team_a, counselor, maya):
    lead = make_lead(team=team_a, owner=counselor, state="CA")

    missing = maya.post(
        f"/leads/{lead.pk}/call-outcome/", {"disposition": "call_back_later"}
    )
    logged = maya.post(
        f"/leads/{lead.pk}/call-outcome/",
        {"disposition": "call_back_later", "call_back_at": "2026-12-01T15:00"},
    )

    assert missing.status_code == 400
    assert "Say when to call back." in missing.content.decode()
    assert logged.status_code == 302
    callback = CallBack.objects.get(lead=lead, reason=CallBack.Reason.SCHEDULED)
    assert callback.due_at == datetime.datetime(2026, 12, 1, 15, 0, tzinfo=LOS_ANGELES)


# --- Call-backs ----------------------------------------------------------------------


def test_a_call_back_is_read_in_the_leads_time_zone_and_shown_in_both(
    team_a, counselor, maya
):
    lead = make_lead(team=team_a, owner=counselor, state="CA")

    form = maya.get(f"/leads/{lead.pk}/").content.decode()
    response = maya.post(
        f"/leads/{lead.pk}/callbacks/",
        {"due_at": "2026-12-02T10:00", "note": "After her shift"},
        follow=True,
    )

    assert "in the lead&#x27;s time zone: PST, America/Los_Angeles" in form
    callback = CallBack.objects.get(lead=lead, reason=CallBack.Reason.SCHEDULED)
    assert callback.due_at == datetime.datetime(2026, 12, 2, 10, 0, tzinfo=LOS_ANGELES)
    assert "Call-back set for Wed Dec 2 10:00 PST (13:00 EST here)." in (
        response.content.decode()
    )


def test_an_open_call_back_can_be_cancelled(lead, counselor, maya):
    callback = CallBack.objects.create(
        lead=lead,
        owner=counselor,
        due_at=NOON_NY + datetime.timedelta(days=1),
        reason=CallBack.Reason.SCHEDULED,
    )

    response = maya.post(f"/leads/{lead.pk}/callbacks/{callback.pk}/cancel/")

    assert response.status_code == 302
    callback.refresh_from_db()
    assert callback.status == CallBack.Status.CANCELLED


# --- Stages --------------------------------------------------------------------------


def test_lost_without_a_reason_is_a_400_with_the_error_and_nothing_changes(lead, maya):
    changes = StageChange.objects.filter(lead=lead).count()

    response = maya.post(page(lead) + "stage/", {"to": "lost"})

    html = response.content.decode()
    assert response.status_code == 400
    assert "Choose why the lead is lost." in html
    assert 'aria-invalid="true"' in html
    assert 'aria-describedby="stage_lost_reason_error"' in html
    assert 'id="stage_lost_reason_error"' in html
    assert Lead.objects.get(pk=lead.pk).stage == Stage.NEW
    assert StageChange.objects.filter(lead=lead).count() == changes


def test_lost_with_a_reason_closes_the_lead(lead, maya):
    response = maya.post(
        page(lead) + "stage/",
        {"to": "lost", "lost_reason": LostReason.NOT_READY, "note": "Call in spring"},
    )

    assert response.status_code == 302
    lead.refresh_from_db()
    assert lead.stage == Stage.LOST
    assert lead.lost_reason == LostReason.NOT_READY


def test_referred_out_needs_the_partner(lead, maya):
    response = maya.post(page(lead) + "stage/", {"to": "referred_out"}, **HTMX)

    assert response.status_code == 400
    assert "Name the program the lead goes to." in response.content.decode()
    assert Lead.objects.get(pk=lead.pk).stage == Stage.NEW


def test_a_move_that_is_not_allowed_is_refused(lead, maya):
    response = maya.post(page(lead) + "stage/", {"to": "admitted"})

    assert response.status_code == 400
    assert Lead.objects.get(pk=lead.pk).stage == Stage.NEW


def test_a_new_lead_moves_on_and_the_stage_offers_follow(lead, maya):
    response = maya.post(page(lead) + "stage/", {"to": "contacted"}, follow=True)

    html = response.content.decode()
    assert "Moved to Contacted." in html
    assert stage_options(html) == [
        Stage.ASSESSMENT,
        Stage.INSURANCE_VERIFICATION,
        Stage.LOST,
        Stage.REFERRED_OUT,
    ]


# --- Reassigning ---------------------------------------------------------------------


def test_a_counselor_cannot_reassign(lead, teammate, maya):
    html = maya.get(page(lead)).content.decode()
    response = maya.post(
        page(lead) + "reassign/", {"team": lead.team_id, "owner": teammate.pk}
    )

    assert 'id="panel-reassign"' not in html
    assert response.status_code == 403
    assert Lead.objects.get(pk=lead.pk).owner_id != teammate.pk


def test_a_supervisor_reassigns_within_the_team(lead, teammate, supervisor, client):
    client.force_login(supervisor)

    response = client.post(
        page(lead) + "reassign/", {"team": lead.team_id, "owner": teammate.pk}
    )

    assert response.status_code == 302
    assert Lead.objects.get(pk=lead.pk).owner == teammate


def test_the_owner_list_follows_the_chosen_team(
    lead, supervisor, team_b, other_counselor, client
):
    team_b.supervisors.add(supervisor)
    client.force_login(supervisor)

    response = client.get(page(lead) + f"reassign/?team={team_b.pk}", **HTMX)

    html = response.content.decode()
    assert "Sam Okafor" in html
    assert "Maya Torres" not in html


# --- Bad input -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "data", "error"),
    [
        ("note/", {"body": "   "}, "This field is required."),
        ("note/", {"body": "x" * 10_001}, "at most 10000 characters"),
        ("text/", {"body": ""}, "This field is required."),
        ("text/", {"body": "x" * 1601}, "at most 1600 characters"),
        ("call-outcome/", {"disposition": "maybe"}, "Select a valid choice"),
        ("callbacks/", {"due_at": "tomorrow-ish"}, "Enter a date and time"),
        ("callbacks/", {"due_at": "2026-11-30T10:00"}, "Choose a time in the future."),
        ("callbacks/", {"due_at": "2031-01-01T10:00"}, "within the next year"),
        ("stage/", {"to": ""}, "This field is required."),
    ],
)
def test_bad_input_is_a_400_with_field_errors_and_writes_nothing(
    lead, maya, action, data, error
):
    activities = Activity.objects.count()
    callbacks = CallBack.objects.count()

    plain = maya.post(page(lead) + action, data)
    swapped = maya.post(page(lead) + action, data, **HTMX)

    for response in (plain, swapped):
        assert response.status_code == 400
        html = response.content.decode()
        assert error in html
        assert 'class="field-error"' in html
        assert 'aria-invalid="true"' in html
    assert "<html" in plain.content.decode()
    assert "<html" not in swapped.content.decode()
    assert Activity.objects.count() == activities
    assert CallBack.objects.count() == callbacks
    assert not Message.objects.exists()


def test_actions_take_posts_only(lead, maya):
    assert maya.get(page(lead) + "note/").status_code == 405
    assert maya.get(page(lead) + "stage/").status_code == 405


def test_a_closed_lead_offers_no_call_logging(lead, counselor, maya):
    lead_call_log(lead=lead, by=counselor, disposition="reached")
    lead_transition(
        lead=Lead.objects.get(pk=lead.pk),
        to=Stage.LOST,
        by=counselor,
        reason=LostReason.SPAM,
    )

    html = maya.get(page(lead)).content.decode()

    assert "This lead is closed: reopen it to log calls." in html
    assert stage_options(html) == [Stage.CONTACTED]


def test_the_window_title_names_the_lead_by_id_only(lead, maya):
    # The title is kept in browser history and shown in the taskbar.
    html = maya.get(page(lead)).content.decode()
    title = re.search(r"<title>(.*?)</title>", html, re.S).group(1)
    assert "#" + str(lead.pk) in title
    assert "Ann" not in title
    assert "Baker" not in title
