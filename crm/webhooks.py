"""The one signature check every Twilio webhook goes through."""

import functools
import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.request_validator import RequestValidator

logger = logging.getLogger(__name__)


def public_url(request: HttpRequest) -> str:
    """The URL Twilio called, as configured: a proxy may change host and scheme."""
    return settings.PUBLIC_BASE_URL.rstrip("/") + request.get_full_path()


def twilio_signature_is_valid(request: HttpRequest) -> bool:
    token = settings.TWILIO_AUTH_TOKEN
    signature = request.headers.get("X-Twilio-Signature", "")
    if not token or not signature:
        return False
    return RequestValidator(token).validate(
        public_url(request), request.POST, signature
    )


def twilio_webhook(view):
    """Accept only POSTs signed by Twilio for this URL; anything else is a 403.

    Checked against PUBLIC_BASE_URL + path (and query), never the Host header, and
    whatever DEBUG says: a forged request must not write anything.
    """

    @csrf_exempt
    @require_POST
    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not twilio_signature_is_valid(request):
            logger.warning("twilio webhook refused path=%s", request.path)
            return HttpResponseForbidden("Invalid Twilio signature.")
        return view(request, *args, **kwargs)

    return wrapper
