"""Status, dial and recording callbacks: idempotent, in any order, missed calls once."""

import datetime

import pytest
import time_machine

from crm.models import User
from leads.models import Activity, CallBack, Lead
from notifications.models import Alert, ConsentEvent, Message
from notifications.services import consent_record
from telephony.models import Call

from ..factories import make_lead
from .test_inbound_calls import (
    INCOMING,
    NEW_YORK,
    RECORDING,
    STATUS,
    WEEKDAY_NOON_NY,
    incoming_payload,
    new_sid,
    path_of,
    payload,
    query_of,
    said,
    twiml,
)

CALLER = "+13055550142"


@pytest.fixture
def noon():
    with time_machine.travel(WEEKDAY_NOON_NY, tick=True) as traveller:
        yield traveller


@pytest.fixture
def call_in(twilio_post, noon):
    """Post an incoming call; return the TwiML answered and the Call stored."""

    def post(params: dict | None = None):
        params = params or incoming_payload()
        root = twiml(twilio_post(INCOMING, params))
        return root, Call.objects.get(sid=params["CallSid"])

    return post


@pytest.fixture
def status(twilio_post):
    """A status callback for the call, as configured on the tracking number."""

    def post(call: Call, call_status: str, **extra: str):
        response = twilio_post(
            STATUS,
            payload(
                "voice_status_completed",
                CallSid=call.sid,
                CallStatus=call_status,
                **extra,
            ),
        )
        assert response.status_code == 204
        call.refresh_from_db()
        return call

    return post


@pytest.fixture
def accepted(twilio_post):
    """The first counselor rung takes the call (whisper, then 1)."""

    def take(root) -> None:
        number = root.find("Dial/Number")
        key = path_of(number.get("url")) + "&step=key"
        assert list(twiml(twilio_post(key, payload("voice_whisper_key")))) == []

    return take


@pytest.fixture
def voicemail(call_in, tracking_number, counselor, teammate):
    """A call from the counselor's lead that nobody could take: at the beep."""
    make_lead(team=tracking_number.team, owner=counselor, phone=CALLER)
    User.objects.filter(pk__in=[counselor.pk, teammate.pk]).update(
        presence=User.Presence.AWAY
    )
    return call_in()


def missed_callbacks() -> int:
    return CallBack.objects.filter(reason=CallBack.Reason.MISSED_CALL).count()


def record_url(root, attribute: str) -> str:
    return path_of(root.find("Record").get(attribute))


def give_consent(phone: str) -> None:
    consent_record(
        phone=phone,
        kind=ConsentEvent.Kind.OPT_IN,
        source=ConsentEvent.Source.WEB_FORM,
        text="I agree to receive texts about my inquiry.",
    )


# --- Status callbacks ---------------------------------------------------------------


def test_caller_hanging_up_while_it_rings_is_a_missed_call_once(
    call_in, status, twilio_post, tracking_number, counselor, supervisor
):
    root, call = call_in()

    status(call, "completed", CallDuration="41")
    status(call, "completed", CallDuration="41")
    # Twilio still asks the <Dial>'s action what next: nothing, the caller left.
    after = twiml(
        twilio_post(
            path_of(root.find("Dial").get("action")),
            payload("voice_dial_result_no_answer", CallStatus="completed"),
        )
    )

    assert [child.tag for child in after] == ["Hangup"]
    assert (call.status, call.duration_seconds, call.talk_seconds) == (
        Call.Status.COMPLETED,
        41,
        None,
    )
    assert call.ended_at is not None
    assert call.missed_at is not None
    assert missed_callbacks() == 1
    callback = CallBack.objects.get(reason=CallBack.Reason.MISSED_CALL)
    assert (callback.lead, callback.status) == (call.lead, CallBack.Status.DUE)
    assert callback.due_at <= call.missed_at + datetime.timedelta(seconds=1)
    assert Alert.objects.filter(user=supervisor, kind="missed_call").count() == 1
    assert Alert.objects.filter(user=counselor, kind="missed_call").count() == 1
    missed_lines = Activity.objects.filter(
        lead=call.lead, summary="Missed call: nobody could answer"
    )
    assert missed_lines.count() == 1


