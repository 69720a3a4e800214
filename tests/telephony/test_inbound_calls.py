"""Inbound calls: signed webhooks, the caller's lead, who is rung, and the whisper."""

import datetime
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings
from django.utils import timezone

from crm.models import Team, User
from leads.models import Activity, CallBack, Lead, LostReason, Stage, Touch
from notifications.models import Alert, Message
from telephony.models import Call
from telephony.selectors import UNKNOWN_NUMBER_SOURCE_SLUG

from ..factories import make_lead
from .conftest import MAIN_NUMBER, sign

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "twilio"
NEW_YORK = ZoneInfo("America/New_York")
# A Tuesday: inside texting hours for every lead in the continental US.
WEEKDAY_NOON_NY = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=NEW_YORK)

INCOMING = "/twilio/voice/incoming/"
DIAL_RESULT = "/twilio/voice/dial-result/"
STATUS = "/twilio/voice/status/"
RECORDING = "/twilio/voice/recording/"
WHISPER = "/twilio/voice/whisper/"
OUTBOUND = "/twilio/voice/outbound/"
CALLER = "+13055550142"
MAYA_PHONE = "+13055550111"
JORDAN_PHONE = "+13055550112"

# Every verb and noun of TwiML for voice, and where each may appear.
TWIML_VERBS = frozenset(
    {
        "Say",
        "Play",
        "Pause",
        "Dial",
        "Gather",
        "Record",
        "Hangup",
        "Redirect",
        "Reject",
        "Enqueue",
        "Leave",
        "Sms",
        "Message",
        "Connect",
        "Start",
        "Stop",
    }
)
TWIML_CHILDREN = {
    "Response": TWIML_VERBS,
    "Dial": frozenset({"Number", "Client", "Sip", "Conference", "Queue"}),
    "Gather": frozenset({"Say", "Play", "Pause"}),
    "Connect": frozenset({"Stream"}),
    "Start": frozenset({"Stream"}),
    "Stop": frozenset({"Stream"}),
}

_sid_counter = iter(range(1, 10**6))


def new_sid(prefix: str = "CA") -> str:
    return f"{prefix}{next(_sid_counter):032x}"


def payload(name: str, **overrides: str) -> dict:
    """A payload Twilio sent (tests/fixtures/twilio/), with some fields changed."""
    return {**json.loads((FIXTURES / f"{name}.json").read_text()), **overrides}


def incoming_payload(from_number: str = CALLER, **overrides: str) -> dict:
    return payload(
        "voice_incoming",
        CallSid=new_sid(),
        From=from_number,
        Caller=from_number,
        **overrides,
    )


def twiml(response) -> ET.Element:
    """The TwiML document answered, checked to be XML made only of TwiML."""
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"].startswith(("application/xml", "text/xml"))
    root = ET.fromstring(response.content)  # noqa: S314 - our own answer
    assert root.tag == "Response"
    for parent in root.iter():
        for child in parent:
            allowed = TWIML_CHILDREN.get(parent.tag, frozenset())
            assert child.tag in allowed, f"<{child.tag}> inside <{parent.tag}>"
    return root


def path_of(url: str) -> str:
    """Our webhook's path and query, from the absolute URL put in TwiML."""
    base = settings.PUBLIC_BASE_URL.rstrip("/")
    assert url.startswith(base + "/twilio/voice/"), url
    return url.removeprefix(base)


