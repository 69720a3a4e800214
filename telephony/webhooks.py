"""Twilio's voice webhooks. Every one is signed; each answers TwiML at once."""

import logging

from django.http import HttpRequest, HttpResponse
from twilio.twiml.voice_response import VoiceResponse

from crm.webhooks import twilio_webhook

from . import services

logger = logging.getLogger(__name__)


def _twiml(response: VoiceResponse) -> HttpResponse:
    return HttpResponse(str(response), content_type="application/xml")


def _param(request: HttpRequest, name: str, max_length: int = 200) -> str:
    """A form field as text PostgreSQL can store: NUL characters removed."""
    return request.POST.get(name, "").replace("\x00", "")[:max_length]


def _int_or_none(value: str | None) -> int | None:
    """A whole number that fits the database's integer columns, else None."""
    try:
        number = int(value) if value else None
    except ValueError:
        return None
    return number if number is not None and 0 <= number < 2**31 else None


@twilio_webhook
def voice_incoming(request: HttpRequest) -> HttpResponse:
    """A call to one of our numbers: find or create the lead, then ring."""
    return _twiml(
        services.call_incoming(
            sid=_param(request, "CallSid", 34),
            from_number=_param(request, "From", 40),
            to_number=_param(request, "To", 40) or _param(request, "Called", 40),
            caller_city=_param(request, "FromCity", 100),
            caller_state=_param(request, "FromState", 40),
        )
    )


@twilio_webhook
def voice_whisper(request: HttpRequest) -> HttpResponse:
    """The counselor's side before connecting: "press 1 to accept"."""
    digits = request.POST.get("Digits") if request.GET.get("step") == "key" else None
    return _twiml(
        services.call_whisper(
            call_id=_int_or_none(request.GET.get("call")),
            counselor_id=_int_or_none(request.GET.get("counselor")),
            digits=(digits or "")[:4] if digits is not None else None,
        )
    )


@twilio_webhook
def voice_dial_result(request: HttpRequest) -> HttpResponse:
    """The <Dial> ended: connected, or the next counselor, or voicemail."""
    return _twiml(
        services.call_dial_result(
            call_id=_int_or_none(request.GET.get("call")),
            dial_status=_param(request, "DialCallStatus", 16),
        )
    )


@twilio_webhook
def voice_status(request: HttpRequest) -> HttpResponse:
    """A call status callback; unknown, repeated or late ones are answered 204."""
    services.call_status_update(
        services.StatusUpdate(
            sid=_param(request, "CallSid", 34),
            status=_param(request, "CallStatus", 20),
            call_id=_int_or_none(request.GET.get("call")),
            duration=_int_or_none(request.POST.get("CallDuration")),
            answered_by=_param(request, "AnsweredBy", 24),
        )
    )
    return HttpResponse(status=204)


@twilio_webhook
def voice_recording(request: HttpRequest) -> HttpResponse:
    """A recording, a voicemail (or its end) or a transcription of one."""
    return _twiml(
        services.call_recording(
            services.RecordingUpdate(
                call_id=_int_or_none(request.GET.get("call")),
                kind=request.GET.get("kind", "call")[:20],
                recording_sid=_param(request, "RecordingSid", 34),
                recording_url=_param(request, "RecordingUrl", 500),
                duration=_int_or_none(request.POST.get("RecordingDuration")),
                transcription=_param(request, "TranscriptionText", 10_000),
                status=_param(request, "RecordingStatus", 20),
            )
        )
    )


@twilio_webhook
def voice_outbound(request: HttpRequest) -> HttpResponse:
    """Click-to-call: the counselor answered; on their key press, connect them."""
    digits = request.POST.get("Digits") if request.GET.get("step") == "key" else None
    return _twiml(
        services.call_outbound_twiml(
            call_id=_int_or_none(request.GET.get("call")),
            digits=(digits or "")[:4] if digits is not None else None,
        )
    )
