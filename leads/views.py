"""Public doors for inquiries besides the JSON API.

- `POST /api/v1/intake/gravity-forms/<slug>/`: the Gravity Forms Webhooks add-on.
- `/request-a-call/<slug>/`: the hosted "Request a call" form, shown on its own or
  in an iframe on treatment sites, and `/embed/<slug>.js`, which puts it there.

Validation and storage are the intake API's (`IntakeForm`, `run_intake`,
`lead_intake`): the same inquiry gets the same answer whichever door it came in.
"""

import json
import logging
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import (
    require_http_methods,
    require_POST,
    require_safe,
)

from crm.api.exceptions import django_errors_as_dict
from crm.audit_context import client_ip

from .geo import USState
from .gravity import GravityEntryError, decode_entry, entry_to_intake
from .intake_api import (
    IntakeRefused,
    authenticate_source,
    consent_text_for,
    enforce_rate_limits,
    read_body,
    refusals_as_responses,
    run_intake,
    store_inquiry,
)
from .intake_forms import ATTRIBUTION_INPUTS, FOR_WHOM_CHOICES, TRUE_WORDS, IntakeForm
from .models import LeadSource

logger = logging.getLogger(__name__)

# --- Gravity Forms ---------------------------------------------------------------


@csrf_exempt
@require_POST
@refusals_as_responses
def gravity_forms_intake(request: HttpRequest, slug: str) -> JsonResponse:
    """Take one Gravity Forms entry (Webhooks add-on, Request Body: All Fields)."""
    # Per IP before the key is checked, so that guessing keys is throttled too.
    enforce_rate_limits(request, None)
    source = authenticate_source(request)
    if source.slug != slug:
        raise IntakeRefused(
            401,
            {"errors": {"X-Intake-Key": ["This key belongs to another source."]}},
            {"WWW-Authenticate": 'IntakeKey realm="intake"'},
        )
    enforce_rate_limits(request, source)
    body = read_body(request)
    if request.content_type != "application/json":
        raise IntakeRefused(
            415,
            {"errors": {"non_field_errors": ["Set the Request Format to JSON."]}},
        )
    try:
        inquiry = entry_to_intake(
            decode_entry(body), mapping=source.gravity_forms_mapping
        )
    except GravityEntryError as exc:
        raise IntakeRefused(400, {"errors": exc.errors}) from exc
    response = run_intake(
        request,
        source=source,
        # WordPress relays the entry from its own server: the consent evidence is
        # the address and browser of the person who ticked the box, as the entry
        # records them, and the entry id is the retry key.
        consent_ip=inquiry.ip_address,
        consent_user_agent=inquiry.user_agent,
        idempotency_key=inquiry.idempotency_key
        or request.headers.get("Idempotency-Key", ""),
        payload=inquiry.payload,
        # The receipt compares what we take, not the raw entry: Gravity's metadata
        # ("is_read", "date_updated") changes when an entry is resent from the
        # WordPress admin, and that resend must not read as a conflicting request.
        body=json.dumps(inquiry.payload, sort_keys=True, default=str).encode(),
    )
    return _resend_as_duplicate(response)


def _resend_as_duplicate(response: JsonResponse) -> JsonResponse:
    # An entry taken before is a repeat of itself to the site: 200 and
    # "duplicate": true, the same lead and owner, and nothing stored again.
    if response.get("Idempotent-Replayed") != "true":
        return response
    answer = {**json.loads(response.content), "duplicate": True}
    replayed = JsonResponse(answer, status=200)
    replayed["Idempotent-Replayed"] = "true"
    return replayed


# --- Hosted "Request a call" form ------------------------------------------------

HONEYPOT = "website"
HIDDEN_INPUTS = (*ATTRIBUTION_INPUTS, "consent_text", "consent_version")
# What a treatment page passes on to the form from its own address bar.
PAGE_QUERY_INPUTS = tuple(
    name for name in ATTRIBUTION_INPUTS if name not in ("landing_page", "referrer")
)
LABELS = {
    "first_name": "First name",
    "last_name": "Last name",
    "phone": "Phone number",
    "email": "Email",
    "state": "State",
    "for_whom": "Who is looking for help?",
    "insurance_provider": "Insurance provider",
    "message": "Anything you would like us to know?",
    "sms_consent": "Consent to calls and texts",
}


class RequestCallForm(IntakeForm):
    """The hosted form asks for a call: a name and a phone number are needed."""

    def clean_landing_page(self) -> str:
        # A hidden field the person cannot correct must never cost us the inquiry.
        try:
            return super().clean_landing_page()
        except ValidationError:
            return ""

    def clean(self) -> dict[str, Any]:
        data = self.cleaned_data
        if "first_name" not in self.errors and not data.get("first_name", "").strip():
            self.add_error("first_name", "Enter your first name.")
        if "phone" not in self.errors and not data.get("phone"):
            self.add_error("phone", "Enter a phone number so that we can call you.")
        return super().clean()


def _hosted_source(slug: str) -> LeadSource:
    return get_object_or_404(LeadSource, slug=slug, is_active=True)


def _public_url(path: str) -> str:
    return settings.PUBLIC_BASE_URL.rstrip("/") + path


def _fit(name: str, value: str) -> str:
    """Cut a hidden value to what the form takes, so that it is never an error."""
    return value.strip()[: IntakeForm.base_fields[name].max_length]


