"""`POST /api/v1/intake/`: treatment sites post inquiries here with their source key.

Answers: 201 new lead, 200 repeat inquiry, 400 field errors, 401 bad key, 413 body
over 64 KB, 415 neither JSON nor a form, 429 rate-limited. Plain Django views (no
DRF): this is the hottest path of the product, and its contract is small.
"""

import functools
import json
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from crm.api.exceptions import django_errors_as_dict
from crm.audit_context import client_ip
from crm.ratelimit import rate_limit_hit

from .intake_forms import IntakeForm, check_flat_payload, flat_values
from .models import LeadSource
from .services.intake import (
    IntakeResult,
    channel_for_source,
    intake_once,
    lead_intake,
)
from .services.sources import source_for_key

logger = logging.getLogger(__name__)

IDEMPOTENCY_KEY_MAX = 255


class IntakeRefused(Exception):
    """An answer other than success, with its status and body."""

    def __init__(self, status: int, body: dict[str, Any], headers=None):
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}

    def response(self) -> JsonResponse:
        response = JsonResponse(self.body, status=self.status)
        for name, value in self.headers.items():
            response[name] = value
        return response


def _errors(status: int, errors: dict[str, list[str]], **headers) -> IntakeRefused:
    return IntakeRefused(status, {"errors": errors}, headers)


def authenticate_source(request: HttpRequest) -> LeadSource:
    source = source_for_key(request.headers.get("X-Intake-Key", "").strip())
    if source is None:
        raise _errors(
            401,
            {"X-Intake-Key": ["Unknown or disabled intake key."]},
            **{"WWW-Authenticate": 'IntakeKey realm="intake"'},
        )
    return source


def enforce_rate_limits(request: HttpRequest, source: LeadSource | None) -> None:
    """429 over the per-IP limit (no source yet), or over the source's own limit."""
    if source is None:
        limits = [("ip", client_ip(request) or "-", settings.INTAKE_RATE_PER_IP)]
    else:
        limits = [("key", str(source.pk), settings.INTAKE_RATE_PER_KEY)]
    for scope, ident, limit in limits:
        wait = rate_limit_hit(scope=f"intake-{scope}", ident=ident, limit=limit)
        if wait is not None:
            raise _errors(
                429,
                {"non_field_errors": ["Too many requests; try again shortly."]},
                **{"Retry-After": str(wait)},
            )


def read_body(request: HttpRequest) -> bytes:
    """The body, or 413 when it is over the limit (declared or actual)."""
    limit = settings.INTAKE_MAX_BODY_BYTES
    too_big = _errors(413, {"non_field_errors": [f"Send at most {limit // 1024} KB."]})
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise too_big
    body = request.read(limit + 1)
    if len(body) > limit:
        raise too_big
    return body


def parse_payload(request: HttpRequest, body: bytes) -> dict[str, Any]:
    """A flat dict of fields from a JSON or form-encoded body, or a 4xx."""
    content_type = request.content_type or ""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _errors(400, {"non_field_errors": ["The body is not UTF-8."]}) from exc
    if content_type == "application/json":
        try:
            payload = json.loads(text) if text.strip() else {}
        # ValueError also covers integers over Python's 4300-digit limit.
        except (ValueError, RecursionError) as exc:
            raise _errors(400, {"non_field_errors": ["The body is not JSON."]}) from exc
        errors = check_flat_payload(payload)
        if errors:
            raise _errors(400, errors)
        return flat_values(payload)
    if content_type == "application/x-www-form-urlencoded":
        try:
            pairs = parse_qsl(
                text, keep_blank_values=True, strict_parsing=False, errors="strict"
            )
        except (UnicodeDecodeError, ValueError) as exc:
            raise _errors(
                400, {"non_field_errors": ["The form fields are not UTF-8."]}
            ) from exc
        payload: dict[str, Any] = {}
        for name, value in pairs:
            if name in payload:
                raise _errors(400, {name[:64]: ["Send this field once."]})
            payload[name] = value
        errors = check_flat_payload(payload)
        if errors:
            raise _errors(400, errors)
        return payload
    raise _errors(
        415, {"non_field_errors": ["Post application/json or a URL-encoded form."]}
    )


