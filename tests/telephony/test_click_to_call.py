"""Click-to-call: the counselor's phone rings first, then the lead is dialled
with the center's caller ID; refused (and recorded) for do-not-call numbers and
outside the lead's calling hours unless overridden; the outcome drives the cadence."""

import datetime
import xml.etree.ElementTree as ET
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings

from crm.models import AuditEvent, User
from leads.models import Activity, CallBack, Stage
from telephony.backends import locmem
from telephony.backends.base import VoiceError
from telephony.models import Call
from telephony.selectors import counselors_to_ring
from telephony.services import do_not_call_add, do_not_call_contains
from tests.fakes.twilio_server import FakeTwilio

from ..factories import make_lead

NEW_YORK = ZoneInfo("America/New_York")
# A Tuesday: 14:00 is inside calling hours in New York, 22:30 is not.
AFTERNOON_NY = datetime.datetime(2026, 12, 1, 14, 0, tzinfo=NEW_YORK)
LATE_EVENING_NY = datetime.datetime(2026, 12, 1, 22, 30, tzinfo=NEW_YORK)
OUTBOUND = "/twilio/voice/outbound/"
STATUS = "/twilio/voice/status/"
MAYA_PHONE = "+13055550111"
LEAD_PHONE = "+12125550142"


@pytest.fixture
def maya(counselor):
    User.objects.filter(pk=counselor.pk).update(
        phone=MAYA_PHONE, presence=User.Presence.AVAILABLE
    )
    counselor.refresh_from_db()
    return counselor


@pytest.fixture
def lead(team_a, maya):
    return make_lead(
        team=team_a, owner=maya, first_name="Casey", state="NY", phone=LEAD_PHONE
    )


@pytest.fixture
def afternoon():
    with time_machine.travel(AFTERNOON_NY, tick=False) as traveller:
        yield traveller


@pytest.fixture
def late_evening():
    with time_machine.travel(LATE_EVENING_NY, tick=False) as traveller:
        yield traveller


def click_to_call(client, lead, **body):
    return client.post(f"/api/v1/leads/{lead.pk}/call/", body, format="json")


def log_outcome(client, lead, **body):
    return client.post(f"/api/v1/leads/{lead.pk}/call-outcomes/", body, format="json")


def public(path: str) -> str:
    return settings.PUBLIC_BASE_URL.rstrip("/") + path


def twiml(response) -> ET.Element:
    assert response.status_code == 200, response.content[:300]
    root = ET.fromstring(response.content)  # noqa: S314 - our own answer
    assert root.tag == "Response"
    return root


def audit_details(call_id: int) -> list[str]:
    return list(
        AuditEvent.objects.filter(object_type="call", object_id=str(call_id))
        .order_by("pk")
        .values_list("detail", flat=True)
    )


# --- Placing the call -------------------------------------------------------------


@pytest.mark.usefixtures("afternoon")
def test_click_to_call_rings_the_counselor_from_the_center_number(
    maya, lead, client_for
):
    response = click_to_call(client_for(maya), lead)

    assert response.status_code == 201, response.data
    [placed] = locmem.placed
    call = Call.objects.get(pk=response.data["id"])
    assert (placed.to, placed.from_) == (MAYA_PHONE, settings.VOICE_CALLER_ID)
    assert placed.url == public(f"{OUTBOUND}?call={call.pk}")
    assert placed.status_callback == public(f"{STATUS}?call={call.pk}")
    assert (call.direction, call.status, call.sid) == (
        Call.Direction.OUTBOUND,
        Call.Status.QUEUED,
        placed.sid,
    )
    assert (call.counselor, call.lead, call.to_number) == (maya, lead, LEAD_PHONE)
    assert not call.quiet_hours_override
    assert response.data["sid"] == placed.sid