def query_of(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


def rung(root: ET.Element) -> list[str]:
    return [number.text.strip() for number in root.iter("Number")]


def said(root: ET.Element) -> list[str]:
    return [say.text for say in root.iter("Say")]


@pytest.fixture(autouse=True)
def _noon_in_new_york():
    with time_machine.travel(WEEKDAY_NOON_NY, tick=True):
        yield


@pytest.fixture
def maya(counselor):
    return counselor


@pytest.fixture
def jordan(teammate):
    return teammate


@pytest.fixture
def call_in(twilio_post):
    """Post an incoming call; return the TwiML answered and the Call stored."""

    def post(params: dict | None = None) -> tuple[ET.Element, Call]:
        params = params or incoming_payload()
        root = twiml(twilio_post(INCOMING, params))
        return root, Call.objects.get(sid=params["CallSid"])

    return post


@pytest.fixture
def answer(twilio_post):
    """A counselor's phone picks up the <Number> and presses a key."""

    def press(number: ET.Element, digits: str) -> ET.Element:
        whisper = path_of(number.get("url"))
        gather = twiml(twilio_post(whisper, payload("voice_whisper")))
        action = path_of(gather.find("Gather").get("action"))
        return twiml(twilio_post(action, payload("voice_whisper_key", Digits=digits)))

    return press


@pytest.fixture
def dial_ends(twilio_post):
    """The <Dial> is over, with Twilio's DialCallStatus."""

    def post(root: ET.Element, dial_status: str = "no-answer") -> ET.Element:
        action = path_of(root.find("Dial").get("action"))
        return twiml(
            twilio_post(
                action,
                payload("voice_dial_result_no_answer", DialCallStatus=dial_status),
            )
        )

    return post


def lead_rows() -> tuple[int, int, int, int, int, int]:
    return (
        Call.objects.count(),
        Lead.objects.count(),
        Touch.objects.count(),
        CallBack.objects.count(),
        Alert.objects.count(),
        Message.objects.count(),
    )


# --- Signatures ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "signature", ["", "bm90LWEtc2lnbmF0dXJl", "for-another-host"], ids=str
)
@pytest.mark.parametrize(
    "path", [INCOMING, DIAL_RESULT, STATUS, RECORDING, WHISPER, OUTBOUND]
)
def test_unsigned_or_forged_voice_webhooks_get_403_and_write_nothing(
    twilio_post, tracking_number, path, signature
):
    params = incoming_payload()
    if signature == "for-another-host":
        signature = sign("https://evil.example.org" + path, params)

    response = twilio_post(path, params, signature=signature)

    assert response.status_code == 403
    assert lead_rows() == (0, 0, 0, 0, 0, 0)


def test_forged_callbacks_for_a_ringing_call_change_nothing(
    twilio_post, call_in, tracking_number, maya
):
    root, call = call_in()
    before = lead_rows()
    forged = "bm90LWEtc2lnbmF0dXJl"
    number = root.find("Dial/Number")
    key_url = path_of(number.get("url")) + "&step=key"

    answers = [
        twilio_post(key_url, payload("voice_whisper_key"), signature=forged),
        twilio_post(
            path_of(root.find("Dial").get("action")),
            payload("voice_dial_result_no_answer"),
            signature=forged,
        ),
        twilio_post(
            STATUS,
            payload("voice_status_completed", CallSid=call.sid),
            signature=forged,
        ),
        twilio_post(
            f"{RECORDING}?call={call.pk}&kind=voicemail",
            payload("voice_recording_status_voicemail", CallSid=call.sid),
            signature=forged,
        ),
    ]

    assert [response.status_code for response in answers] == [403] * 4
    assert lead_rows() == before
    call.refresh_from_db()
    assert (call.status, call.answered_at, call.counselor, call.missed_at) == (
        Call.Status.RINGING,
        None,
        None,
        None,
    )
    assert (call.recording_sid, call.ring_index, call.dial_status) == ("", 1, "")
    maya.refresh_from_db()
    assert maya.presence == User.Presence.AVAILABLE


def test_voice_webhooks_answer_only_post(client, db):
    assert client.get(INCOMING).status_code == 405


# --- The caller's lead --------------------------------------------------------------


def test_new_caller_becomes_a_lead_attributed_to_the_tracking_number(
    call_in, tracking_number
):
    _, call = call_in()

    lead = Lead.objects.get()
    assert str(lead.phone) == CALLER
    assert (lead.source, lead.campaign, lead.landing_page) == (
        tracking_number.source,
        "Website header number",
        "https://www.example-recovery.org/programs/iop/",
    )
    assert str(lead.tracking_number) == MAIN_NUMBER
    assert (lead.state, lead.city.upper()) == ("FL", "MIAMI")
    assert lead.team == tracking_number.team
    assert lead.touches.count() == 1
    assert lead.touches.get().channel == "phone"
    assert (call.lead, call.tracking_number, call.direction) == (
        lead,
        tracking_number,
        Call.Direction.INBOUND,
    )
    assert (call.from_number, call.to_number) == (CALLER, MAIN_NUMBER)
    assert (call.caller_city, call.caller_state, call.status) == (
        "MIAMI",
        "FL",
        Call.Status.RINGING,
    )
    # The call is the first contact: nothing is owed until it goes unanswered.
    assert not CallBack.objects.filter(lead=lead).exists()


