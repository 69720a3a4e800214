"""The lead page's admission card, its actions, and the program catalog page.

The card shows the scheduled (or last) admission with what can happen to it next,
or, when none is scheduled, the programs that fit the lead and a form to schedule
one. Actions post with htmx and are answered with the card again (400 with the
form's errors, nothing written); without JavaScript a success redirects to the
lead page and a refusal shows the card on a page of its own.
"""

from datetime import tzinfo
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe

from crm.services import audit_lead_view

from ...geo import USState
from ...models import Admission, CoveredLevel, Lead, Payer
from ...services.followup import both_local_times, lead_zone
from ...ui.common import LARGEST_ID, card_response, is_htmx, lead_for
from ...ui.forms import LeadLocalDateTimeField, PanelForm
from ...ui.lead import Notice
from .. import admission as services
from ..programs import (
    MatchCriteria,
    ProgramMatch,
    lead_admissions,
    level_labels,
    match_criteria_for,
    programs_catalog,
    programs_for_criteria,
)

CARD_TEMPLATE = "leads/admissions/_card_admission.html"
PAGE_TEMPLATE = "leads/admissions/_admission_page.html"
CARD_ANCHOR = "#card-admission"
# Matches the card shows; the programs page shows them all.
CARD_MATCHES = 3
STATUS_BADGES = {
    Admission.Status.SCHEDULED: "badge-info",
    Admission.Status.ADMITTED: "badge-ok",
    Admission.Status.NO_SHOW: "badge-danger",
    Admission.Status.CANCELLED: "badge-warn",
}


# --- Forms ---------------------------------------------------------------------------


def _program_label(match: ProgramMatch) -> str:
    program = match.program
    beds = "full" if match.is_full else f"{match.open_beds} open"
    return f"{program.name} — {program.city}, {program.state} ({beds})"


