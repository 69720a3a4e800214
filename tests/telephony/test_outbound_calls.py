"""Click-to-call: the counselor's phone rings first, then the lead is dialled."""

import datetime

import pytest
import time_machine
from django.conf import settings

from crm.models import AuditEvent, User
from leads.models import Activity, CallBack, Stage
from telephony.backends import locmem
from telephony.backends.base import VoiceError
from telephony.models import Call
from telephony.services import do_not_call_add

from ..factories import make_lead
from .test_inbound_calls import NEW_YORK, OUTBOUND, STATUS, said, twiml

WEEKDAY_2PM_NY = datetime.datetime(2026, 12, 1, 14, 0, tzinfo=NEW_YORK)
WEEKDAY_1030PM_NY = datetime.datetime(2026, 12, 1, 22, 30, tzinfo=NEW_YORK)
MAYA_PHONE = "+13055550111"
LEAD_PHONE = "+12125550142"


@pytest.fixture
def maya(counselor):
    User.objects.filter(pk=counselor.pk).update(phone=MAYA_PHONE)
    counselor.refresh_from_db()
    return counselor


@pytest.fixture
def lead(team_a, maya):
    return make_lead(
        team=team_a, owner=maya, first_name="Casey", state="NY", phone=LEAD_PHONE
    )


def click_to_call(client, lead, **body):
    return client.post(f"/api/v1/leads/{lead.pk}/call/", body, format="json")


@time_machine.travel(WEEKDAY_2PM_NY, tick=False)
def test_click_to_call_rings_the_counselor_first_with_our_twiml(maya, lead, client_for):
    response = click_to_call(client_for(maya), lead)

    assert response.status_code == 201, response.data
    [placed] = locmem.placed
    call = Call.objects.get(pk=response.data["id"])
    assert (placed.to, placed.from_) == (MAYA_PHONE, settings.VOICE_CALLER_ID)
    assert placed.url.endswith(f"{OUTBOUND}?call={call.pk}")
    assert placed.status_callback.endswith(f"{STATUS}?call={call.pk}")
    assert (call.direction, call.sid, call.counselor) == ("outbound", placed.sid, maya)
    assert Activity.objects.filter(lead=lead, summary=f"Call placed by {maya}").exists()


@time_machine.travel(WEEKDAY_2PM_NY, tick=False)
def test_the_counselor_answering_is_connected_to_the_lead_with_our_caller_id(
    maya, lead, client_for, twilio_post
):
    call_id = click_to_call(client_for(maya), lead).data["id"]

    root = twiml(twilio_post(f"{OUTBOUND}?call={call_id}", {"CallSid": "CAx"}))

    assert said(root) == ["Connecting you to Casey."]
    dial = root.find("Dial")
    assert dial.get("callerId") == settings.VOICE_CALLER_ID
    assert dial.find("Number").text == LEAD_PHONE


@time_machine.travel(WEEKDAY_2PM_NY, tick=False)
def test_a_do_not_call_number_is_refused_and_recorded(maya, lead, client_for):
    do_not_call_add(phone=LEAD_PHONE, by=maya, reason="Asked on the phone")

    response = click_to_call(client_for(maya), lead)

    assert response.status_code == 409
    assert response.data["reason"] == "do_not_call"
    assert locmem.placed == []
    call = Call.objects.get(pk=response.data["call"]["id"])
    assert call.status == Call.Status.BLOCKED
    assert Activity.objects.filter(
        lead=lead, summary__startswith="Call not placed"
    ).exists()


@time_machine.travel(WEEKDAY_1030PM_NY, tick=False)
def test_outside_calling_hours_a_call_needs_an_override_which_is_logged(
    maya, lead, client_for
):
    client = client_for(maya)

    refused = click_to_call(client, lead)
    allowed = click_to_call(client, lead, override_quiet_hours=True)

    assert refused.status_code == 409
    assert refused.data["reason"] == "quiet_hours"
    assert allowed.status_code == 201
    assert len(locmem.placed) == 1
    call = Call.objects.get(pk=allowed.data["id"])
    assert call.quiet_hours_override
    assert AuditEvent.objects.filter(
        object_type="call", object_id=str(call.pk), detail__contains="override"
    ).exists()


def test_a_counselor_without_a_phone_is_told_to_add_one(counselor, team_a, client_for):
    lead = make_lead(team=team_a, owner=counselor, state="NY")

    response = click_to_call(client_for(counselor), lead)

    assert response.status_code == 400
    assert "phone" in response.data["errors"]
    assert Call.objects.count() == 0


def test_another_teams_lead_cannot_be_called(maya, team_b, other_counselor, client_for):
    foreign = make_lead(team=team_b, owner=other_counselor, state="NY")

    response = click_to_call(client_for(maya), foreign)

    assert response.status_code == 404
    assert locmem.placed == []


@time_machine.travel(WEEKDAY_2PM_NY, tick=False)
def test_a_provider_failure_is_502_and_the_call_is_marked_failed(
    maya, lead, client_for
):
    locmem.fail_next(VoiceError("Twilio refused the call (error 21211)."))

    response = click_to_call(client_for(maya), lead)

    assert response.status_code == 502
    call = Call.objects.get(pk=response.data["call"]["id"])
    assert call.status == Call.Status.FAILED
    assert "21211" in call.error_message


@time_machine.travel(WEEKDAY_2PM_NY, tick=True)
def test_status_callbacks_complete_the_outbound_call(
    maya, lead, client_for, twilio_post
):
    call_id = click_to_call(client_for(maya), lead).data["id"]
    sid = Call.objects.get(pk=call_id).sid

    for status in ("initiated", "ringing", "in-progress", "completed"):
        params = {"CallSid": sid, "CallStatus": status}
        if status == "completed":
            params["CallDuration"] = "95"
        assert twilio_post(f"{STATUS}?call={call_id}", params).status_code == 204

    call = Call.objects.get(pk=call_id)
    assert call.status == Call.Status.COMPLETED
    assert call.answered_at is not None
    assert call.ended_at is not None
    assert call.duration_seconds == 95


@time_machine.travel(WEEKDAY_2PM_NY, tick=False)
def test_the_disposition_is_kept_on_the_call_and_drives_the_cadence(
    maya, lead, client_for
):
    client = client_for(maya)
    call_id = click_to_call(client, lead).data["id"]

    response = client.post(
        f"/api/v1/leads/{lead.pk}/call-outcomes/",
        {"disposition": "no_answer", "call": call_id},
        format="json",
    )

    assert response.status_code == 201, response.data
    call = Call.objects.get(pk=call_id)
    assert (call.disposition, call.disposition_by) == ("no_answer", maya)
    follow_up = CallBack.objects.get(lead=lead, reason=CallBack.Reason.CADENCE)
    assert follow_up.attempt == 1
    lead.refresh_from_db()
    assert lead.stage == Stage.ATTEMPTING_CONTACT


@time_machine.travel(WEEKDAY_2PM_NY, tick=False)
def test_a_disposition_naming_another_leads_call_is_refused(
    maya, lead, team_a, client_for
):
    other = make_lead(team=team_a, owner=maya, state="NY")
    client = client_for(maya)
    call_id = click_to_call(client, other).data["id"]

    response = client.post(
        f"/api/v1/leads/{lead.pk}/call-outcomes/",
        {"disposition": "reached", "call": call_id},
        format="json",
    )

    assert response.status_code == 400
    assert "call" in response.data["errors"]
    assert Call.objects.get(pk=call_id).disposition == ""