def test_completed_then_ringing_leaves_the_call_completed(
    call_in, status, tracking_number
):
    _, call = call_in()
    status(call, "completed", CallDuration="12")
    ended_at = call.ended_at

    status(call, "ringing")
    status(call, "in-progress")

    assert (call.status, call.ended_at, call.duration_seconds) == (
        Call.Status.COMPLETED,
        ended_at,
        12,
    )


def test_the_same_completed_twice_changes_nothing(
    call_in, status, noon, tracking_number
):
    _, call = call_in()
    first = status(call, "completed", CallDuration="30")
    snapshot = (first.status, first.ended_at, first.duration_seconds, first.missed_at)
    alerts = Alert.objects.count()
    noon.shift(datetime.timedelta(minutes=2))

    again = status(call, "completed", CallDuration="95")

    assert (
        again.status,
        again.ended_at,
        again.duration_seconds,
        again.missed_at,
    ) == snapshot
    assert Alert.objects.count() == alerts


def test_an_answered_call_ending_is_not_missed_and_frees_the_counselor(
    call_in, status, accepted, noon, tracking_number, counselor
):
    root, call = call_in()
    accepted(root)
    counselor.refresh_from_db()
    assert counselor.presence == User.Presence.BUSY
    noon.shift(datetime.timedelta(minutes=5))

    status(call, "completed", CallDuration="305")

    assert (call.status, call.duration_seconds, call.missed_at) == (
        Call.Status.COMPLETED,
        305,
        None,
    )
    assert call.talk_seconds is not None
    assert call.talk_seconds >= 300
    assert missed_callbacks() == 0
    assert not Alert.objects.filter(kind="missed_call").exists()
    counselor.refresh_from_db()
    assert counselor.presence == User.Presence.AVAILABLE


def test_a_counselor_who_went_away_during_the_call_stays_away(
    call_in, status, accepted, tracking_number, counselor
):
    root, call = call_in()
    accepted(root)
    User.objects.filter(pk=counselor.pk).update(presence=User.Presence.AWAY)

    status(call, "completed")

    counselor.refresh_from_db()
    assert counselor.presence == User.Presence.AWAY


def test_answered_by_is_kept(call_in, status, tracking_number):
    _, call = call_in()

    status(call, "in-progress", AnsweredBy="human")

    assert (call.status, call.answered_by) == (Call.Status.IN_PROGRESS, "human")


def test_a_status_for_an_unknown_call_sid_is_answered_204_and_writes_nothing(
    twilio_post, call_in, tracking_number
):
    _, call = call_in()
    before = (
        Call.objects.count(),
        CallBack.objects.count(),
        Alert.objects.count(),
        Activity.objects.count(),
    )

    response = twilio_post(STATUS, payload("voice_status_completed", CallSid=new_sid()))
    unknown_status = twilio_post(
        STATUS, payload("voice_status_completed", CallSid=call.sid, CallStatus="paused")
    )

    assert (response.status_code, unknown_status.status_code) == (204, 204)
    assert (
        Call.objects.count(),
        CallBack.objects.count(),
        Alert.objects.count(),
        Activity.objects.count(),
    ) == before
    call.refresh_from_db()
    assert (call.status, call.ended_at) == (Call.Status.RINGING, None)


def test_a_status_naming_our_call_id_but_another_sid_is_ignored(
    twilio_post, call_in, tracking_number
):
    _, call = call_in()

    response = twilio_post(
        f"{STATUS}?call={call.pk}",
        payload("voice_status_completed", CallSid=new_sid()),
    )

    assert response.status_code == 204
    call.refresh_from_db()
    assert (call.status, call.missed_at) == (Call.Status.RINGING, None)


@pytest.mark.parametrize(
    ("name", "expected"),
    [("voice_status_ringing", "ringing"), ("voice_status_completed", "completed")],
)
def test_captured_status_callbacks_update_the_call(
    twilio_post, call_in, tracking_number, name, expected
):
    captured = payload(name)
    _, call = call_in(payload("voice_incoming"))

    response = twilio_post(STATUS, captured)

    assert response.status_code == 204
    call.refresh_from_db()
    assert call.sid == captured["CallSid"]
    assert call.status == expected


# --- Missed-call texts --------------------------------------------------------------


def test_a_missed_caller_who_consented_gets_a_sorry_we_missed_you_text(
    call_in, status, tracking_number
):
    give_consent(CALLER)
    _, call = call_in()

    status(call, "completed")

    message = Message.objects.get(lead=call.lead)
    assert (message.kind, message.template.key) == ("automated", "missed_call")
    assert message.status == Message.Status.PENDING
    assert message.to == CALLER