def _hidden_from_page(request: HttpRequest, source: LeadSource) -> dict[str, str]:
    """Attribution from the query string (the embed script passes the page's)."""
    query = request.GET
    hidden = {name: _fit(name, query.get(name, "")) for name in ATTRIBUTION_INPUTS}
    if not hidden["landing_page"]:
        # Linked to directly: this page is where they landed.
        hidden["landing_page"] = _fit(
            "landing_page", _public_url(request.get_full_path())
        )
    if "referrer" not in query:
        hidden["referrer"] = _fit("referrer", request.headers.get("Referer", ""))
    hidden["consent_text"] = consent_text_for(source)
    hidden["consent_version"] = source.consent_text_version
    return hidden


def _posted(request: HttpRequest) -> dict[str, str]:
    data = {name: request.POST.get(name, "") for name in RequestCallForm.base_fields}
    for name in HIDDEN_INPUTS:
        data[name] = _fit(name, data[name])
    return data


def _form_url(source: LeadSource, name: str, *, embedded: bool) -> str:
    url = reverse(name, args=[source.slug])
    return f"{url}?{urlencode({'embed': '1'})}" if embedded else url


def _render_form(
    request: HttpRequest,
    source: LeadSource,
    *,
    form: RequestCallForm,
    hidden: dict[str, str],
    embedded: bool,
    status: int = 200,
    problem: str = "",
) -> HttpResponse:
    problems = [problem] if problem else []
    fixable = []
    for name, messages in form.errors.items():
        if name in LABELS:
            fixable.extend((form[name].auto_id, LABELS[name], m) for m in messages)
        else:  # hidden fields and the form as a whole: nothing to link to
            problems.extend(messages)
    context = {
        "source": source,
        "brand": settings.SMS_BRAND_NAME,
        "form": form,
        "labels": LABELS,
        "hidden": [(name, hidden[name]) for name in HIDDEN_INPUTS],
        "consent_text": hidden["consent_text"] or consent_text_for(source),
        # Ticked only by the person: a re-shown form keeps their own choice.
        "consent_checked": form.is_bound
        and str(form.data.get("sms_consent", "")).lower() in TRUE_WORDS,
        "states": USState.choices,
        "for_whom_choices": FOR_WHOM_CHOICES,
        "fixable": fixable,
        "problems": problems,
        "honeypot": HONEYPOT,
        "embedded": embedded,
        "action": _form_url(source, "request-a-call", embedded=embedded),
    }
    return render(request, "leads/request_a_call.html", context, status=status)


def _see_thanks(source: LeadSource, *, embedded: bool) -> HttpResponseRedirect:
    response = HttpResponseRedirect(
        _form_url(source, "request-a-call-thanks", embedded=embedded)
    )
    response.status_code = 303  # after a POST, the browser GETs the thanks page
    return response


# Third-party treatment pages show these in an iframe: no X-Frame-Options, and no
# CSRF check, because an iframe on another site does not get our cookies (nor does
# a no-JavaScript post). Bots are kept out by the honeypot and the per-IP limit;
# the form changes nothing but "please call me", so there is no session to ride.
@csrf_exempt
@xframe_options_exempt
@require_http_methods(["GET", "HEAD", "POST"])
def request_a_call(request: HttpRequest, slug: str) -> HttpResponse:
    """Show the hosted form, or take what it posts."""
    source = _hosted_source(slug)
    embedded = request.GET.get("embed") == "1"
    if request.method != "POST":
        return _render_form(
            request,
            source,
            form=RequestCallForm(),
            hidden=_hidden_from_page(request, source),
            embedded=embedded,
        )

    data = _posted(request)
    try:
        enforce_rate_limits(request, None)
    except IntakeRefused as refused:
        response = _render_form(
            request,
            source,
            form=RequestCallForm(data),
            hidden=data,
            embedded=embedded,
            status=429,
            problem="Too many requests from your network. Please try again shortly.",
        )
        for name, value in refused.headers.items():
            response[name] = value
        return response
    if request.POST.get(HONEYPOT, "").strip():
        # A person never sees this field; answer a bot as if it had worked.
        logger.info("request-a-call honeypot filled source=%s", source.slug)
        return _see_thanks(source, embedded=embedded)

    form = RequestCallForm(data)
    if form.is_valid():
        try:
            store_inquiry(
                form,
                source=source,
                ip_address=client_ip(request),
                user_agent=request.META.get("HTTP_USER_AGENT", ""),
            )
        except ValidationError as exc:
            for name, messages in django_errors_as_dict(exc).items():
                form.add_error(name if name in form.fields else None, messages)
        else:
            return _see_thanks(source, embedded=embedded)
    return _render_form(
        request, source, form=form, hidden=data, embedded=embedded, status=400
    )


@xframe_options_exempt
@require_safe
def request_a_call_thanks(request: HttpRequest, slug: str) -> HttpResponse:
    """Say what happens next, in the source's own words."""
    source = _hosted_source(slug)
    return render(
        request,
        "leads/request_a_call_thanks.html",
        {
            "source": source,
            "brand": settings.SMS_BRAND_NAME,
            "embedded": request.GET.get("embed") == "1",
        },
    )


@require_safe
def request_a_call_embed(request: HttpRequest, slug: str) -> HttpResponse:
    """The script a site pastes where the form should appear."""
    source = _hosted_source(slug)
    values = {
        "form_url": _public_url(reverse("request-a-call", args=[source.slug])),
        "script_path": reverse("request-a-call-embed", args=[source.slug]),
        "page_query_inputs": PAGE_QUERY_INPUTS,
        "title": f"Request a call from {settings.SMS_BRAND_NAME}",
    }
    response = render(
        request,
        "leads/embed.js",
        # JSON literals are JavaScript literals; ensure_ascii keeps U+2028 out.
        {name: json.dumps(value) for name, value in values.items()},
        content_type="application/javascript; charset=utf-8",
    )
    # Sites keep the tag for years; a short cache lets a fix reach them soon.
    response["Cache-Control"] = "public, max-age=300"
    return response
