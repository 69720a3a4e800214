"""The lead page (`/leads/<id>/`), its actions, and new leads typed in by hand.

Every action is an ordinary form. Without JavaScript it posts and is answered with a
redirect back to the page and a message. With htmx it is answered with the panels
the action changed (its own, and out of band the header, timeline, call-backs and
stage) and a `crm:toast` trigger. Bad input is a 400 with the form and its field
errors, and writes nothing. A lead outside the user's teams is a 404.
"""

import json
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import (
    require_http_methods,
    require_POST,
    require_safe,
)

from crm.models import User
from crm.services import audit_lead_view
from notifications.models import ConsentEvent, Message, MessageTemplate
from notifications.services import message_send_manual, template_render
from telephony.services import CallRefused, call_click_to_call

from .. import selectors, services
from ..admissions.ui import cards_context
from ..models import (
    UNANSWERED_DISPOSITIONS,
    CallBack,
    CallDisposition,
    Lead,
    Substance,
    Urgency,
)
from ..services import followup
from ..services.intake import lead_find_repeat, normalize_email, normalize_phone
from ..timeline import TIMELINE_PAGE, lead_open_callbacks, lead_timeline_rows
from .common import is_htmx, lead_for, masked
from .forms import (
    PHONE_CONSENT_TEXT,
    CallBackForm,
    CallForm,
    CallOutcomeForm,
    NewLeadForm,
    NoteForm,
    ReassignForm,
    StageForm,
    TextForm,
)

# Texts a counselor may start from, with what each is for.
TEXT_TEMPLATES: dict[str, str] = {
    MessageTemplate.Key.CALLBACK_REMINDER: "Confirm a planned call",
    MessageTemplate.Key.MISSED_CALL: "Sorry we missed your call",
    MessageTemplate.Key.CADENCE_NO_ANSWER: "I tried to call you",
    MessageTemplate.Key.WEB_AUTO_REPLY: "Thanks for reaching out",
}
PANEL_TEMPLATES: dict[str, str] = {
    "call": "leads/_lead_call.html",
    "text": "leads/_lead_text.html",
    "note": "leads/_lead_note.html",
    "outcome": "leads/_lead_outcome.html",
    "callback": "leads/_lead_callback.html",
    "stage": "leads/_lead_stage.html",
    "reassign": "leads/_lead_reassign.html",
    "callbacks": "leads/_lead_callbacks.html",
}
# Panels whose content follows from the lead's state, refreshed after any action.
STATE_PANELS = ("callbacks", "stage")
NOTICE_CLASSES = {
    messages.SUCCESS: "ok-notice",
    messages.INFO: "notice",
    messages.WARNING: "warning",
    messages.ERROR: "danger-notice",
}


@dataclass(frozen=True)
class Notice:
    """The outcome of an action, shown in its panel after an htmx swap."""

    level: int
    text: str

    @property
    def css_class(self) -> str:
        return NOTICE_CLASSES.get(self.level, "notice")


@dataclass(frozen=True)
class DedupeMatch:
    """A lead the typed phone or e-mail already belongs to."""

    lead: Lead | None  # None: the user may not see it
    by: str  # "phone" or "e-mail"

    @property
    def short_name(self) -> str:
        if self.lead is None:
            return ""
        first, last = self.lead.first_name.strip(), self.lead.last_name.strip()
        if first and last:
            return f"{first} {last[0]}."
        return first or last or "no name"


def _text_body_from_template(request: HttpRequest, lead: Lead, key: str) -> str:
    if key not in TEXT_TEMPLATES:
        return ""
    _, body = template_render(key=key, lead=lead, counselor=request.user)
    return body