class AdmissionScheduleForm(PanelForm):
    id_prefix = "admission"

    program = forms.ChoiceField(label="Program")
    level_of_care = forms.ChoiceField(
        label="Level of care", choices=[("", "Choose"), *CoveredLevel.choices]
    )
    scheduled_for = LeadLocalDateTimeField(label="Arrives")
    travel_arranged = forms.BooleanField(label="Travel arranged", required=False)
    travel_notes = forms.CharField(
        label="Travel notes",
        required=False,
        max_length=services.TRAVEL_NOTES_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Who drives or books, flight, pick-up point.",
    )

    def __init__(
        self, *args: Any, zone: tzinfo, matches: list[ProgramMatch], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["scheduled_for"].zone = zone
        self.programs = {str(match.program.pk): match.program for match in matches}
        fitting = [(str(m.program.pk), _program_label(m)) for m in matches if m.fits]
        others = [(str(m.program.pk), _program_label(m)) for m in matches if not m.fits]
        choices: list = [("", "Choose a program")]
        if fitting:
            choices.append(("Fit this lead", fitting))
        if others:
            choices.append(("Do not fit (see why on the programs page)", others))
        self.fields["program"].choices = choices

    def service_kwargs(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "program": self.programs[data["program"]],
            "level_of_care": data["level_of_care"],
            "scheduled_for": data["scheduled_for"],
            "travel_arranged": data["travel_arranged"],
            "travel_notes": data["travel_notes"],
        }


class AdmissionRescheduleForm(PanelForm):
    id_prefix = "admission_reschedule"

    scheduled_for = LeadLocalDateTimeField(label="Arrives")
    travel_arranged = forms.BooleanField(label="Travel arranged", required=False)
    travel_notes = forms.CharField(
        label="Travel notes",
        required=False,
        max_length=services.TRAVEL_NOTES_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args: Any, zone: tzinfo, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["scheduled_for"].zone = zone


class AdmissionNoShowForm(PanelForm):
    id_prefix = "admission_no_show"

    note = forms.CharField(
        label="What we know",
        required=False,
        max_length=services.NOTE_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class AdmissionCancelForm(PanelForm):
    id_prefix = "admission_cancel"

    reason = forms.CharField(
        label="Why it is cancelled",
        max_length=services.NOTE_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class AdmissionAdmitForm(PanelForm):
    """No fields: it carries the service's refusal, if any."""

    id_prefix = "admission_admit"


class ProgramFilterForm(forms.Form):
    level_of_care = forms.ChoiceField(
        label="Level of care",
        required=False,
        choices=[("", "Any level"), *CoveredLevel.choices],
    )
    payer = forms.ModelChoiceField(
        label="Payer",
        required=False,
        queryset=Payer.objects.filter(is_active=True),
        empty_label="Any payer",
    )
    state = forms.ChoiceField(
        label="Admits from",
        required=False,
        choices=[("", "Any state"), *USState.choices],
    )
    open_beds_only = forms.BooleanField(label="Open beds only", required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "programs_%s")
        super().__init__(*args, **kwargs)


# --- The card ------------------------------------------------------------------------


def _schedule_form(
    lead: Lead, matches: list[ProgramMatch], criteria: MatchCriteria
) -> AdmissionScheduleForm:
    return AdmissionScheduleForm(
        zone=lead_zone(lead),
        matches=matches,
        initial={"level_of_care": criteria.level_of_care},
    )


def card_context(
    *,
    request: HttpRequest,
    lead: Lead,
    forms: dict[str, Any] | None = None,
    notice: Notice | None = None,
) -> dict[str, Any]:
    """What the admission card shows: three queries at most.

    `forms` replaces a blank form with one carrying errors; `notice` is the outcome
    of the action just taken.
    """
    forms = forms or {}
    zone = lead_zone(lead)
    admissions = lead_admissions(lead=lead)
    current = next(
        (a for a in admissions if a.status == Admission.Status.SCHEDULED), None
    )
    shown = current or (admissions[0] if admissions else None)
    history = [admission for admission in admissions if admission is not shown]

    criteria: MatchCriteria | None = None
    matches: list[ProgramMatch] = []
    schedule_form = None
    can_schedule = current is None and lead.stage in services.SCHEDULABLE_FROM
    if current is None and lead.is_open:
        criteria = match_criteria_for(lead=lead)
        matches = programs_for_criteria(criteria=criteria)
        if can_schedule:
            schedule_form = forms.get("schedule") or _schedule_form(
                lead, matches, criteria
            )

    shown_forms = {"schedule"} if schedule_form is not None else set()
    if current is not None:
        shown_forms |= {"admit", "no_show", "cancel", "reschedule"}
    context: dict[str, Any] = {
        "admission_notice": notice,
        # A refusal about an admission no longer scheduled (someone else acted
        # first) has no form left to show it next to.
        "admission_errors": [
            error
            for name, form in forms.items()
            if name not in shown_forms
            for errors in form.errors.values()
            for error in errors
        ],
        "admission_current": current,
        "admission_shown": _row(lead, shown) if shown else None,
        "admission_history": [_row(lead, admission) for admission in history],
        "admission_criteria": criteria,
        "admission_matches": matches[:CARD_MATCHES],
        "admission_match_count": len(matches),
        "admission_schedule_form": schedule_form,
        "admission_local_now": f"{timezone.now().astimezone(zone):%a %H:%M %Z}",
        "admission_zone_name": zone.key,
    }
    if current is not None:
        context.update(
            admission_can_no_show=current.scheduled_for <= timezone.now(),
            admission_admit_form=forms.get("admit") or AdmissionAdmitForm(),
            admission_no_show_form=forms.get("no_show") or AdmissionNoShowForm(),
            admission_cancel_form=forms.get("cancel") or AdmissionCancelForm(),
            admission_reschedule_form=forms.get("reschedule")
            or AdmissionRescheduleForm(
                zone=zone,
                initial={
                    "scheduled_for": current.scheduled_for,
                    "travel_arranged": current.travel_arranged,
                    "travel_notes": current.travel_notes,
                },
            ),
            # A form that failed is shown open.
            admission_open_form=next(iter(forms), ""),
        )
    return context


def _row(lead: Lead, admission: Admission) -> dict[str, Any]:
    return {
        "admission": admission,
        "when": both_local_times(lead, admission.scheduled_for),
        "changed": both_local_times(lead, admission.status_changed_at),
        "admitted": both_local_times(lead, admission.admitted_at)
        if admission.admitted_at
        else "",
        "badge": STATUS_BADGES.get(admission.status, ""),
    }


# --- Actions -------------------------------------------------------------------------


def _admission_for(lead: Lead, admission_pk: int) -> Admission:
    admission = (
        Admission.objects.filter(lead=lead, pk=min(admission_pk, LARGEST_ID))
        .select_related("program")
        .first()
    )
    if admission is None:
        raise Http404("No such admission.")
    return admission


def _card(
    request: HttpRequest,
    lead: Lead,
    *,
    status: int = 200,
    forms: dict[str, Any] | None = None,
    notice: Notice | None = None,
) -> HttpResponse:
    context = {
        "lead": lead,
        **card_context(request=request, lead=lead, forms=forms, notice=notice),
    }
    return card_response(
        request,
        card_template=CARD_TEMPLATE,
        page_template=PAGE_TEMPLATE,
        context=context,
        status=status,
    )


def _done(request: HttpRequest, lead: Lead, text: str) -> HttpResponse:
    """Answer an action carried out: back to the lead page, reloaded whole.

    An admission moves the lead's stage, so the header, the stage panel, the
    call-backs and the timeline all change with the card: htmx is told to load
    the page again rather than swap the card alone.
    """
    messages.success(request, text)
    address = lead.get_absolute_url() + CARD_ANCHOR
    if not is_htmx(request):
        return redirect(address)
    response = HttpResponse(status=204)
    response["HX-Redirect"] = address
    return response


def _invalid(request: HttpRequest, lead: Lead, name: str, form) -> HttpResponse:
    """Bad input: the card with the form and its errors, and nothing written."""
    return _card(request, lead, status=400, forms={name: form})


@login_required
@require_POST
def admission_schedule(request: HttpRequest, pk: int) -> HttpResponse:
    """Schedule the lead's admission into a program that fits."""
    lead = lead_for(request, pk)
    criteria = match_criteria_for(lead=lead)
    matches = programs_for_criteria(criteria=criteria)
    form = AdmissionScheduleForm(request.POST, zone=lead_zone(lead), matches=matches)
    if form.is_valid():
        try:
            admission = services.admission_schedule(
                lead=lead, by=request.user, **form.service_kwargs()
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            when = both_local_times(lead, admission.scheduled_for)
            return _done(
                request, lead, f"Admission scheduled at {admission.program}, {when}."
            )
    return _invalid(request, lead, "schedule", form)


@login_required
@require_POST
def admission_reschedule(request: HttpRequest, pk: int, admission_pk: int):
    lead = lead_for(request, pk)
    admission = _admission_for(lead, admission_pk)
    form = AdmissionRescheduleForm(request.POST, zone=lead_zone(lead))
    if form.is_valid():
        try:
            admission = services.admission_reschedule(
                admission=admission, by=request.user, **form.cleaned_data
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            when = both_local_times(lead, admission.scheduled_for)
            return _done(request, lead, f"Admission set for {when}.")
    return _invalid(request, lead, "reschedule", form)


@login_required
@require_POST
def admission_admit(request: HttpRequest, pk: int, admission_pk: int):
    lead = lead_for(request, pk)
    admission = _admission_for(lead, admission_pk)
    form = AdmissionAdmitForm(request.POST)
    if form.is_valid():
        try:
            services.admission_admit(admission=admission, by=request.user)
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            return _done(request, lead, f"Admitted to {admission.program}.")
    return _invalid(request, lead, "admit", form)


@login_required
@require_POST
def admission_no_show(request: HttpRequest, pk: int, admission_pk: int):
    lead = lead_for(request, pk)
    admission = _admission_for(lead, admission_pk)
    form = AdmissionNoShowForm(request.POST)
    if form.is_valid():
        try:
            services.admission_no_show(
                admission=admission, by=request.user, note=form.cleaned_data["note"]
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            return _done(
                request,
                lead,
                "No-show recorded: the lead is back in clinical review and "
                "follow-up calls have restarted.",
            )
    return _invalid(request, lead, "no_show", form)


@login_required
@require_POST
def admission_cancel(request: HttpRequest, pk: int, admission_pk: int):
    lead = lead_for(request, pk)
    admission = _admission_for(lead, admission_pk)
    form = AdmissionCancelForm(request.POST)
    if form.is_valid():
        try:
            services.admission_cancel(
                admission=admission, by=request.user, reason=form.cleaned_data["reason"]
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            return _done(
                request,
                lead,
                "Admission cancelled: the lead is back in clinical review.",
            )
    return _invalid(request, lead, "cancel", form)


# --- The program catalog -------------------------------------------------------------


def _catalog_row(program) -> dict[str, Any]:
    return {
        "program": program,
        "levels": level_labels(program.levels_of_care),
        "payers": [payer.name for payer in program.payers.all()],
        "states": ", ".join(sorted(program.states_served or [])),
    }


def _lead_from_query(request: HttpRequest) -> Lead | None:
    value = request.GET.get("lead", "").strip()
    if not value:
        return None
    if not value.isdigit():
        raise Http404("No such lead.")
    return lead_for(request, int(value))


@login_required
@require_safe
def programs(request: HttpRequest) -> HttpResponse:
    """The catalog, filtered; with `?lead=<id>`, the programs ranked for that lead."""
    lead = _lead_from_query(request)
    form = ProgramFilterForm(request.GET or None)
    valid = form.is_valid() if form.is_bound else True
    filters = form.cleaned_data if form.is_bound and valid else {}
    context: dict[str, Any] = {"section": "programs", "form": form, "lead": lead}
    if lead is not None:
        criteria = match_criteria_for(
            lead=lead,
            level_of_care=filters.get("level_of_care") or None,
            payer=filters.get("payer"),
            state=filters.get("state") or None,
        )
        matches = programs_for_criteria(criteria=criteria)
        if filters.get("open_beds_only"):
            matches = [match for match in matches if not match.is_full]
        audit_lead_view(actor=request.user, lead_id=lead.pk, detail="program matches")
        context.update(
            criteria=criteria,
            matches=[
                {
                    "match": match,
                    "levels": level_labels(match.program.levels_of_care),
                }
                for match in matches
            ],
        )
    else:
        catalog = programs_catalog(
            level_of_care=filters.get("level_of_care") or "",
            payer=filters.get("payer"),
            state=filters.get("state") or "",
            open_beds_only=bool(filters.get("open_beds_only")),
        )
        context["rows"] = [_catalog_row(program) for program in catalog]
    status = 200 if valid else 400
    return render(request, "leads/admissions/programs.html", context, status=status)