def test_a_missed_caller_without_consent_gets_no_text(call_in, status, tracking_number):
    _, call = call_in()

    status(call, "completed")

    assert missed_callbacks() == 1
    assert not Message.objects.filter(lead=call.lead).exists()


def test_a_missed_caller_who_opted_out_gets_no_text(call_in, status, tracking_number):
    give_consent(CALLER)
    consent_record(
        phone=CALLER,
        kind=ConsentEvent.Kind.OPT_OUT,
        source=ConsentEvent.Source.WEB_FORM,
    )
    _, call = call_in()

    status(call, "completed")

    assert not Message.objects.filter(lead=call.lead).exists()


def test_a_call_missed_at_night_defers_the_text_to_the_morning(
    twilio_post, status, tracking_number
):
    give_consent(CALLER)
    late = datetime.datetime(2026, 12, 1, 22, 30, tzinfo=NEW_YORK)
    with time_machine.travel(late, tick=False):
        params = incoming_payload()
        twiml(twilio_post(INCOMING, params))
        call = status(Call.objects.get(sid=params["CallSid"]), "completed")

    message = Message.objects.get(lead=call.lead)
    assert message.status == Message.Status.SCHEDULED
    assert message.scheduled_for.astimezone(NEW_YORK).date() == datetime.date(
        2026, 12, 2
    )
    assert message.scheduled_for.astimezone(NEW_YORK).hour >= 8
    assert missed_callbacks() == 1


def test_a_missed_withheld_caller_alerts_supervisors_without_a_lead(
    call_in, status, tracking_number, supervisor
):
    _, call = call_in(incoming_payload(from_number="+266696687"))

    status(call, "completed")

    assert call.missed_at is not None
    assert Lead.objects.count() == 0
    assert missed_callbacks() == 0
    alert = Alert.objects.get(user=supervisor)
    assert (alert.kind, alert.lead) == ("missed_call", None)


# --- Voicemail and recordings -------------------------------------------------------


def test_a_voicemail_is_kept_on_the_call_with_a_timeline_line_and_an_owner_alert(
    twilio_post, voicemail, tracking_number, counselor
):
    root, call = voicemail
    lead = call.lead
    done = payload("voice_record_action", CallSid=call.sid)

    thanks = twiml(twilio_post(record_url(root, "action"), done))
    twiml(
        twilio_post(
            record_url(root, "recordingStatusCallback"),
            payload("voice_recording_status_voicemail", CallSid=call.sid),
        )
    )

    assert said(thanks) == [
        "Thank you. A counselor will call you back shortly. Goodbye."
    ]
    assert [child.tag for child in thanks][-1] == "Hangup"
    call.refresh_from_db()
    assert call.is_voicemail
    assert (call.recording_sid, call.recording_url, call.recording_duration) == (
        done["RecordingSid"],
        done["RecordingUrl"],
        83,
    )
    lines = Activity.objects.filter(lead=lead, data__voicemail=True)
    assert [line.summary for line in lines] == ["Voicemail (1:23)"]
    assert lead.owner == counselor
    voicemail_alerts = Alert.objects.filter(
        user=counselor, kind="missed_call", text__startswith="New voicemail from Casey"
    )
    assert voicemail_alerts.count() == 1


def test_a_voicemail_on_a_lead_in_the_queue_alerts_the_supervisors(
    twilio_post, call_in, tracking_number, counselor, teammate, supervisor
):
    # Given a lead waiting in the team queue, and nobody free to take its call
    make_lead(team=tracking_number.team, owner=None, phone=CALLER, first_name="Quinn")
    User.objects.filter(pk__in=[counselor.pk, teammate.pk]).update(
        presence=User.Presence.AWAY
    )
    root, call = call_in()

    # When the caller leaves a message
    twilio_post(
        record_url(root, "recordingStatusCallback"),
        payload("voice_recording_status_voicemail", CallSid=call.sid),
    )

    # Then someone hears about it: the team's supervisors
    assert Alert.objects.filter(
        user=supervisor, text__startswith="New voicemail from Quinn"
    ).exists()