def _page_context(
    request: HttpRequest,
    lead: Lead,
    *,
    forms: dict[str, Any] | None = None,
    notices: dict[str, Notice] | None = None,
    template_key: str = "",
) -> dict[str, Any]:
    """Everything the lead page shows; `forms` replaces a panel's blank form."""
    user: User = request.user
    forms = forms or {}
    now = timezone.now()
    zone = followup.lead_zone(lead)
    local_now = now.astimezone(zone)
    reach = selectors.lead_reach_now(lead=lead, now=now)
    consent = reach.consent
    rows = lead_timeline_rows(lead=lead, limit=TIMELINE_PAGE + 1)
    text_form = forms.get("text")
    if text_form is None:
        body = _text_body_from_template(request, lead, template_key)
        text_form = TextForm(initial={"body": body})
    sla_due = lead.sla_due_at if lead.first_response_at is None else None
    if not lead.is_open:
        sla_due = None
    reassign_form = None
    if user.is_supervisor:
        reassign_form = forms.get("reassign") or ReassignForm(lead=lead, user=user)
    return {
        "section": "",
        "lead": lead,
        "server_now": now,
        "notices": notices or {},
        "zone_name": zone.key,
        "zone_abbr": f"{local_now:%Z}",
        "local_time": f"{local_now:%a %H:%M %Z}",
        "local_now_input": f"{local_now:%Y-%m-%dT%H:%M}",
        "crisis": lead.urgency == Urgency.CRISIS,
        "sla_due": sla_due,
        "sla_overdue": sla_due is not None and sla_due <= now,
        "rows": rows[:TIMELINE_PAGE],
        "more_rows": len(rows) > TIMELINE_PAGE,
        "consent": consent,
        "consent_source": ConsentEvent.Source(consent.source).label
        if consent and consent.source in ConsentEvent.Source.values
        else "",
        "texting_now": reach.texting_now,
        "texting_local": reach.texting_local,
        "texting_opens": reach.texting_opens,
        "calling_now": reach.calling_now,
        "calling_opens": reach.calling_opens,
        "do_not_call": reach.do_not_call,
        "callbacks": [
            (callback, followup.both_local_times(lead, callback.due_at))
            for callback in lead_open_callbacks(lead=lead)
        ],
        "allowed_stages": services.allowed_next_stages(lead),
        "text_templates": [
            (template.key, TEXT_TEMPLATES[template.key])
            for template in MessageTemplate.objects.filter(
                key__in=list(TEXT_TEMPLATES), is_active=True
            )
        ],
        "template_key": template_key,
        "substances": [
            Substance(value).label if value in Substance.values else value
            for value in lead.substances or []
        ],
        "member_id": masked(lead.insurance_member_id),
        "call_form": forms.get("call") or CallForm(),
        "text_form": text_form,
        "note_form": forms.get("note") or NoteForm(),
        "outcome_form": forms.get("outcome") or CallOutcomeForm(zone=zone),
        "callback_form": forms.get("callback") or CallBackForm(zone=zone),
        "stage_form": forms.get("stage") or StageForm(lead=lead),
        "reassign_form": reassign_form,
        **cards_context(request=request, lead=lead),
    }


def _page(request: HttpRequest, lead: Lead, *, status: int = 200, **kwargs: Any):
    audit_lead_view(actor=request.user, lead_id=lead.pk)
    context = _page_context(request, lead, **kwargs)
    return render(request, "leads/lead_detail.html", context, status=status)


def _panels(
    request: HttpRequest,
    lead: Lead,
    panel: str,
    *,
    status: int = 200,
    refresh: bool = False,
    **kwargs: Any,
) -> HttpResponse:
    """One panel for htmx; with `refresh`, also what the action changed (oob)."""
    if refresh:
        audit_lead_view(actor=request.user, lead_id=lead.pk, detail="panels")
    context = _page_context(request, lead, **kwargs)
    context.update(
        panel_template=PANEL_TEMPLATES[panel],
        refresh=refresh,
        refresh_panels=[
            PANEL_TEMPLATES[name] for name in STATE_PANELS if name != panel
        ],
    )
    html = render_to_string("leads/_lead_swap.html", context, request=request)
    return HttpResponse(html, status=status)


