"""simulate_call: a whole inbound call, signed as Twilio signs it, to a live server."""

import socket

import pytest
from django.core.management import CommandError, call_command
from twilio.request_validator import RequestValidator

from leads.models import CallBack
from telephony.management.commands import simulate_call
from telephony.models import Call

from .conftest import MAIN_NUMBER

CALLER = "+13055550199"


@pytest.fixture
def server(settings, live_server):
    """The live server, reached at the URL its signatures are checked against."""
    settings.PUBLIC_BASE_URL = live_server.url
    return live_server


def simulate(*flags: str) -> None:
    call_command(
        "simulate_call", "--from", CALLER, "--to", MAIN_NUMBER, "--city", "Miami",
        "--state", "FL", *flags,
    )  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_answered_call_connects_a_counselor_and_counts_as_first_response(
    server, tracking_number, counselor, teammate, capsys
):
    simulate("--answer")

    call = Call.objects.select_related("lead").get(from_number=CALLER)
    assert call.counselor in (counselor, teammate)
    assert call.answered_at is not None
    assert call.status == Call.Status.COMPLETED
    assert call.missed_at is None
    assert call.recording_sid.startswith("RE")
    assert call.lead.first_response_at is not None
    assert (call.caller_city, call.caller_state) == ("MIAMI", "FL")
    out = capsys.readouterr().out
    assert "caller hears: “Thank you for calling Harbor Recovery.”" in out
    assert "Press 1 to accept" in out
    assert f"Lead #{call.lead_id}" in out


@pytest.mark.django_db(transaction=True)
def test_unanswered_call_rings_everyone_then_is_missed_with_a_call_back(
    server, tracking_number, capsys
):
    simulate("--no-answer")

    call = Call.objects.select_related("lead").get(from_number=CALLER)
    assert call.missed_at is not None
    assert call.answered_at is None
    assert call.status == Call.Status.COMPLETED
    assert not call.is_voicemail
    assert CallBack.objects.filter(
        lead=call.lead, reason=CallBack.Reason.MISSED_CALL
    ).exists()
    out = capsys.readouterr().out
    assert "+13055550111" in out
    assert "+13055550112" in out
    assert "leave your name and number" in out
    assert "caller hung up" in out


@pytest.mark.django_db(transaction=True)
def test_voicemail_is_kept_with_its_transcription(server, tracking_number, capsys):
    simulate("--voicemail", "--message", "Please call me about detox.")

    call = Call.objects.get(from_number=CALLER)
    assert call.is_voicemail
    assert call.recording_sid.startswith("RE")
    assert call.recording_duration > 0
    assert call.transcription == "Please call me about detox."
    assert call.missed_at is not None
    assert "A counselor will call you back shortly" in capsys.readouterr().out


@pytest.mark.django_db(transaction=True)
def test_unreachable_server_is_a_clear_command_error(settings, tracking_number):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens on the port once the socket is closed.

    with pytest.raises(CommandError, match="Could not reach the server"):
        simulate("--server", f"http://127.0.0.1:{port}")

    assert not Call.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_wrong_token_is_refused_and_says_the_tokens_must_match(
    server, tracking_number, monkeypatch
):
    # The server shares this process's settings: only the command's token differs.
    monkeypatch.setattr(
        simulate_call, "RequestValidator", lambda _token: RequestValidator("wrong")
    )

    with pytest.raises(CommandError, match="403.*TWILIO_AUTH_TOKEN"):
        simulate("--answer")

    assert not Call.objects.exists()