def consent_text_for(source: LeadSource) -> str:
    """The consent wording as the person sees it, with the center's name."""
    # replace(), not format(): a stray brace in an admin's text must not break it.
    return source.consent_text.replace("{brand}", settings.SMS_BRAND_NAME)


def store_inquiry(
    form: IntakeForm,
    *,
    source: LeadSource,
    ip_address: str | None,
    user_agent: str,
) -> IntakeResult:
    """Hand a valid intake form to the intake service, with the consent evidence:
    the text shown (the source's own, with the brand, unless the site sent its
    wording), its version, and the person's address and browser."""
    return lead_intake(
        channel=channel_for_source(source),
        source=source,
        details=form.lead_details(),
        attribution=form.attribution(),
        message=form.cleaned_data["message"],
        sms_consent=form.consent_given(
            ip_address=ip_address,
            user_agent=user_agent[:255],
            default_text=consent_text_for(source),
            default_version=source.consent_text_version,
        ),
    )


def intake_answer(result: IntakeResult) -> tuple[int, dict[str, Any]]:
    owner = result.owner
    return (
        200 if result.duplicate else 201,
        {
            "id": result.lead.pk,
            "duplicate": result.duplicate,
            # First name only: the site may say "Maya will call you shortly".
            "owner": (owner.first_name or owner.get_username()) if owner else None,
        },
    )


def run_intake(
    request: HttpRequest,
    *,
    source: LeadSource,
    payload: dict[str, Any],
    body: bytes,
    consent_ip: str | None = None,
    consent_user_agent: str | None = None,
    idempotency_key: str | None = None,
) -> JsonResponse:
    """Validate the fields and store the inquiry, once per Idempotency-Key.

    A door that relays someone else's inquiry (Gravity Forms) names the person's
    address and browser for the consent record, and its own retry key.
    """
    form = IntakeForm(payload)
    if not form.is_valid():
        raise _errors(400, {name: list(msgs) for name, msgs in form.errors.items()})

    def perform() -> tuple[int, dict[str, Any], Any]:
        result = store_inquiry(
            form,
            source=source,
            ip_address=consent_ip if consent_ip is not None else client_ip(request),
            user_agent=consent_user_agent
            if consent_user_agent is not None
            else request.META.get("HTTP_USER_AGENT", ""),
        )
        status, answer = intake_answer(result)
        return status, answer, result.lead

    key = (
        idempotency_key
        if idempotency_key is not None
        else request.headers.get("Idempotency-Key", "")
    ).strip()
    try:
        if key:
            if len(key) > IDEMPOTENCY_KEY_MAX:
                raise ValidationError(
                    {"idempotency_key": ["Keep the Idempotency-Key under 255 chars."]}
                )
            receipt = intake_once(
                source=source, idempotency_key=key, request_body=body, perform=perform
            )
            response = JsonResponse(receipt.body, status=receipt.status_code)
            if receipt.replayed:
                response["Idempotent-Replayed"] = "true"
            return response
        status, answer, _ = perform()
    except ValidationError as exc:
        raise _errors(400, django_errors_as_dict(exc)) from exc
    return JsonResponse(answer, status=status)


def refusals_as_responses(view: Callable) -> Callable:
    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except IntakeRefused as refused:
            return refused.response()

    return wrapped


@csrf_exempt
@require_POST
@refusals_as_responses
def intake(request: HttpRequest) -> JsonResponse:
    """Take one inquiry from a treatment site: JSON or a URL-encoded form."""
    # Per IP before the key is checked, so that guessing keys is throttled too.
    enforce_rate_limits(request, None)
    source = authenticate_source(request)
    enforce_rate_limits(request, source)
    body = read_body(request)
    payload = parse_payload(request, body)
    return run_intake(request, source=source, payload=payload, body=body)
