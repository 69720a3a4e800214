"""Twilio's SMS webhooks: inbound texts and delivery status callbacks."""

import logging

from django.http import HttpRequest, HttpResponse
from twilio.twiml.messaging_response import MessagingResponse

from crm.webhooks import twilio_webhook

from . import services

logger = logging.getLogger(__name__)


def _twiml(response: MessagingResponse) -> HttpResponse:
    return HttpResponse(str(response), content_type="application/xml")


def _param(request: HttpRequest, name: str, max_length: int | None = None) -> str:
    """A form field as text PostgreSQL can store: NUL characters removed."""
    value = request.POST.get(name, "").replace("\x00", "")
    return value[:max_length] if max_length else value


def _int_or_none(value: str | None) -> int | None:
    """A whole number that fits the database's integer columns, else None."""
    try:
        number = int(value) if value else None
    except ValueError:
        return None
    return number if number is not None and 0 <= number < 2**31 else None


@twilio_webhook
def sms_incoming(request: HttpRequest) -> HttpResponse:
    """Store the text and answer at once; finding or creating its lead runs later."""
    result = services.inbound_message_receive(
        sid=_param(request, "MessageSid", 34),
        from_number=_param(request, "From", 40),
        to_number=_param(request, "To", 40),
        body=_param(request, "Body"),
        opt_out_type=_param(request, "OptOutType", 16),
    )
    response = MessagingResponse()
    if result.reply:
        response.message(result.reply)
    return _twiml(response)


@twilio_webhook
def sms_status(request: HttpRequest) -> HttpResponse:
    """Apply a delivery status; unknown or repeated callbacks are answered 204 too."""
    services.message_status_update(
        sid=_param(request, "MessageSid", 34),
        twilio_status=_param(request, "MessageStatus", 20)
        or _param(request, "SmsStatus", 20),
        message_id=_int_or_none(request.GET.get("m")),
        error_code=_int_or_none(request.POST.get("ErrorCode")),
    )
    return HttpResponse(status=204)