def test_new_caller_hears_greeting_and_disclosure_then_the_owner_is_rung_first(
    call_in, tracking_number, maya
):
    root, call = call_in()

    assert said(root) == [
        "Thank you for calling Harbor Recovery.",
        "This call may be recorded for quality and training.",
    ]
    assert [child.tag for child in root] == ["Say", "Say", "Dial"]
    dial = root.find("Dial")
    assert dial.get("timeout") == "20"
    assert dial.get("callerId") == MAIN_NUMBER
    assert dial.get("record") == "record-from-answer-dual"
    assert query_of(dial.get("action")) == {"call": str(call.pk)}
    # Sequential: one counselor at a time, the lead's owner first.
    assert call.lead.owner == maya
    assert rung(root) == [MAYA_PHONE]
    assert query_of(dial.find("Number").get("url")) == {
        "call": str(call.pk),
        "counselor": str(maya.pk),
    }
    assert Activity.objects.filter(lead=call.lead, kind=Activity.Kind.CALL).exists()


def test_a_number_not_recorded_gets_no_disclosure_and_no_recording(
    call_in, tracking_number
):
    tracking_number.record_calls = False
    tracking_number.save()

    root, _ = call_in()

    assert said(root) == ["Thank you for calling Harbor Recovery."]
    dial = root.find("Dial")
    assert dial.get("record") is None
    assert dial.get("recordingStatusCallback") is None


def test_repeat_caller_reaches_the_existing_lead_and_its_owner_first(
    call_in, tracking_number, maya, jordan
):
    lead = make_lead(team=tracking_number.team, owner=jordan, phone=CALLER)
    # Maya's turn is older: without an owner she would be rung first.
    User.objects.filter(pk=maya.pk).update(last_routed_at=None)
    User.objects.filter(pk=jordan.pk).update(last_routed_at=timezone.now())

    root, call = call_in()

    assert Lead.objects.count() == 1
    assert call.lead == lead
    assert lead.touches.count() == 2
    lead.refresh_from_db()
    assert (lead.owner, lead.inquiry_count) == (jordan, 2)
    assert rung(root) == [JORDAN_PHONE]
    assert call.ring_list == [jordan.pk, maya.pk]


def test_a_caller_lost_less_than_30_days_ago_reopens_the_same_lead(
    call_in, tracking_number, jordan
):
    lead = make_lead(team=tracking_number.team, owner=jordan, phone=CALLER)
    Lead.objects.filter(pk=lead.pk).update(
        stage=Stage.LOST,
        lost_reason=LostReason.UNREACHABLE,
        stage_before_close=Stage.ATTEMPTING_CONTACT,
        stage_changed_at=timezone.now() - datetime.timedelta(days=29),
    )

    _, call = call_in()

    assert call.lead == lead
    lead.refresh_from_db()
    assert lead.stage == Stage.ATTEMPTING_CONTACT


def test_a_caller_lost_more_than_30_days_ago_is_a_new_lead(
    call_in, tracking_number, jordan
):
    old = make_lead(team=tracking_number.team, owner=jordan, phone=CALLER)
    Lead.objects.filter(pk=old.pk).update(
        stage=Stage.LOST,
        lost_reason=LostReason.UNREACHABLE,
        stage_changed_at=timezone.now() - datetime.timedelta(days=31),
    )

    _, call = call_in()

    assert Lead.objects.count() == 2
    assert call.lead != old
    assert call.lead.source == tracking_number.source


