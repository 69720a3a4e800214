"""Forms of the VOB pages: the request, the result, the card photos, an authorization.

They parse what was typed; `leads.admissions.verification` decides.
"""

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from ...models import (
    Authorization,
    CoveredLevel,
    InsuranceCardImage,
    InsuranceVerification,
    LevelOfCareBenefit,
    Payer,
)
from ..verification import BENEFIT_FIELDS, REQUEST_FIELDS, RESULT_FIELDS

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class ServiceErrorsMixin:
    """Show a service's refusal next to the field it is about."""

    def add_service_errors(self, error: ValidationError) -> None:
        if not hasattr(error, "error_dict"):
            self.add_error(None, error.messages)
            return
        for key, messages in error.message_dict.items():
            self.add_error(key if key in self.fields else None, messages)


class VerificationRequestForm(ServiceErrorsMixin, forms.ModelForm):
    """What the counselor knows of the coverage when asking for a VOB."""

    class Meta:
        model = InsuranceVerification
        fields = list(REQUEST_FIELDS)
        widgets = {
            "subscriber_date_of_birth": DATE,
            "patient_date_of_birth": DATE,
            "policy_effective_on": DATE,
            "policy_terminates_on": DATE,
            "request_note": forms.Textarea(attrs={"rows": 3}),
            "member_id": forms.TextInput(attrs={"autocomplete": "off"}),
            "secondary_member_id": forms.TextInput(attrs={"autocomplete": "off"}),
        }
        labels = {
            "payer": "Payer (from the list)",
            "payer_name": "Payer name, when it is not on the list",
            "patient_date_of_birth": "Patient's date of birth",
            "request_note": "Note for the verifier",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "vob_%s")
        super().__init__(*args, **kwargs)
        self.fields["payer"].queryset = Payer.objects.filter(is_active=True)
        self.fields["payer"].empty_label = "Not on the list"


class VerificationResultForm(ServiceErrorsMixin, forms.ModelForm):
    """What the verifier found; the button pressed says whether it is final."""

    ACTIONS = {
        "save": "Save without completing",
        "verified": "Complete: verified",
        "denied": "Complete: denied (no coverage)",
        "unable": "Complete: unable to verify",
    }
    action = forms.ChoiceField(choices=list(ACTIONS.items()), widget=forms.HiddenInput)

    class Meta:
        model = InsuranceVerification
        fields = [*REQUEST_FIELDS, *RESULT_FIELDS]
        widgets = {
            "subscriber_date_of_birth": DATE,
            "patient_date_of_birth": DATE,
            "policy_effective_on": DATE,
            "policy_terminates_on": DATE,
            "request_note": forms.Textarea(attrs={"rows": 2}),
            "result_notes": forms.Textarea(attrs={"rows": 3}),
            "member_id": forms.TextInput(attrs={"autocomplete": "off"}),
            "secondary_member_id": forms.TextInput(attrs={"autocomplete": "off"}),
        }
        labels = {
            "not_a_guarantee": "Payer said: benefits quoted are not a guarantee of "
            "payment",
            "result_notes": "Notes (why denied or unable, anything the payer said)",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "vob_%s")
        super().__init__(*args, **kwargs)
        self.fields["payer"].queryset = Payer.objects.filter(is_active=True)
        self.fields["payer"].empty_label = "Not on the list"
        self.fields["method"].required = False

    def service_data(self) -> dict[str, Any]:
        return {
            name: self.cleaned_data[name]
            for name in (*REQUEST_FIELDS, *RESULT_FIELDS)
            if name in self.cleaned_data
        }


class BenefitForm(ServiceErrorsMixin, forms.ModelForm):
    """One level of care's row of the benefits grid (prefix: the level)."""

    class Meta:
        model = LevelOfCareBenefit
        fields = list(BENEFIT_FIELDS)
        widgets = {"notes": forms.TextInput()}


def benefit_forms(
    verification: InsuranceVerification, data=None
) -> list[tuple[str, str, BenefitForm]]:
    """A form per level of care, filled with what the VOB holds for it."""
    existing = {b.level_of_care: b for b in verification.benefits.all()}
    rows = []
    for level, label in CoveredLevel.choices:
        instance = existing.get(level) or LevelOfCareBenefit(
            verification=verification, level_of_care=level
        )
        form = BenefitForm(data, instance=instance, prefix=level, auto_id="benefit_%s")
        rows.append((level, label, form))
    return rows


class CardImageForm(forms.Form):
    side = forms.ChoiceField(choices=InsuranceCardImage.Side.choices)
    image = forms.FileField(
        label="Photo of the card",
        widget=forms.ClearableFileInput(attrs={"accept": "image/*"}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "card_%s")
        super().__init__(*args, **kwargs)


class AuthorizationForm(ServiceErrorsMixin, forms.ModelForm):
    class Meta:
        model = Authorization
        fields = [
            "auth_number",
            "level_of_care",
            "starts_on",
            "ends_on",
            "units_authorized",
            "unit_type",
            "next_review_on",
            "reviewer_contact",
            "notes",
        ]
        widgets = {
            "starts_on": DATE,
            "ends_on": DATE,
            "next_review_on": DATE,
            "notes": forms.Textarea(attrs={"rows": 2}),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "auth_%s")
        super().__init__(*args, **kwargs)


class EligibilityResponseForm(forms.Form):
    """A 271 pasted from a portal or dropped in as a file."""

    response = forms.CharField(
        label="271 response (paste)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
    )
    response_file = forms.FileField(label="or a 271 file", required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "eligibility_%s")
        super().__init__(*args, **kwargs)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        upload = cleaned.get("response_file")
        if upload is not None:
            if upload.size > 1024 * 1024:
                raise ValidationError({"response_file": ["A 271 is not that large."]})
            cleaned["response"] = upload.read().decode("utf-8", errors="replace")
        if not (cleaned.get("response") or "").strip():
            raise ValidationError(
                {"response": ["Paste the 271 response or choose its file."]}
            )
        return cleaned