@pytest.mark.usefixtures("afternoon")
def test_a_placed_call_lands_on_the_timeline_and_the_audit_trail(
    maya, lead, client_for
):
    client = client_for(maya)
    call_id = click_to_call(client, lead).data["id"]

    timeline = client.get(f"/api/v1/leads/{lead.pk}/timeline/").data["results"]

    [line] = [row for row in timeline if (row["data"] or {}).get("call") == call_id]
    assert line["summary"] == f"Call placed by {maya}"
    assert line["call"]["status"] == Call.Status.QUEUED
    assert audit_details(call_id) == ["placed"]


@pytest.mark.usefixtures("afternoon")
def test_the_counselor_answering_is_connected_to_the_lead_with_our_caller_id(
    maya, lead, client_for, twilio_post
):
    call_id = click_to_call(client_for(maya), lead).data["id"]

    # The counselor's phone answers: a key press, not their voicemail, goes on.
    prompt = twiml(twilio_post(f"{OUTBOUND}?call={call_id}", {"CallSid": "CAx"}))
    gather = prompt.find("Gather")
    assert gather.find("Say").text == "Press 1 to call Casey."
    assert gather.get("action").endswith(f"{OUTBOUND}?call={call_id}&step=key")
    root = twiml(
        twilio_post(
            f"{OUTBOUND}?call={call_id}&step=key", {"CallSid": "CAx", "Digits": "1"}
        )
    )

    assert [child.tag for child in root] == ["Say", "Dial"]
    assert root.find("Say").text == "Connecting you to Casey."
    dial = root.find("Dial")
    assert dial.get("callerId") == settings.VOICE_CALLER_ID
    assert [number.text for number in dial.findall("Number")] == [LEAD_PHONE]
    # On the phone now: no inbound call rings them, no new lead is routed to them.
    maya.refresh_from_db()
    assert maya.presence == User.Presence.BUSY


def test_the_outbound_twiml_needs_twilios_signature(maya, twilio_post):
    response = twilio_post(f"{OUTBOUND}?call=1", {"CallSid": "CAx"}, signature="x")

    assert response.status_code == 403


# --- Do-not-call and calling hours ------------------------------------------------


@pytest.mark.usefixtures("afternoon")
def test_a_do_not_call_number_is_refused_and_recorded(maya, lead, client_for):
    do_not_call_add(phone="(212) 555-0142", by=maya, reason="Asked on the phone")

    response = click_to_call(client_for(maya), lead)

    assert response.status_code == 409
    assert response.data["reason"] == "do_not_call"
    assert response.data["detail"]
    assert locmem.placed == []
    call = Call.objects.get(pk=response.data["call"]["id"])
    assert (call.status, call.sid) == (Call.Status.BLOCKED, None)
    assert Activity.objects.filter(
        lead=lead, summary__startswith="Call not placed", data__call=call.pk
    ).exists()
    assert audit_details(call.pk) == ["do_not_call"]


def test_the_do_not_call_list_matches_a_number_in_any_notation(maya):
    do_not_call_add(phone=LEAD_PHONE, by=maya)

    assert do_not_call_contains("(212) 555-0142")
    assert do_not_call_contains(LEAD_PHONE)
    assert not do_not_call_contains("+12125550143")
    assert not do_not_call_contains("")


@pytest.mark.usefixtures("late_evening")
def test_outside_calling_hours_the_call_is_refused_and_says_when_it_may_be_made(
    maya, lead, client_for
):
    response = click_to_call(client_for(maya), lead)

    assert response.status_code == 409
    assert response.data["reason"] == "quiet_hours"
    # In the lead's own time, when calling opens again.
    assert "Dec 2 08:00 EST" in response.data["detail"]
    assert locmem.placed == []
    call = Call.objects.get(pk=response.data["call"]["id"])
    assert call.status == Call.Status.BLOCKED
    assert not call.quiet_hours_override
    assert audit_details(call.pk) == ["quiet_hours"]