def test_owner_away_rings_the_available_teammates(
    call_in, tracking_number, maya, jordan
):
    lead = make_lead(team=tracking_number.team, owner=jordan, phone=CALLER)
    User.objects.filter(pk=jordan.pk).update(presence=User.Presence.AWAY)

    root, call = call_in()

    assert call.lead == lead
    assert rung(root) == [MAYA_PHONE]
    assert call.ring_list == [maya.pk]


def test_unknown_tracking_number_still_makes_a_lead_and_rings(
    call_in, tracking_number, maya, caplog
):
    params = incoming_payload(To="+18885550199", Called="+18885550199")

    root, call = call_in(params)

    assert call.tracking_number is None
    assert call.lead.source.slug == UNKNOWN_NUMBER_SOURCE_SLUG
    assert str(call.lead.tracking_number) == "+18885550199"
    # No tracking number, no greeting, but still the disclosure.
    assert said(root) == ["This call may be recorded for quality and training."]
    assert rung(root) == [MAYA_PHONE]
    assert "unknown tracking number" in caplog.text


@pytest.mark.parametrize("withheld", ["+266696687", "Anonymous"])
def test_a_withheld_number_still_rings_but_makes_no_lead(
    call_in, tracking_number, maya, withheld
):
    root, call = call_in(incoming_payload(from_number=withheld))

    assert rung(root) == [MAYA_PHONE]
    assert call.lead is None
    assert Lead.objects.count() == 0
    assert Touch.objects.count() == 0


def test_twilio_retrying_the_incoming_webhook_rings_the_same_counselor_again(
    twilio_post, tracking_number, maya
):
    params = incoming_payload()

    first = twiml(twilio_post(INCOMING, params))
    retry = twiml(twilio_post(INCOMING, params))

    assert rung(first) == rung(retry) == [MAYA_PHONE]
    assert Call.objects.count() == 1
    assert Touch.objects.count() == 1
    assert Call.objects.get().missed_at is None


# --- Who is rung --------------------------------------------------------------------


def test_nobody_available_goes_straight_to_voicemail_and_the_call_is_missed(
    call_in, tracking_number, maya, jordan, supervisor
):
    User.objects.filter(pk__in=[maya.pk, jordan.pk]).update(
        presence=User.Presence.OFFLINE
    )

    root, call = call_in()

    assert root.find("Dial") is None
    record = root.find("Record")
    assert record is not None
    assert record.get("transcribe") == "true"
    assert query_of(record.get("transcribeCallback")) == {
        "call": str(call.pk),
        "kind": "transcription",
    }
    assert query_of(record.get("recordingStatusCallback"))["kind"] == "voicemail"
    assert query_of(record.get("action"))["kind"] == "voicemail-done"
    assert "leave your name and number" in " ".join(said(root))
    assert [child.tag for child in root][-1] == "Hangup"
    call.refresh_from_db()
    assert call.missed_at is not None
    callback = CallBack.objects.get(lead=call.lead)
    assert (callback.reason, callback.status) == ("missed_call", "due")
    assert Alert.objects.filter(user=supervisor, kind="missed_call").count() == 1


def test_a_counselor_on_a_live_call_is_not_rung(
    call_in, answer, tracking_number, maya, jordan
):
    first, _ = call_in()
    answer(first.find("Dial/Number"), "1")
    # Presence set back by hand does not make her free while the call is live.
    User.objects.filter(pk=maya.pk).update(presence=User.Presence.AVAILABLE)

    second, call = call_in(incoming_payload(from_number="+13055550143"))

    assert rung(second) == [JORDAN_PHONE]
    assert maya.pk not in call.ring_list


def test_sequential_no_answer_rings_the_next_counselor_then_voicemail(
    call_in, dial_ends, tracking_number, maya, jordan
):
    root, call = call_in()
    assert rung(root) == [MAYA_PHONE]

    second = dial_ends(root, "no-answer")

    assert said(second) == []  # the greeting is said once
    assert rung(second) == [JORDAN_PHONE]
    assert query_of(second.find("Dial/Number").get("url"))["counselor"] == str(
        jordan.pk
    )

    last = dial_ends(second, "busy")

    assert last.find("Dial") is None
    assert last.find("Record") is not None
    call.refresh_from_db()
    assert call.dial_status == "busy"
    assert call.missed_at is not None
    assert CallBack.objects.filter(lead=call.lead, reason="missed_call").count() == 1


