"""VOB pages: the lead page's insurance card, the request, the verifiers' queue, the
work page of one VOB (result, card photos, authorizations, electronic check).
"""

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import (
    require_http_methods,
    require_POST,
    require_safe,
)

from crm.services import audit_lead_view, audit_record, audit_record_many

from ...models import InsuranceVerification, Lead
from ...selectors import lead_get_for
from ...ui.common import masked
from .. import verification as vob
from .verification_forms import (
    AuthorizationForm,
    CardImageForm,
    EligibilityResponseForm,
    VerificationRequestForm,
    VerificationResultForm,
    benefit_forms,
)

Status = InsuranceVerification.Status
STATUS_TONES = {
    Status.REQUESTED: "warn",
    Status.IN_PROGRESS: "info",
    Status.VERIFIED: "ok",
    Status.DENIED: "danger",
    Status.UNABLE: "danger",
}


def status_tone(verification: InsuranceVerification) -> str:
    return STATUS_TONES.get(verification.status, "info")


# --- The lead page's card ------------------------------------------------------------


def card_context(*, request: HttpRequest, lead: Lead) -> dict[str, Any]:
    """The lead's VOBs (current first) and authorizations: three queries."""
    verifications = list(vob.verifications_of(lead)[:20])
    current = next((v for v in verifications if v.is_current), None)
    now = timezone.now()
    return {
        "vob_current": current,
        "vob_current_tone": status_tone(current) if current else "",
        "vob_current_turnaround": vob.format_duration(vob.turnaround(current, now))
        if current
        else "",
        "vob_member_id": masked(current.member_id) if current else "",
        "vob_history": [
            (v, status_tone(v), vob.format_duration(vob.turnaround(v, now)))
            for v in verifications
            if not v.is_current
        ],
        "vob_authorizations": list(lead.authorizations.order_by("-starts_on", "-id")),
    }


# --- Requesting ----------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def vob_request(request: HttpRequest, pk: int) -> HttpResponse:
    """Ask for a verification of benefits; the lead moves to insurance verification."""
    lead = lead_get_for(user=request.user, lead_id=pk)
    if request.method == "POST":
        form = VerificationRequestForm(request.POST)
        if form.is_valid():
            try:
                vob.verification_request(
                    lead=lead, by=request.user, data=form.cleaned_data
                )
            except ValidationError as error:
                form.add_service_errors(error)
            else:
                messages.success(request, "VOB requested. The verifiers have it now.")
                return redirect(f"{lead.get_absolute_url()}#card-verification")
        status = 400
    else:
        form = VerificationRequestForm(
            initial={
                "payer_name": lead.insurance_payer,
                "group_number": lead.insurance_group_number,
                "subscriber_name": lead.insurance_subscriber_name,
                "patient_date_of_birth": lead.date_of_birth,
            }
        )
        status = 200
    audit_lead_view(actor=request.user, lead_id=lead.pk, detail="vob request")
    return render(
        request,
        "leads/admissions/vob_request.html",
        {
            "lead": lead,
            "form": form,
            "intake_member_id": masked(lead.insurance_member_id),
        },
        status=status,
    )


# --- The verifiers' queue ------------------------------------------------------------


