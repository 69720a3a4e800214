"""Twilio's SMS webhooks: inbound texts and delivery status callbacks."""

import logging

from django.http import HttpRequest, HttpResponse
from twilio.twiml.messaging_response import MessagingResponse

from crm.webhooks import twilio_webhook

from . import services

logger = logging.getLogger(__name__)


def _twiml(response: MessagingResponse) -> HttpResponse:
    return HttpResponse(str(response), content_type="application/xml")


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


@twilio_webhook
def sms_incoming(request: HttpRequest) -> HttpResponse:
    """Store the text and answer at once; finding or creating its lead runs later."""
    result = services.inbound_message_receive(
        sid=request.POST.get("MessageSid", "")[:34],
        from_number=request.POST.get("From", "")[:40],
        to_number=request.POST.get("To", "")[:40],
        body=request.POST.get("Body", ""),
        opt_out_type=request.POST.get("OptOutType", "")[:16],
    )
    response = MessagingResponse()
    if result.reply:
        response.message(result.reply)
    return _twiml(response)


@twilio_webhook
def sms_status(request: HttpRequest) -> HttpResponse:
    """Apply a delivery status; unknown or repeated callbacks are answered 204 too."""
    services.message_status_update(
        sid=request.POST.get("MessageSid", "")[:34],
        twilio_status=request.POST.get("MessageStatus", "")
        or request.POST.get("SmsStatus", ""),
        message_id=_int_or_none(request.GET.get("m")),
        error_code=_int_or_none(request.POST.get("ErrorCode")),
    )
    return HttpResponse(status=204)
