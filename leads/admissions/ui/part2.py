"""The lead page's Part 2 card, and the pages of consents, disclosures, referrals.

The card lists the patient's 42 CFR Part 2 consents (active, expired, revoked),
revokes one in place (htmx; 400 with the form's errors, nothing written), exports
the intake packet (a file download, refused with a 400 and the reason when no
consent covers the recipient) and links to the consent form, the refer-out page
and the accounting of disclosures. Without JavaScript a refused action shows the
card on a page of its own.
"""

import json
from datetime import datetime, tzinfo
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import (
    require_http_methods,
    require_POST,
    require_safe,
)

from crm.services import audit_lead_view

from ...models import Lead
from ...services.followup import lead_zone
from ...ui.common import LARGEST_ID, card_response, is_htmx, lead_for
from ...ui.forms import LeadLocalDateTimeField, PanelForm
from ...ui.lead import Notice
from ..consent import (
    REDISCLOSURE_NOTICE,
    REVOCATION_RIGHT,
    TPO_HIPAA_STATEMENT,
    TPO_RECIPIENTS,
    disclosures_for,
    part2_consent_covering,
    part2_consent_expiry,
    part2_consent_record,
    part2_consent_revoke,
    part2_consent_status,
    part2_consents_active,
    part2_consents_of,
)
from ..models import Admission, Disclosure, Part2Consent, PartnerFacility
from ..packet import EXPORTABLE_STAGES, intake_packet_export
from ..referral import REASON_MAX_LENGTH, lead_refer_out, referral_information

CARD_TEMPLATE = "leads/admissions/_card_part2.html"
PAGE_TEMPLATE = "leads/admissions/_part2_page.html"
CARD_ANCHOR = "#card-part2"
STATUS_BADGES = {
    "active": "badge-ok",
    "expired": "badge-warn",
    "revoked": "badge-danger",
}


# --- Forms ---------------------------------------------------------------------------


def active_partners() -> QuerySet[PartnerFacility]:
    return PartnerFacility.objects.filter(is_active=True).order_by("name")


class PartnerChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: PartnerFacility) -> str:
        where = ", ".join(part for part in (obj.city, obj.state) if part)
        return f"{obj.name} ({where})" if where else obj.name