@never_cache
@login_required
@require_safe
def vob_queue(request: HttpRequest) -> HttpResponse:
    """Waiting VOBs, oldest request first, with how long each has waited."""
    mine = request.GET.get("mine") == "1"
    rows = vob.verification_queue(user=request.user, mine=mine)
    audit_record_many(
        actor=request.user,
        action="list",
        object_type="lead",
        object_ids=sorted({row.verification.lead_id for row in rows}),
    )
    context = {
        "section": "vob",
        "rows": rows,
        "mine": mine,
        "target_minutes": int(vob.TURNAROUND_TARGET.total_seconds() // 60),
        "overdue_count": sum(row.overdue for row in rows),
    }
    template = "leads/admissions/vob_queue.html"
    if request.headers.get("HX-Request") == "true":
        template = "leads/admissions/_vob_queue_rows.html"
    return render(request, template, context)


@login_required
@require_POST
def vob_start(request: HttpRequest, vob_id: int) -> HttpResponse:
    verification = vob.verification_get_for(user=request.user, pk=vob_id)
    try:
        vob.verification_start(verification=verification, by=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("vob-queue")
    return redirect("vob-detail", vob_id=verification.pk)


# --- One VOB -------------------------------------------------------------------------


def _detail(
    request: HttpRequest,
    verification: InsuranceVerification,
    *,
    status: int = 200,
    result_form: VerificationResultForm | None = None,
    benefits=None,
    card_form: CardImageForm | None = None,
    auth_form: AuthorizationForm | None = None,
    eligibility_form: EligibilityResponseForm | None = None,
) -> HttpResponse:
    audit_record(
        actor=request.user,
        action="view",
        object_type="insuranceverification",
        object_id=verification.pk,
        lead_id=verification.lead_id,
    )
    lead = verification.lead
    return render(
        request,
        "leads/admissions/vob_detail.html",
        {
            "section": "vob",
            "vob": verification,
            "lead": lead,
            "tone": status_tone(verification),
            "turnaround": vob.format_duration(vob.turnaround(verification)),
            "member_id": masked(verification.member_id),
            "result_facts": vob.verification_result_facts(verification),
            "result_form": result_form or VerificationResultForm(instance=verification),
            "benefit_rows": benefits or benefit_forms(verification),
            "card_form": card_form or CardImageForm(),
            "auth_form": auth_form or AuthorizationForm(),
            "eligibility_form": eligibility_form or EligibilityResponseForm(),
            "events": list(verification.events.select_related("by")),
            "card_images": list(
                verification.card_images.select_related("uploaded_by").defer(
                    "encrypted_image"
                )
            ),
            "authorizations": list(verification.authorizations.all()),
            "can_send_270": bool(
                verification.payer_id and verification.payer.electronic_payer_id
            ),
        },
        status=status,
    )


@never_cache
@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def vob_detail(request: HttpRequest, vob_id: int) -> HttpResponse:
    """Work a VOB: what the card says, what the payer said, the result."""
    verification = vob.verification_get_for(user=request.user, pk=vob_id)
    if request.method != "POST":
        return _detail(request, verification)
    form = VerificationResultForm(request.POST, instance=verification)
    benefits = benefit_forms(verification, request.POST)
    # Every form checked (no short cut), so that every error shows at once.
    benefits_valid = [b.is_valid() for _, _, b in benefits].count(False) == 0
    if form.is_valid() and benefits_valid:
        action = form.cleaned_data["action"]
        benefit_values = {
            level: {name: b.cleaned_data[name] for name in vob.BENEFIT_FIELDS}
            for level, _, b in benefits
        }
        # The form edited the instance while cleaning; the service works from a
        # fresh copy so that a refusal leaves nothing half-applied.
        fresh = InsuranceVerification.objects.get(pk=verification.pk)
        try:
            if action == "save":
                vob.verification_save_result(
                    verification=fresh,
                    by=request.user,
                    data=form.service_data(),
                    benefits=benefit_values,
                )
                text = "Saved. The VOB is still open."
            else:
                done = vob.verification_complete(
                    verification=fresh,
                    by=request.user,
                    outcome=action,
                    data=form.service_data(),
                    benefits=benefit_values,
                )
                text = (
                    f"VOB {done.get_status_display().lower()}. "
                    "The lead's owner has been told."
                )
        except ValidationError as error:
            form.add_service_errors(error)
        else:
            messages.success(request, text)
            return redirect("vob-detail", vob_id=verification.pk)
    verification = vob.verification_get_for(user=request.user, pk=vob_id)
    return _detail(
        request, verification, status=400, result_form=form, benefits=benefits
    )


@login_required
@require_POST
def vob_card_upload(request: HttpRequest, vob_id: int) -> HttpResponse:
    verification = vob.verification_get_for(user=request.user, pk=vob_id)
    form = CardImageForm(request.POST, request.FILES)
    if form.is_valid():
        upload = form.cleaned_data["image"]
        try:
            vob.verification_card_image_add(
                verification=verification,
                side=form.cleaned_data["side"],
                content=upload.read(),
                content_type=upload.content_type or "",
                by=request.user,
            )
        except ValidationError as error:
            for key, problems in error.message_dict.items():
                form.add_error(key if key in form.fields else None, problems)
        else:
            messages.success(request, "Card photo saved (encrypted).")
            return redirect(f"{reverse('vob-detail', args=[vob_id])}#cards")
    return _detail(request, verification, status=400, card_form=form)


@never_cache
@login_required
@require_safe
def vob_card_image(request: HttpRequest, image_id: int) -> HttpResponse:
    image = vob.card_image_get_for(user=request.user, pk=image_id)
    content = vob.verification_card_image_read(image=image, by=request.user)
    response = HttpResponse(content, content_type=image.content_type)
    response["Cache-Control"] = "no-store"
    response["Content-Disposition"] = "inline"
    return response


@login_required
@require_POST
def vob_authorization_add(request: HttpRequest, vob_id: int) -> HttpResponse:
    verification = vob.verification_get_for(user=request.user, pk=vob_id)
    form = AuthorizationForm(request.POST)
    if form.is_valid():
        try:
            vob.authorization_add(
                lead=verification.lead,
                verification=verification,
                by=request.user,
                data=form.cleaned_data,
            )
        except ValidationError as error:
            form.add_service_errors(error)
        else:
            messages.success(request, "Authorization recorded.")
            return redirect(f"{reverse('vob-detail', args=[vob_id])}#authorizations")
    return _detail(request, verification, status=400, auth_form=form)


@login_required
@require_POST
def vob_eligibility_send(request: HttpRequest, vob_id: int) -> HttpResponse:
    """Send a 270 eligibility inquiry through the clearinghouse backend."""
    from ..eligibility import eligibility_request

    verification = vob.verification_get_for(user=request.user, pk=vob_id)
    try:
        trace = eligibility_request(verification=verification, by=request.user)
    except ValidationError as error:
        messages.error(request, "Not sent: " + " ".join(error.messages))
        return redirect(f"{reverse('vob-detail', args=[vob_id])}#electronic")
    messages.success(request, f"Eligibility inquiry sent (trace {trace}).")
    return redirect(f"{reverse('vob-detail', args=[vob_id])}#electronic")


@login_required
@require_POST
def vob_eligibility_poll(request: HttpRequest, vob_id: int) -> HttpResponse:
    """Look for the clearinghouse's 271 to the last inquiry, and read it in."""
    from ..eligibility import eligibility_response_poll

    verification = vob.verification_get_for(user=request.user, pk=vob_id)
    try:
        result = eligibility_response_poll(verification=verification, by=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect(f"{reverse('vob-detail', args=[vob_id])}#electronic")
    if result is None:
        messages.info(request, "No answer from the clearinghouse yet. Try again soon.")
        return redirect(f"{reverse('vob-detail', args=[vob_id])}#electronic")
    messages.success(
        request, "271 read into the result below. Check it, then complete the VOB."
    )
    return redirect(f"{reverse('vob-detail', args=[vob_id])}#result")


@login_required
@require_POST
def vob_eligibility_response(request: HttpRequest, vob_id: int) -> HttpResponse:
    """Read a 271 into the VOB's result; a malformed file changes nothing."""
    from ..eligibility import eligibility_result_apply

    verification = vob.verification_get_for(user=request.user, pk=vob_id)
    form = EligibilityResponseForm(request.POST, request.FILES)
    if form.is_valid():
        if not verification.is_waiting:
            form.add_error(None, "This VOB is done; request a new one.")
        else:
            try:
                eligibility_result_apply(
                    verification=verification,
                    text=form.cleaned_data["response"],
                    by=request.user,
                )
            except ValidationError as error:
                for key, problems in error.message_dict.items():
                    form.add_error(key if key in form.fields else None, problems)
            else:
                messages.success(
                    request,
                    "271 read into the result below. Check it, then complete the VOB.",
                )
                return redirect(f"{reverse('vob-detail', args=[vob_id])}#result")
    verification = vob.verification_get_for(user=request.user, pk=vob_id)
    return _detail(request, verification, status=400, eligibility_form=form)