def test_simultaneous_rings_every_available_counselor_in_one_dial(
    call_in, tracking_number, maya, jordan, idle_counselor
):
    Team.objects.filter(pk=tracking_number.team_id).update(
        ring_strategy=Team.RingStrategy.SIMULTANEOUS, ring_timeout_seconds=25
    )

    root, call = call_in()

    assert len(root.findall("Dial")) == 1
    assert root.find("Dial").get("timeout") == "25"
    assert rung(root)[0] == MAYA_PHONE  # the owner
    assert sorted(rung(root)) == sorted([MAYA_PHONE, JORDAN_PHONE, "+13055550113"])
    counselors = {
        query_of(number.get("url"))["counselor"] for number in root.iter("Number")
    }
    assert counselors == {str(maya.pk), str(jordan.pk), str(idle_counselor.pk)}
    call.refresh_from_db()
    assert call.ring_index == 3


# --- The whisper --------------------------------------------------------------------


def test_whisper_names_the_source_and_asks_for_1(
    twilio_post, call_in, tracking_number, maya
):
    root, call = call_in()

    whisper = twiml(
        twilio_post(
            path_of(root.find("Dial/Number").get("url")), payload("voice_whisper")
        )
    )

    gather = whisper.find("Gather")
    assert gather.get("numDigits") == "1"
    assert gather.find("Say").text == "New caller from Main number. Press 1 to accept."
    assert query_of(gather.get("action")) == {
        "call": str(call.pk),
        "counselor": str(maya.pk),
        "step": "key",
    }
    # No key pressed (a voicemail picked up): hang up the counselor's leg.
    assert [child.tag for child in whisper] == ["Gather", "Hangup"]


@pytest.mark.parametrize("caller", ["web-form lead", "+266696687"])
def test_whisper_names_the_number_called_for_repeat_and_withheld_callers(
    twilio_post, call_in, tracking_number, maya, jordan, caller
):
    if caller == "web-form lead":
        make_lead(team=tracking_number.team, owner=maya, phone=CALLER)
        caller = CALLER
    root, call = call_in(incoming_payload(from_number=caller))

    whisper = twiml(
        twilio_post(
            path_of(root.find("Dial/Number").get("url")), payload("voice_whisper")
        )
    )

    assert said(whisper) == ["New caller from Main number. Press 1 to accept."]


def test_pressing_1_connects_the_counselor_and_records_the_response(
    call_in, answer, tracking_number, maya
):
    root, call = call_in()

    accepted = answer(root.find("Dial/Number"), "1")

    assert list(accepted) == []  # an empty answer bridges the two legs
    call.refresh_from_db()
    assert call.counselor == maya
    assert call.answered_at is not None
    assert call.status == Call.Status.IN_PROGRESS
    maya.refresh_from_db()
    assert maya.presence == User.Presence.BUSY
    lead = Lead.objects.get()
    assert (lead.first_response_by, lead.first_response_at) == (
        maya,
        call.answered_at,
    )


def test_a_new_caller_belongs_to_the_counselor_who_answered(
    call_in, answer, dial_ends, tracking_number, maya, jordan
):
    # Given a new caller routed to Maya, who does not pick up
    root, call = call_in()
    assert Lead.objects.get().owner == maya
    second = dial_ends(root, "no-answer")

    # When Jordan takes the call
    answer(second.find("Dial/Number"), "1")

    # Then the lead is Jordan's: the person has spoken with Jordan
    lead = Lead.objects.get()
    assert lead.owner == jordan
    assert lead.first_response_by == jordan


def test_a_known_caller_keeps_their_owner_when_a_teammate_answers(
    call_in, answer, dial_ends, tracking_number, maya, jordan
):
    make_lead(team=tracking_number.team, owner=maya, phone=CALLER)
    root, _ = call_in()
    second = dial_ends(root, "no-answer")

    answer(second.find("Dial/Number"), "1")

    assert Lead.objects.get().owner == maya


