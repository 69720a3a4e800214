"""The lead page's pre-screen card, the pre-screen form, and older versions.

The form is a page of its own (it is long, and filled in during the call); saving
it makes a new version and goes back to the lead page. Older versions are read
only, with what changed since the one before.
"""

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_safe

from ...models import Lead, PreScreen, Substance, Urgency
from ...ui.common import lead_for
from ..prescreen import (
    ASAM_DIMENSIONS,
    prescreen_changes,
    prescreen_current,
    prescreen_display,
    prescreen_history,
    prescreen_label,
    prescreen_record_view,
    prescreen_save,
    prescreen_with_previous,
    substance_line,
)
from .prescreen_forms import PreScreenForm

# One page template for the form and for an older version (read only).
PAGE_TEMPLATE = "leads/admissions/prescreen_form.html"

# The read-only page's sections, in the form's order.
SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Patient", ("patient_is", "patient_name", "patient_age", "patient_gender")),
    ("Substance use", ("substances", "last_use_on")),
    ("Withdrawal", ("withdrawal_risk", "detox_needed", "withdrawal_history")),
    (
        "Mental health and medications",
        ("co_occurring_mental_health", "mental_health_notes", "medications"),
    ),
    (
        "Safety screen",
        ("suicidal_thoughts", "overdose_last_30_days", "safety_notes"),
    ),
    ("Legal", ("legal_issues", "legal_notes")),
    ("ASAM dimensions", tuple(d.field for d in ASAM_DIMENSIONS)),
    ("Level of care and readiness", ("level_of_care_indicated", "readiness")),
    ("Notes", ("notes",)),
)


def _asam_row(prescreen: PreScreen) -> list[tuple[str, str, int | None]]:
    return [(d.short, d.name, getattr(prescreen, d.field)) for d in ASAM_DIMENSIONS]


def card_context(*, request: HttpRequest, lead: Lead) -> dict[str, Any]:
    """The current version in brief and the list of versions: two queries."""
    current = prescreen_current(lead)
    return {
        "prescreen_current": current,
        "prescreen_history": prescreen_history(lead) if current else [],
        "prescreen_asam": _asam_row(current) if current else [],
        "prescreen_substances": [
            substance_line(row) for row in (current.substances if current else [])
        ],
    }


def _form_page(
    request: HttpRequest,
    lead: Lead,
    form: PreScreenForm,
    current: PreScreen | None,
    *,
    status: int = 200,
) -> HttpResponse:
    safety_answers = (
        form["suicidal_thoughts"].value(),
        form["overdose_last_30_days"].value(),
    )
    context = {
        "lead": lead,
        "form": form,
        "current": current,
        "next_version": current.version + 1 if current else 1,
        "crisis": lead.urgency == Urgency.CRISIS,
        "show_crisis_script": "yes" in safety_answers,
        "substance_words": Substance.labels,
    }
    return render(request, PAGE_TEMPLATE, context, status=status)


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def prescreen_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: the form filled from the current version. POST: save the next one."""
    lead = lead_for(request, pk)
    current = prescreen_current(lead)
    if request.method != "POST":
        if current is not None:
            prescreen_record_view(prescreen=current, by=request.user)
        form = PreScreenForm(
            initial=PreScreenForm.initial_for(lead=lead, current=current)
        )
        return _form_page(request, lead, form, current)
    form = PreScreenForm(request.POST)
    if form.is_valid():
        try:
            saved = prescreen_save(lead=lead, by=request.user, data=form.service_data())
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, f"Pre-screen saved as version {saved.version}.")
            if saved.safety_flagged:
                messages.error(
                    request,
                    "Safety screen answered yes: the lead is marked as a crisis and "
                    "your supervisors were alerted. Follow the 988 / 911 script now.",
                )
            return redirect(f"{lead.get_absolute_url()}#card-prescreen")
    return _form_page(request, lead, form, current, status=400)


@login_required
@require_safe
def prescreen_version(request: HttpRequest, pk: int, version: int) -> HttpResponse:
    """One saved version, read only, and what changed since the one before."""
    lead = lead_for(request, pk)
    prescreen, previous = prescreen_with_previous(lead, version)
    if prescreen is None:
        raise Http404("No such version.")
    prescreen_record_view(prescreen=prescreen, by=request.user)
    context = {
        "lead": lead,
        "prescreen": prescreen,
        "previous": previous,
        "changes": prescreen_changes(previous, prescreen),
        "sections": [
            (
                title,
                [
                    (prescreen_label(name), prescreen_display(prescreen, name))
                    for name in names
                ],
            )
            for title, names in SECTIONS
        ],
        "crisis": lead.urgency == Urgency.CRISIS,
    }
    return render(request, PAGE_TEMPLATE, context)
