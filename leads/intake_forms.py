"""Parsing and validation of an inquiry, shared by every intake door.

The JSON API, form posts, the hosted "Request a call" form, Gravity Forms and CSV
import all turn their input into a flat dict of the fields below and validate it
here, so the same input gets the same answer whichever way it came.
"""

from typing import Any
from urllib.parse import urlsplit

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

from .geo import USState
from .models import CallerRelationship, LevelOfCare
from .services.intake import SmsConsent, normalize_email, normalize_phone

ATTRIBUTION_INPUTS = (
    "landing_page",
    "referrer",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "gclid",
    "gbraid",
    "wbraid",
    "fbclid",
    "msclkid",
)
INTAKE_FIELDS: tuple[str, ...] = (
    "first_name",
    "last_name",
    "phone",
    "email",
    "state",
    "level_of_care",
    "for_whom",
    "insurance_provider",
    "message",
    "sms_consent",
    "consent_text",
    "consent_version",
    *ATTRIBUTION_INPUTS,
)
FOR_WHOM_CHOICES = [("self", "Myself"), ("loved_one", "A loved one")]
TRUE_WORDS = {"true", "1", "yes", "on", "y"}
FALSE_WORDS = {"false", "0", "no", "off", "n", ""}


class StrictBooleanField(forms.Field):
    """A yes/no that refuses anything else: "maybe" is an error, not True."""

    widget = forms.CheckboxInput

    def to_python(self, value: Any) -> bool:
        if isinstance(value, bool):
            return value
        if value is None:
            return False
        text = str(value).strip().lower()
        if text in TRUE_WORDS:
            return True
        if text in FALSE_WORDS:
            return False
        raise ValidationError("Must be true or false.", code="invalid")


class RawValueCheckbox(forms.CheckboxInput):
    # Django's checkbox turns any unknown string into True; keep it for the field.
    def value_from_datadict(self, data, files, name):
        return data.get(name)


def refuse_surrogates(value: str) -> None:
    # JSON can escape half of a UTF-16 pair ("\ud800"); no database stores that.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValidationError("Contains characters that are not text.") from exc


def _text(max_length: int, **kwargs) -> forms.CharField:
    return forms.CharField(
        max_length=max_length,
        required=False,
        validators=[refuse_surrogates],
        **kwargs,
    )