def test_a_refusal_names_the_opening_time_in_the_leads_own_time(
    maya, team_a, client_for
):
    lead = make_lead(team=team_a, owner=maya, state="CA")
    late_in_california = datetime.datetime(
        2026, 12, 1, 22, 30, tzinfo=ZoneInfo("America/Los_Angeles")
    )

    with time_machine.travel(late_in_california, tick=False):
        response = click_to_call(client_for(maya), lead)

    assert response.status_code == 409
    assert "Dec 2 08:00 PST" in response.data["detail"]


@pytest.mark.usefixtures("late_evening")
def test_an_override_places_the_call_and_is_logged(maya, lead, client_for):
    response = click_to_call(client_for(maya), lead, override_quiet_hours=True)

    assert response.status_code == 201, response.data
    assert response.data["quiet_hours_override"] is True
    assert len(locmem.placed) == 1
    call = Call.objects.get(pk=response.data["id"])
    assert call.quiet_hours_override
    assert audit_details(call.pk) == ["placed quiet-hours-override"]
    assert Activity.objects.filter(
        lead=lead, data__call=call.pk, summary__contains="override"
    ).exists()


@pytest.mark.usefixtures("afternoon")
def test_an_override_inside_calling_hours_is_not_logged_as_one(maya, lead, client_for):
    response = click_to_call(client_for(maya), lead, override_quiet_hours=True)

    assert response.status_code == 201
    assert response.data["quiet_hours_override"] is False
    assert audit_details(response.data["id"]) == ["placed"]


@pytest.mark.usefixtures("late_evening")
def test_the_override_does_not_reach_a_do_not_call_number(maya, lead, client_for):
    do_not_call_add(phone=LEAD_PHONE, by=maya)

    response = click_to_call(client_for(maya), lead, override_quiet_hours=True)

    assert response.status_code == 409
    assert response.data["reason"] == "do_not_call"
    assert locmem.placed == []


@pytest.mark.usefixtures("afternoon")
def test_a_counselors_voicemail_answering_never_dials_the_lead(
    maya, lead, client_for, twilio_post
):
    call_id = click_to_call(client_for(maya), lead).data["id"]
    path = f"{OUTBOUND}?call={call_id}&step=key"

    # Voicemail presses nothing (Gather times out to the hang-up); a wrong key too.
    prompt = twiml(twilio_post(f"{OUTBOUND}?call={call_id}", {"CallSid": "CAx"}))
    wrong_key = twiml(twilio_post(path, {"CallSid": "CAx", "Digits": "9"}))

    assert [child.tag for child in prompt] == ["Gather", "Say", "Hangup"]
    assert prompt.find("Dial") is None
    assert [child.tag for child in wrong_key] == ["Hangup"]


@pytest.mark.usefixtures("afternoon")
def test_a_number_put_on_the_list_while_the_counselor_picks_up_is_not_dialled(
    maya, lead, client_for, twilio_post
):
    call_id = click_to_call(client_for(maya), lead).data["id"]
    do_not_call_add(phone=LEAD_PHONE, by=maya)

    root = twiml(twilio_post(f"{OUTBOUND}?call={call_id}", {"CallSid": "CAx"}))

    assert root.find("Dial") is None
    assert root.find("Hangup") is not None


# --- Refusals of the request ------------------------------------------------------


@pytest.mark.usefixtures("afternoon")
def test_a_counselor_without_a_phone_is_told_to_add_one(counselor, team_a, client_for):
    lead = make_lead(team=team_a, owner=counselor, state="NY")

    response = click_to_call(client_for(counselor), lead)

    assert response.status_code == 400
    assert "phone" in response.data["errors"]
    assert Call.objects.count() == 0
    assert locmem.placed == []


@pytest.mark.usefixtures("afternoon")
def test_another_teams_lead_cannot_be_called(maya, team_b, other_counselor, client_for):
    foreign = make_lead(team=team_b, owner=other_counselor, state="NY")

    response = click_to_call(client_for(maya), foreign)

    assert response.status_code == 404
    assert Call.objects.count() == 0
    assert locmem.placed == []