def _done(
    request: HttpRequest,
    lead: Lead,
    panel: str,
    text: str,
    *,
    level: int = messages.SUCCESS,
    status: int = 200,
    forms: dict[str, Any] | None = None,
) -> HttpResponse:
    """Answer an action that was carried out, or refused and recorded."""
    try:
        lead = selectors.lead_get_for(user=request.user, lead_id=lead.pk)
    except Http404:
        # Moved to a team the user does not work in: nothing more to show here.
        messages.add_message(request, level, f"{text} The lead left your teams.")
        if is_htmx(request):
            response = HttpResponse(status=204)
            response["HX-Redirect"] = "/"
            return response
        return redirect("/")
    if not is_htmx(request):
        messages.add_message(request, level, text)
        return redirect(f"{lead.get_absolute_url()}#panel-{panel}")
    response = _panels(
        request,
        lead,
        panel,
        status=status,
        refresh=True,
        forms=forms,
        notices={panel: Notice(level, text)},
    )
    response["HX-Trigger"] = json.dumps({"crm:toast": text})
    return response


def _invalid(request: HttpRequest, lead: Lead, panel: str, form) -> HttpResponse:
    """Bad input: the form again with its errors, and nothing written."""
    if is_htmx(request):
        return _panels(request, lead, panel, status=400, forms={panel: form})
    return _page(request, lead, status=400, forms={panel: form})


# --- The page -------------------------------------------------------------------------


@login_required
@require_safe
def lead_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The lead: who, what they need, where from, everything that happened."""
    lead = lead_for(request, pk)
    return _page(request, lead, template_key=request.GET.get("template", ""))


# --- Actions --------------------------------------------------------------------------


@login_required
@require_POST
def lead_note(request: HttpRequest, pk: int) -> HttpResponse:
    lead = lead_for(request, pk)
    form = NoteForm(request.POST)
    if form.is_valid():
        try:
            services.lead_add_note(
                lead=lead, by=request.user, body=form.cleaned_data["body"]
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            return _done(request, lead, "note", "Note added.")
    return _invalid(request, lead, "note", form)


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def lead_text(request: HttpRequest, pk: int) -> HttpResponse:
    """POST texts the lead; GET fills the text box from a template."""
    lead = lead_for(request, pk)
    if request.method != "POST":
        key = request.GET.get("template", "")
        if not is_htmx(request):
            query = urlencode({"template": key})
            return redirect(f"{lead.get_absolute_url()}?{query}#panel-text")
        return _panels(request, lead, "text", template_key=key)
    form = TextForm(request.POST)
    if form.is_valid():
        try:
            message = message_send_manual(
                lead=lead,
                by=request.user,
                body=form.cleaned_data["body"],
                override_quiet_hours=form.cleaned_data["override_quiet_hours"],
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            if message.status == Message.Status.BLOCKED:
                why = message.error_message or message.get_blocked_reason_display()
                again = TextForm(initial={"body": form.cleaned_data["body"]})
                # The refusal is recorded; the words stay in the box for another try.
                return _done(
                    request,
                    lead,
                    "text",
                    f"Text not sent: {why}",
                    level=messages.ERROR,
                    status=409,
                    forms={"text": again},
                )
            return _done(request, lead, "text", "Text queued.")
    return _invalid(request, lead, "text", form)


@login_required
@require_POST
def lead_call(request: HttpRequest, pk: int) -> HttpResponse:
    """Click-to-call: the counselor's phone rings, then the lead is dialled."""
    lead = lead_for(request, pk)
    form = CallForm(request.POST)
    if form.is_valid():
        try:
            call_click_to_call(
                lead=lead,
                by=request.user,
                override_quiet_hours=form.cleaned_data["override_quiet_hours"],
            )
        except CallRefused as refused:
            return _done(
                request,
                lead,
                "call",
                f"Call not placed: {refused.detail}",
                level=messages.ERROR,
                status=502 if refused.reason == "provider_error" else 409,
            )
        except ValidationError as exc:
            if "phone" in getattr(exc, "error_dict", {}):
                exc = ValidationError(
                    "Your profile has no phone number, and click-to-call rings your "
                    "phone first. Ask an administrator to add it."
                )
            form.add_service_errors(exc)
        else:
            return _done(
                request,
                lead,
                "call",
                f"Calling your phone ({request.user.phone}): answer it to be "
                f"connected to {lead.display_name}.",
            )
    return _invalid(request, lead, "call", form)