class IntakeForm(forms.Form):
    first_name = _text(100)
    last_name = _text(100)
    phone = _text(40)
    email = _text(254)
    state = _text(20)
    level_of_care = forms.ChoiceField(
        choices=[("", "—"), *LevelOfCare.choices], required=False
    )
    for_whom = forms.ChoiceField(choices=[("", "—"), *FOR_WHOM_CHOICES], required=False)
    insurance_provider = _text(200)
    message = _text(5000, widget=forms.Textarea)
    sms_consent = StrictBooleanField(required=False, widget=RawValueCheckbox)
    consent_text = _text(2000)
    consent_version = _text(32)
    landing_page = _text(2000)
    referrer = _text(2000)
    utm_source = _text(200)
    utm_medium = _text(200)
    utm_campaign = _text(200)
    utm_term = _text(200)
    utm_content = _text(200)
    gclid = _text(255)
    gbraid = _text(255)
    wbraid = _text(255)
    fbclid = _text(255)
    msclkid = _text(255)

    def clean_state(self) -> str:
        # Two-letter code in any case, or the state's name ("florida").
        value = (self.cleaned_data.get("state") or "").strip()
        if not value:
            return ""
        by_name = {label.lower(): code for code, label in USState.choices}
        code = value.upper() if value.upper() in USState.values else None
        code = code or by_name.get(value.lower())
        if code is None:
            raise ValidationError("Enter a US state, e.g. FL or Florida.")
        return code

    def clean_phone(self) -> str:
        try:
            return normalize_phone(self.cleaned_data.get("phone"))
        except ValidationError as exc:
            raise ValidationError(exc.message_dict["phone"]) from exc

    def clean_email(self) -> str:
        try:
            return normalize_email(self.cleaned_data.get("email"))
        except ValidationError as exc:
            raise ValidationError(exc.message_dict["email"]) from exc

    def _clean_address(self, name: str) -> str:
        value = (self.cleaned_data.get(name) or "").strip()
        if not value:
            return ""
        try:
            scheme = urlsplit(value).scheme
        except ValueError:  # e.g. "http://[::1": an unclosed IPv6 host
            scheme = ""
        if scheme not in ("http", "https"):
            raise ValidationError("Enter a web address starting with http(s)://.")
        # The lead's own check, here, so that a referrer it would refuse is dropped.
        URLValidator(schemes=["http", "https"])(value)
        return value

    def clean_landing_page(self) -> str:
        return self._clean_address("landing_page")

    def clean_referrer(self) -> str:
        # Browsers send "" or a full URL; anything else is dropped, not refused,
        # because a bad referrer must never cost us a lead.
        try:
            return self._clean_address("referrer")
        except ValidationError:
            return ""

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not self.errors and not (data.get("phone") or data.get("email")):
            self.add_error(
                "phone", "Give a phone number or an e-mail address to reach you."
            )
        if data.get("sms_consent") and not data.get("phone"):
            self.add_error("sms_consent", "Consent to texts needs a phone number.")
        return data

    # --- What the service takes ------------------------------------------------------

    def lead_details(self) -> dict[str, Any]:
        data = self.cleaned_data
        details = {
            "first_name": data["first_name"].strip(),
            "last_name": data["last_name"].strip(),
            "phone": data["phone"],
            "email": data["email"],
            "state": data["state"],
            "insurance_payer": data["insurance_provider"].strip(),
            "intake_notes": data["message"].strip(),
        }
        if data["level_of_care"]:
            details["level_of_care"] = data["level_of_care"]
        if data["for_whom"] == "loved_one":
            details["caller_relationship"] = CallerRelationship.LOVED_ONE
        elif data["for_whom"] == "self":
            details["caller_relationship"] = CallerRelationship.SELF
        return details

    def attribution(self) -> dict[str, str]:
        return {
            name: self.cleaned_data[name].strip()[:2000]
            for name in ATTRIBUTION_INPUTS
            if self.cleaned_data.get(name)
        }

    def consent_given(
        self,
        *,
        ip_address: str | None,
        user_agent: str,
        default_text: str = "",
        default_version: str = "",
    ) -> SmsConsent | None:
        data = self.cleaned_data
        if not data.get("sms_consent"):
            return None
        return SmsConsent(
            text=data["consent_text"].strip() or default_text,
            version=data["consent_version"].strip() or default_version,
            ip_address=ip_address,
            user_agent=user_agent,
        )


def check_flat_payload(payload: Any) -> dict[str, list[str]]:
    """Field errors for a decoded JSON body that is not a flat object of our fields."""
    if not isinstance(payload, dict):
        return {"non_field_errors": ["Send a JSON object of fields."]}
    errors: dict[str, list[str]] = {}
    for name, value in payload.items():
        label = str(name)[:64]
        if name not in INTAKE_FIELDS:
            errors[label] = ["Unknown field."]
        elif isinstance(value, dict | list):
            errors[label] = ["Expected a single value, not a list or an object."]
        elif name != "sms_consent" and isinstance(value, bool):
            errors[label] = ["Expected text, not true or false."]
    return errors


def flat_values(payload: dict[str, Any]) -> dict[str, Any]:
    """Numbers become text (a phone posted as 3055550142); None becomes empty."""
    flat = {}
    for name, value in payload.items():
        if value is None:
            flat[name] = ""
        elif isinstance(value, int | float) and not isinstance(value, bool):
            flat[name] = str(value)
        else:
            flat[name] = value
    return flat