class ConsentForm(PanelForm):
    """Every element of a §2.31 consent, as on the signed form."""

    id_prefix = "consent"

    patient_name = forms.CharField(label="Patient's name", max_length=200)
    disclosing_party = forms.CharField(
        label="Who may disclose",
        max_length=200,
        help_text="This program, by name, as on the signed form.",
    )
    information_described = forms.CharField(
        label="What may be disclosed",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text='Specifically, e.g. "intake pre-screen, insurance verification '
        'and admission dates".',
    )
    for_treatment_payment_operations = forms.BooleanField(
        label="A single consent for treatment, payment and health care operations "
        "(TPO)",
        required=False,
    )
    partner = PartnerChoiceField(
        label="Partner facility",
        queryset=active_partners(),
        required=False,
        empty_label="Not one partner facility",
        help_text="When the recipient is one of our partner facilities.",
    )
    recipients = forms.CharField(
        label="To whom",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Named people or organisations. A TPO consent may say: "
        f'"{TPO_RECIPIENTS}". Left empty, the partner facility chosen above.',
    )
    purpose = forms.CharField(
        label="Purpose",
        max_length=300,
        help_text='e.g. "Referral for treatment", "Admission intake".',
    )
    expires_on = forms.DateField(
        label="Expires on",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    expires_on_event = forms.CharField(
        label="Or expires on this event",
        required=False,
        max_length=200,
        help_text='e.g. "discharge from the program"; "end of treatment" or '
        '"none" only for a TPO consent.',
    )
    signed_by_name = forms.CharField(label="Signed by", max_length=200)
    signed_at = LeadLocalDateTimeField(label="Signed at")
    signature_method = forms.ChoiceField(
        label="How it was signed",
        choices=Part2Consent.SignatureMethod.choices,
        widget=forms.RadioSelect,
    )
    signer_is_patient = forms.BooleanField(
        label="The patient signed", required=False, initial=True
    )
    signer_authority = forms.CharField(
        label="Signer's authority",
        required=False,
        max_length=200,
        help_text="When someone signs for the patient: legal guardian, parent of a "
        "minor, health care power of attorney.",
    )

    def __init__(self, *args: Any, zone: tzinfo, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["signed_at"].zone = zone
        self.fields["partner"].queryset = active_partners()


class RevokeForm(PanelForm):
    id_prefix = "part2_revoke"

    note = forms.CharField(
        label="How the patient revoked it",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="e.g. signed letter received today, scanned to the chart.",
    )

    def __init__(self, *args: Any, consent_id: int, **kwargs: Any) -> None:
        self.id_prefix = f"part2_revoke_{consent_id}"
        super().__init__(*args, **kwargs)


class ExportForm(PanelForm):
    id_prefix = "part2_export"

    recipient = forms.CharField(
        label="Recipient",
        max_length=300,
        help_text="The program or clinician receiving the packet, as the consent "
        "names them.",
    )
    purpose = forms.CharField(label="Purpose", max_length=300)
    format = forms.ChoiceField(
        label="Format",
        choices=[("pdf", "PDF"), ("json", "FHIR JSON")],
        widget=forms.HiddenInput,
    )


class ReferOutForm(PanelForm):
    id_prefix = "refer"

    partner = PartnerChoiceField(
        label="Partner facility",
        queryset=active_partners(),
        empty_label="Choose a partner facility",
    )
    reason = forms.CharField(
        label="Why refer out",
        max_length=REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="e.g. needs a level of care we do not offer, out of network, "
        "closer to home.",
    )

    def __init__(
        self, *args: Any, covered: dict[int, Part2Consent | None], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["partner"]
        field.queryset = active_partners()
        base_label = field.label_from_instance

        def label(obj: PartnerFacility) -> str:
            consent = covered.get(obj.pk)
            note = (
                f"consent #{consent.pk} covers it"
                if consent is not None
                else "no consent covers it"
            )
            return f"{base_label(obj)}: {note}"

        field.label_from_instance = label


# --- The card ------------------------------------------------------------------------


def _consent_row(consent: Part2Consent, now: datetime) -> dict[str, Any]:
    status = part2_consent_status(consent, now)
    return {
        "consent": consent,
        "status": status,
        "badge": STATUS_BADGES[status],
        "expiry": part2_consent_expiry(consent),
        "signed": f"{timezone.localtime(consent.signed_at):%Y-%m-%d %H:%M %Z}",
    }


def _receiving_facility(lead: Lead) -> str:
    return (
        Admission.objects.filter(
            lead=lead,
            status__in=[Admission.Status.SCHEDULED, Admission.Status.ADMITTED],
        )
        .order_by("-scheduled_for", "-id")
        .values_list("program__facility_name", flat=True)
        .first()
        or ""
    )


def card_context(
    *,
    request: HttpRequest,
    lead: Lead,
    forms: dict[str, Any] | None = None,
    notice: Notice | None = None,
) -> dict[str, Any]:
    """What the Part 2 card shows: three queries at most.

    `forms` replaces a blank form with one carrying errors (`revoke` is keyed by
    consent id); `notice` is the outcome of the action just taken.
    """
    forms = forms or {}
    now = timezone.now()
    consents = list(part2_consents_of(lead))
    rows = [_consent_row(consent, now) for consent in consents]
    active = [row["consent"] for row in rows if row["status"] == "active"]
    revoke_errors = forms.get("revoke") or {}
    for row in rows:
        consent_id = row["consent"].pk
        if row["status"] != "revoked":
            row["revoke_form"] = revoke_errors.get(consent_id) or RevokeForm(
                consent_id=consent_id
            )
        row["open"] = consent_id in revoke_errors
    exportable = lead.stage in EXPORTABLE_STAGES
    export_form = forms.get("export")
    if export_form is None and exportable and active:
        export_form = ExportForm(
            initial={
                "recipient": _receiving_facility(lead),
                "purpose": "Treatment: admission intake",
            }
        )
    return {
        "part2_notice": notice,
        "part2_consents": rows,
        "part2_active_count": len(active),
        "part2_has_tpo": any(c.for_treatment_payment_operations for c in active),
        "part2_disclosure_count": Disclosure.objects.filter(lead=lead).count(),
        "part2_exportable": exportable,
        "part2_export_form": export_form,
        "part2_can_refer": lead.is_open,
    }


# --- Actions -------------------------------------------------------------------------


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
    """Answer an action carried out: the card again, or back to the lead page."""
    if not is_htmx(request):
        messages.success(request, text)
        return redirect(lead.get_absolute_url() + CARD_ANCHOR)
    response = _card(request, lead, notice=Notice(messages.SUCCESS, text))
    response["HX-Trigger"] = json.dumps({"crm:toast": text})
    return response


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def part2_consent_new(request: HttpRequest, pk: int) -> HttpResponse:
    """Record a signed Part 2 consent: every §2.31 element, on a page of its own."""
    lead = lead_for(request, pk)
    zone = lead_zone(lead)
    if request.method != "POST":
        audit_lead_view(
            actor=request.user, lead_id=lead.pk, detail="part 2 consent form"
        )
        form = ConsentForm(
            zone=zone,
            initial={
                "patient_name": f"{lead.first_name} {lead.last_name}".strip(),
                "disclosing_party": settings.SMS_BRAND_NAME,
                "signed_at": timezone.now().replace(second=0, microsecond=0),
                "signature_method": Part2Consent.SignatureMethod.ELECTRONIC,
            },
        )
        return _consent_page(request, lead, form, zone)
    form = ConsentForm(request.POST, zone=zone)
    if form.is_valid():
        try:
            consent = part2_consent_record(
                lead=lead, by=request.user, data=form.cleaned_data
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, f"Part 2 consent #{consent.pk} recorded.")
            return redirect(lead.get_absolute_url() + CARD_ANCHOR)
    return _consent_page(request, lead, form, zone, status=400)


def _consent_page(
    request: HttpRequest, lead: Lead, form: ConsentForm, zone: tzinfo, *, status=200
) -> HttpResponse:
    context = {
        "lead": lead,
        "form": form,
        "zone_name": getattr(zone, "key", str(zone)),
        "revocation_right": REVOCATION_RIGHT,
        "tpo_statement": TPO_HIPAA_STATEMENT,
    }
    return render(request, "leads/admissions/consent_form.html", context, status=status)


def _consent_of(lead: Lead, consent_pk: int) -> Part2Consent:
    consent = Part2Consent.objects.filter(
        lead=lead, pk=min(consent_pk, LARGEST_ID)
    ).first()
    if consent is None:
        raise Http404("No such consent.")
    return consent


@login_required
@require_POST
def part2_consent_revoke_view(
    request: HttpRequest, pk: int, consent_pk: int
) -> HttpResponse:
    """Revoke a consent from now on; it stays on file, marked revoked."""
    lead = lead_for(request, pk)
    consent = _consent_of(lead, consent_pk)
    form = RevokeForm(request.POST, consent_id=consent.pk)
    if form.is_valid():
        try:
            part2_consent_revoke(
                consent=consent, by=request.user, note=form.cleaned_data["note"]
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            return _done(
                request,
                lead,
                f"Consent #{consent.pk} revoked: no further disclosures under it.",
            )
    return _card(request, lead, status=400, forms={"revoke": {consent.pk: form}})


@login_required
@require_POST
def part2_packet_export(request: HttpRequest, pk: int) -> HttpResponse:
    """Download the intake packet for a recipient the patient's consent covers."""
    lead = lead_for(request, pk)
    form = ExportForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            filename, content_type, content = intake_packet_export(
                lead=lead,
                by=request.user,
                format=data["format"],
                recipient=data["recipient"],
                purpose=data["purpose"],
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            response = HttpResponse(content, content_type=content_type)
            response["Content-Disposition"] = f'attachment; filename="{filename}"'
            # A protected record: no copy in shared or browser caches.
            response["Cache-Control"] = "no-store"
            return response
    return _card(request, lead, status=400, forms={"export": form})


@login_required
@require_safe
def part2_disclosures(request: HttpRequest, pk: int) -> HttpResponse:
    """The patient's accounting of disclosures: every one, newest first."""
    lead = lead_for(request, pk)
    audit_lead_view(
        actor=request.user, lead_id=lead.pk, detail="accounting of disclosures"
    )
    rows = [
        {
            "disclosure": disclosure,
            "when": f"{timezone.localtime(disclosure.disclosed_at):%Y-%m-%d %H:%M %Z}",
            "consent_status": part2_consent_status(disclosure.consent),
        }
        for disclosure in disclosures_for(lead)
    ]
    context = {
        "lead": lead,
        "rows": rows,
        "current_notice": REDISCLOSURE_NOTICE,
    }
    return render(request, "leads/admissions/disclosures.html", context)


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def part2_refer_out(request: HttpRequest, pk: int) -> HttpResponse:
    """Refer the lead to a partner facility the patient consented to, and close it."""
    lead = lead_for(request, pk)
    consents = part2_consents_active(lead=lead)
    partners = list(active_partners())
    covered = {
        partner.pk: part2_consent_covering(consents, partner=partner)
        for partner in partners
    }
    if request.method != "POST":
        audit_lead_view(actor=request.user, lead_id=lead.pk, detail="refer out form")
        form = ReferOutForm(covered=covered)
        return _refer_page(request, lead, form, consents, partners)
    form = ReferOutForm(request.POST, covered=covered)
    if form.is_valid():
        partner = form.cleaned_data["partner"]
        try:
            lead_refer_out(
                lead=lead,
                partner=partner,
                reason=form.cleaned_data["reason"],
                by=request.user,
            )
        except ValidationError as exc:
            if "to" in getattr(exc, "error_dict", {}):
                exc = ValidationError(exc.error_dict["to"])
            form.add_service_errors(exc)
        else:
            messages.success(
                request,
                f"Referred to {partner.name}: the lead is closed as referred out "
                "and the disclosure is in the accounting.",
            )
            return redirect(lead.get_absolute_url())
    return _refer_page(request, lead, form, consents, partners, status=400)


def _refer_page(
    request: HttpRequest,
    lead: Lead,
    form: ReferOutForm,
    consents: list[Part2Consent],
    partners: list[PartnerFacility],
    *,
    status: int = 200,
) -> HttpResponse:
    context = {
        "lead": lead,
        "form": form,
        "consents": consents,
        "has_partners": bool(partners),
        "shared": referral_information(lead) if lead.is_open else "",
    }
    return render(request, "leads/admissions/refer_out.html", context, status=status)