def _outcome_text(lead: Lead, logged: followup.CallLogged) -> str:
    disposition = logged.activity.data.get("disposition", "")
    text = f"Logged: {CallDisposition(disposition).label.lower()}."
    callback = logged.next_callback
    if callback is not None:
        when = followup.both_local_times(lead, callback.due_at)
        if callback.reason == CallBack.Reason.CADENCE:
            return f"{text} Next attempt scheduled for {when}."
        return f"{text} Call-back set for {when}."
    close_at = logged.lead.cadence_close_at
    if disposition in UNANSWERED_DISPOSITIONS and close_at is not None:
        when = followup.both_local_times(lead, close_at)
        return (
            f"{text} That was the last follow-up attempt: the lead closes as "
            f"unreachable {when} unless someone acts."
        )
    return text


@login_required
@require_POST
def lead_call_outcome(request: HttpRequest, pk: int) -> HttpResponse:
    """Log how a call went; the outcome schedules what comes next."""
    lead = lead_for(request, pk)
    form = CallOutcomeForm(request.POST, zone=followup.lead_zone(lead))
    if form.is_valid():
        try:
            logged = followup.lead_call_log(
                lead=lead, by=request.user, **form.service_kwargs()
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            return _done(request, lead, "outcome", _outcome_text(lead, logged))
    return _invalid(request, lead, "outcome", form)


@login_required
@require_POST
def lead_callback(request: HttpRequest, pk: int) -> HttpResponse:
    """Promise a call at a time typed in the lead's own time zone."""
    lead = lead_for(request, pk)
    form = CallBackForm(request.POST, zone=followup.lead_zone(lead))
    if form.is_valid():
        try:
            callback = followup.callback_schedule(
                lead=lead,
                by=request.user,
                due_at=form.cleaned_data["due_at"],
                note=form.cleaned_data["note"],
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            when = followup.both_local_times(lead, callback.due_at)
            return _done(request, lead, "callback", f"Call-back set for {when}.")
    return _invalid(request, lead, "callback", form)


@login_required
@require_POST
def lead_callback_cancel(
    request: HttpRequest, pk: int, callback_pk: int
) -> HttpResponse:
    lead = lead_for(request, pk)
    callback = next(
        (cb for cb in lead_open_callbacks(lead=lead) if cb.pk == callback_pk), None
    )
    if callback is None:
        return _done(
            request,
            lead,
            "callbacks",
            "This call-back is no longer open.",
            level=messages.WARNING,
            status=409,
        )
    followup.callback_cancel(callback=callback, by=request.user)
    when = followup.both_local_times(lead, callback.due_at)
    return _done(request, lead, "callbacks", f"Call-back for {when} cancelled.")


@login_required
@require_POST
def lead_stage(request: HttpRequest, pk: int) -> HttpResponse:
    """Move the lead to one of its allowed next stages."""
    lead = lead_for(request, pk)
    form = StageForm(request.POST, lead=lead)
    if form.is_valid():
        try:
            lead = services.lead_transition(
                lead=lead, by=request.user, **form.service_kwargs()
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            return _done(
                request, lead, "stage", f"Moved to {lead.get_stage_display()}."
            )
    return _invalid(request, lead, "stage", form)


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def lead_reassign(request: HttpRequest, pk: int) -> HttpResponse:
    """A supervisor gives the lead to someone else, or another team.

    GET (htmx) re-lists the owners when another team is chosen.
    """
    lead = lead_for(request, pk)
    if not request.user.is_supervisor:
        raise PermissionDenied("Only a supervisor can reassign a lead.")
    if request.method != "POST":
        if not is_htmx(request):
            return redirect(f"{lead.get_absolute_url()}#panel-reassign")
        form = ReassignForm(
            lead=lead,
            user=request.user,
            initial={"team": request.GET.get("team"), "owner": None},
        )
        return _panels(request, lead, "reassign", forms={"reassign": form})
    form = ReassignForm(request.POST, lead=lead, user=request.user)
    if form.is_valid():
        owner, team = form.cleaned_data["owner"], form.cleaned_data["team"]
        try:
            services.lead_assign(lead=lead, owner=owner, team=team, by=request.user)
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            text = f"Assigned to {owner}." if owner else f"Back in the {team} queue."
            return _done(request, lead, "reassign", text)
    return _invalid(request, lead, "reassign", form)


# --- New lead by hand -----------------------------------------------------------------


def _dedupe_match(request: HttpRequest, *, phone: object, email: object):
    """The lead the phone or e-mail belongs to, as much of it as the user may see."""
    try:
        phone = normalize_phone(phone)
    except ValidationError:
        phone = ""
    try:
        email = normalize_email(email)
    except ValidationError:
        email = ""
    if not (phone or email):
        return None
    lead = lead_find_repeat(phone=phone, email=email, now=timezone.now())
    if lead is None:
        return None
    by = "phone" if phone and str(lead.phone) == phone else "e-mail"
    if not selectors.lead_visible_to(user=request.user, lead=lead):
        return DedupeMatch(lead=None, by=by)
    audit_lead_view(actor=request.user, lead_id=lead.pk, detail="dedupe check")
    return DedupeMatch(lead=lead, by=by)


def _new_lead_page(request: HttpRequest, form: NewLeadForm, *, status: int = 200):
    dedupe = None
    if form.is_bound:
        dedupe = _dedupe_match(
            request, phone=form.data.get("phone"), email=form.data.get("email")
        )
    context = {
        "section": "new",
        "form": form,
        "dedupe": dedupe,
        "consent_text": PHONE_CONSENT_TEXT,
        "substance_field": form["substances"],
    }
    return render(request, "leads/lead_new.html", context, status=status)


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def lead_new(request: HttpRequest) -> HttpResponse:
    """Type in an inquiry taken on the phone; a known phone or e-mail is a repeat."""
    if request.method != "POST":
        return _new_lead_page(request, NewLeadForm(user=request.user))
    form = NewLeadForm(request.POST, user=request.user)
    if form.is_valid():
        try:
            result = services.lead_enter_manually(
                by=request.user,
                team=form.cleaned_data.get("team"),
                message=form.cleaned_data["message"],
                sms_consent=form.consent(),
                **form.details(),
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            return _after_entry(request, result.lead, duplicate=result.duplicate)
    return _new_lead_page(request, form, status=400)


def _after_entry(request: HttpRequest, lead: Lead, *, duplicate: bool) -> HttpResponse:
    visible = selectors.lead_visible_to(user=request.user, lead=lead)
    if duplicate and not visible:
        messages.warning(
            request,
            "This phone or e-mail belongs to a lead of another team: the inquiry "
            "was added to that lead, and its team was told.",
        )
        return redirect("/")
    if duplicate:
        owner = lead.owner or "nobody yet"
        messages.warning(
            request,
            f"This phone or e-mail belongs to lead #{lead.pk} ({lead.display_name}), "
            f"owned by {owner}: the inquiry was added to that lead instead of a "
            "new one.",
        )
    else:
        owner = f", assigned to {lead.owner}" if lead.owner else ", in the team queue"
        messages.success(request, f"Lead #{lead.pk} created{owner}.")
    if not visible:
        return redirect("/")
    return redirect(lead.get_absolute_url())


@login_required
@require_safe
def lead_new_check(request: HttpRequest) -> HttpResponse:
    """Say, while the counselor types, whose lead a phone or e-mail already is."""
    match = _dedupe_match(
        request, phone=request.GET.get("phone"), email=request.GET.get("email")
    )
    return render(request, "leads/_lead_dedupe.html", {"dedupe": match})