def test_a_voicemail_status_callback_alone_is_enough(
    twilio_post, voicemail, tracking_number
):
    root, call = voicemail

    response = twilio_post(
        record_url(root, "recordingStatusCallback"),
        payload(
            "voice_recording_status_voicemail", CallSid=call.sid, RecordingDuration="7"
        ),
    )

    assert list(twiml(response)) == []
    call.refresh_from_db()
    assert (call.is_voicemail, call.recording_duration) == (True, 7)
    assert Activity.objects.filter(summary="Voicemail (0:07)").count() == 1


@pytest.mark.parametrize("recording_status", ["absent", "failed"])
def test_an_absent_or_failed_voicemail_recording_is_not_a_voicemail(
    twilio_post, voicemail, tracking_number, recording_status
):
    root, call = voicemail
    alerts = Alert.objects.count()

    twiml(
        twilio_post(
            record_url(root, "recordingStatusCallback"),
            payload(
                "voice_recording_status_voicemail",
                CallSid=call.sid,
                RecordingStatus=recording_status,
                RecordingDuration="0",
            ),
        )
    )

    call.refresh_from_db()
    assert (call.is_voicemail, call.recording_sid) == (False, "")
    assert Alert.objects.count() == alerts


def test_a_transcription_is_stored_once(twilio_post, voicemail, tracking_number):
    root, call = voicemail
    url = path_of(root.find("Record").get("transcribeCallback"))
    first = payload("voice_transcription", CallSid=call.sid)

    twiml(twilio_post(url, first))
    twiml(twilio_post(url, {**first, "TranscriptionText": "A different text."}))

    call.refresh_from_db()
    assert call.transcription == first["TranscriptionText"]


def test_a_failed_transcription_stores_nothing(twilio_post, voicemail, tracking_number):
    root, call = voicemail

    twiml(
        twilio_post(
            record_url(root, "transcribeCallback"),
            payload(
                "voice_transcription",
                CallSid=call.sid,
                TranscriptionStatus="failed",
                TranscriptionText="",
            ),
        )
    )

    call.refresh_from_db()
    assert call.transcription == ""


def test_an_answered_calls_recording_is_kept_and_is_not_a_voicemail(
    twilio_post, call_in, accepted, tracking_number
):
    root, call = call_in()
    accepted(root)
    url = path_of(root.find("Dial").get("recordingStatusCallback"))
    assert query_of(url)["kind"] == "call"
    captured = payload("voice_recording_status_call", CallSid=call.sid)

    twiml(twilio_post(url, captured))
    twiml(twilio_post(url, captured))

    call.refresh_from_db()
    assert (call.recording_sid, call.recording_duration, call.is_voicemail) == (
        captured["RecordingSid"],
        310,
        False,
    )
    assert not Activity.objects.filter(data__voicemail=True).exists()


def test_a_recording_for_an_unknown_call_is_ignored(twilio_post, tracking_number):
    response = twilio_post(
        f"{RECORDING}?call=424242&kind=voicemail",
        payload("voice_recording_status_voicemail"),
    )

    root = twiml(response)
    assert list(root) == []
    assert not Call.objects.exists()


def test_a_counselor_is_rung_again_once_their_call_ended(
    call_in, status, accepted, tracking_number, counselor, teammate
):
    first_root, first = call_in()
    accepted(first_root)
    _, during = call_in(incoming_payload(from_number="+13055550143"))
    assert during.ring_list == [teammate.pk]

    status(first, "completed")
    _, after = call_in(incoming_payload(from_number="+13055550144"))

    assert counselor.pk in after.ring_list


def test_the_lead_api_lists_calls_and_shows_the_voicemail_on_the_timeline(
    twilio_post, voicemail, tracking_number, counselor, client_for
):
    root, call = voicemail
    twilio_post(
        record_url(root, "recordingStatusCallback"),
        payload("voice_recording_status_voicemail", CallSid=call.sid),
    )
    client = client_for(counselor)

    calls = client.get(f"/api/v1/leads/{call.lead_id}/calls/").data["results"]
    timeline = client.get(f"/api/v1/leads/{call.lead_id}/timeline/").data["results"]

    assert [(row["id"], row["is_voicemail"]) for row in calls] == [(call.pk, True)]
    assert calls[0]["recording_url"].startswith("https://")
    voicemail_line = next(row for row in timeline if row["summary"].startswith("Voice"))
    assert voicemail_line["call"]["is_voicemail"] is True
    assert voicemail_line["call"]["recording_url"] == calls[0]["recording_url"]