@pytest.mark.usefixtures("afternoon")
def test_an_unknown_field_is_refused(maya, lead, client_for):
    response = click_to_call(client_for(maya), lead, override_quiet_hour=True)

    assert response.status_code == 400
    assert Call.objects.count() == 0


# --- The provider failing ---------------------------------------------------------


@pytest.mark.usefixtures("afternoon")
def test_a_provider_failure_is_502_and_the_call_is_marked_failed(
    maya, lead, team_a, client_for
):
    locmem.fail_next(VoiceError("Twilio refused the call (error 21211).", code=21211))

    response = click_to_call(client_for(maya), lead)

    assert response.status_code == 502
    assert response.data["reason"] == "provider_error"
    assert "21211" in response.data["detail"]
    call = Call.objects.get(pk=response.data["call"]["id"])
    assert (call.status, call.sid) == (Call.Status.FAILED, None)
    assert "21211" in call.error_message
    # A call that never rang does not keep the counselor from the next inbound one.
    assert maya in counselors_to_ring(team=team_a, owner=None)


@pytest.mark.usefixtures("afternoon")
def test_an_unexpected_backend_error_leaves_no_live_call_behind(
    maya, lead, team_a, client_for
):
    locmem.fail_next(RuntimeError("bug in a backend"))

    with pytest.raises(RuntimeError):
        click_to_call(client_for(maya), lead)

    call = Call.objects.get(lead=lead)
    assert call.status == Call.Status.FAILED
    assert maya in counselors_to_ring(team=team_a, owner=None)


# --- Status callbacks -------------------------------------------------------------


def test_status_callbacks_complete_the_outbound_call_and_free_the_counselor(
    maya, lead, team_a, client_for, twilio_post, afternoon
):
    call_id = click_to_call(client_for(maya), lead).data["id"]
    sid = Call.objects.get(pk=call_id).sid

    def status(value: str, **extra: str) -> int:
        params = {"CallSid": sid, "CallStatus": value, **extra}
        return twilio_post(f"{STATUS}?call={call_id}", params).status_code

    assert status("initiated") == 204
    assert status("ringing") == 204
    afternoon.shift(datetime.timedelta(seconds=10))
    picked_up = twilio_post(f"{OUTBOUND}?call={call_id}", {"CallSid": sid})
    assert picked_up.status_code == 200
    assert status("in-progress") == 204
    during = counselors_to_ring(team=team_a, owner=None)
    afternoon.shift(datetime.timedelta(seconds=85))
    assert status("completed", CallDuration="95") == 204

    call = Call.objects.get(pk=call_id)
    assert call.status == Call.Status.COMPLETED
    assert call.answered_at == AFTERNOON_NY + datetime.timedelta(seconds=10)
    assert call.ended_at == AFTERNOON_NY + datetime.timedelta(seconds=95)
    assert (call.duration_seconds, call.talk_seconds) == (95, 85)
    assert maya not in during
    maya.refresh_from_db()
    assert maya.presence == User.Presence.AVAILABLE
    assert maya in counselors_to_ring(team=team_a, owner=None)


@pytest.mark.usefixtures("afternoon")
def test_a_late_ringing_callback_does_not_reopen_a_completed_call(
    maya, lead, client_for, twilio_post
):
    call_id = click_to_call(client_for(maya), lead).data["id"]
    sid = Call.objects.get(pk=call_id).sid
    url = f"{STATUS}?call={call_id}"

    twilio_post(url, {"CallSid": sid, "CallStatus": "completed", "CallDuration": "0"})
    twilio_post(url, {"CallSid": sid, "CallStatus": "ringing"})

    assert Call.objects.get(pk=call_id).status == Call.Status.COMPLETED


# --- The disposition --------------------------------------------------------------