def test_pressing_another_key_hangs_up_and_leaves_the_call_unanswered(
    call_in, answer, tracking_number, maya
):
    root, call = call_in()

    declined = answer(root.find("Dial/Number"), "2")

    assert [child.tag for child in declined] == ["Hangup"]
    call.refresh_from_db()
    assert (call.counselor, call.answered_at) == (None, None)
    maya.refresh_from_db()
    assert maya.presence == User.Presence.AVAILABLE


def test_a_second_counselor_pressing_1_after_a_colleague_took_it_is_hung_up(
    call_in, answer, tracking_number, maya, jordan
):
    Team.objects.filter(pk=tracking_number.team_id).update(
        ring_strategy=Team.RingStrategy.SIMULTANEOUS
    )
    root, call = call_in()
    maya_leg, jordan_leg = root.findall("Dial/Number")
    answer(jordan_leg, "1")

    late = answer(maya_leg, "1")

    assert [child.tag for child in late] == ["Say", "Hangup"]
    call.refresh_from_db()
    assert call.counselor == jordan
    maya.refresh_from_db()
    assert maya.presence == User.Presence.AVAILABLE


def test_dial_completed_after_an_accepted_whisper_hangs_up_without_a_missed_call(
    call_in, answer, dial_ends, tracking_number, maya, supervisor
):
    root, call = call_in()
    answer(root.find("Dial/Number"), "1")

    after = dial_ends(root, "completed")

    assert [child.tag for child in after] == ["Hangup"]
    call.refresh_from_db()
    assert (call.dial_status, call.missed_at) == ("completed", None)
    assert not CallBack.objects.filter(reason="missed_call").exists()
    assert not Alert.objects.filter(kind="missed_call").exists()


def test_whisper_for_an_unknown_call_or_counselor_hangs_up(
    twilio_post, call_in, tracking_number, maya
):
    _, call = call_in()

    for query in [
        "?call=999999&counselor=1",
        f"?call={call.pk}&counselor=999999",
        "?call=abc",
        "",
    ]:
        root = twiml(twilio_post(WHISPER + query, payload("voice_whisper")))
        assert [child.tag for child in root] == ["Hangup"]


# --- Hostile or broken input --------------------------------------------------------

NUL = "\x00"
# Large, yet under Django's 2.5 MB limit on a request body (400 above it).
HUGE = "9" * 20_000


@pytest.mark.parametrize("value", [NUL, f"+1305{NUL}5550142", HUGE, "é" * 5000])
def test_nul_characters_and_huge_values_in_an_incoming_call_never_500(
    twilio_post, tracking_number, maya, value
):
    params = payload(
        "voice_incoming",
        CallSid=new_sid()[:-2] + NUL + "x",
        From=value,
        Caller=value,
        FromCity=value,
        FromState=value,
        To=value if value != HUGE else MAIN_NUMBER,
    )

    root = twiml(twilio_post(INCOMING, params))

    assert root.find("Dial") is not None or root.find("Record") is not None
    call = Call.objects.get()
    assert NUL not in call.sid + call.from_number + call.caller_city


@pytest.mark.parametrize("value", [NUL, HUGE, "-5", "1e9", "99999999999999999999"])
@pytest.mark.parametrize(
    ("path", "fixture"),
    [
        (DIAL_RESULT, "voice_dial_result_no_answer"),
        (STATUS, "voice_status_completed"),
        (RECORDING, "voice_recording_status_voicemail"),
        (WHISPER, "voice_whisper_key"),
    ],
)
def test_nul_characters_and_huge_values_in_callbacks_never_500(
    twilio_post, call_in, tracking_number, maya, path, fixture, value
):
    _, call = call_in()
    params = payload(fixture, CallSid=call.sid)
    params = {key: f"{old}{value}" for key, old in params.items()}
    # The query string is ours, signed with the rest: only the form is hostile.
    query = f"?call={call.pk}&counselor={maya.pk}&step=key&kind=voicemail"

    response = twilio_post(path + query, params)

    assert response.status_code in (200, 204)
    if response.status_code == 200:
        twiml(response)