@pytest.mark.usefixtures("afternoon")
def test_no_answer_on_the_call_is_kept_on_it_and_schedules_follow_up_one(
    maya, lead, client_for
):
    client = client_for(maya)
    call_id = click_to_call(client, lead).data["id"]

    response = log_outcome(client, lead, disposition="no_answer", call=call_id)

    assert response.status_code == 201, response.data
    call = Call.objects.get(pk=call_id)
    assert (call.disposition, call.disposition_by) == ("no_answer", maya)
    assert call.disposition_at == AFTERNOON_NY
    follow_up = CallBack.objects.get(lead=lead, reason=CallBack.Reason.CADENCE)
    assert follow_up.attempt == 1
    assert response.data["next_callback"]["id"] == follow_up.pk
    lead.refresh_from_db()
    assert lead.stage == Stage.ATTEMPTING_CONTACT


@pytest.mark.usefixtures("afternoon")
def test_a_disposition_naming_another_leads_call_is_refused(
    maya, lead, team_a, client_for
):
    other = make_lead(team=team_a, owner=maya, state="NY")
    client = client_for(maya)
    call_id = click_to_call(client, other).data["id"]

    response = log_outcome(client, lead, disposition="no_answer", call=call_id)

    assert response.status_code == 400
    assert "call" in response.data["errors"]
    assert Call.objects.get(pk=call_id).disposition == ""
    # Refused as a whole: the cadence did not move either.
    assert not CallBack.objects.filter(lead=lead).exists()


@pytest.mark.usefixtures("afternoon")
def test_the_same_call_is_not_counted_twice_in_the_cadence(maya, lead, client_for):
    client = client_for(maya)
    call_id = click_to_call(client, lead).data["id"]
    log_outcome(client, lead, disposition="no_answer", call=call_id)

    again = log_outcome(client, lead, disposition="no_answer", call=call_id)

    assert again.status_code == 400
    assert "call" in again.data["errors"]
    attempts = CallBack.objects.filter(lead=lead, reason=CallBack.Reason.CADENCE)
    assert list(attempts.values_list("attempt", flat=True)) == [1]


@pytest.mark.usefixtures("late_evening")
def test_a_call_that_was_never_placed_takes_no_outcome(maya, lead, client_for):
    client = client_for(maya)
    call_id = click_to_call(client, lead).data["call"]["id"]

    response = log_outcome(client, lead, disposition="no_answer", call=call_id)

    assert response.status_code == 400
    assert Call.objects.get(pk=call_id).disposition == ""
    assert not CallBack.objects.filter(lead=lead).exists()


# --- Through the real twilio client -----------------------------------------------


@pytest.fixture
def fake_twilio():
    with FakeTwilio() as fake:
        yield fake


@pytest.mark.django_db(transaction=True)
def test_a_call_through_twilio_reports_back_signed_to_our_webhooks(
    maya, lead, client_for, fake_twilio, live_server, settings
):
    settings.VOICE_BACKEND = "twilio"
    settings.TWILIO_API_BASE_URL = fake_twilio.base_url
    settings.TWILIO_ACCOUNT_SID = fake_twilio.account_sid
    settings.TWILIO_AUTH_TOKEN = fake_twilio.auth_token
    settings.PUBLIC_BASE_URL = live_server.url

    with time_machine.travel(AFTERNOON_NY, tick=True):
        response = click_to_call(client_for(maya), lead)
        assert response.status_code == 201, response.data
        call = Call.objects.get(pk=response.data["id"])
        form = fake_twilio.created_by(call.sid).form
        assert (form["To"], form["From"]) == (MAYA_PHONE, settings.VOICE_CALLER_ID)
        assert form["Url"] == f"{live_server.url}{OUTBOUND}?call={call.pk}"

        for status in ("initiated", "ringing", "in-progress"):
            assert fake_twilio.fire_call_status_callback(call.sid, status) == 204
        completed = fake_twilio.fire_call_status_callback(
            call.sid, "completed", duration=42
        )

    assert completed == 204
    call.refresh_from_db()
    assert (call.status, call.duration_seconds) == (Call.Status.COMPLETED, 42)
    assert call.answered_at is not None
    assert fake_twilio.calls[call.sid]["status"] == "completed"
