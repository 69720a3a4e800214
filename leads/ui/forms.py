"""Forms of the lead page's actions and of the new-lead page.

They parse and check what a person typed; the services decide. Each form has its
own id prefix, so that several of them live on one page with unique labels.
"""

from collections.abc import Mapping
from datetime import datetime, tzinfo
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.utils import timezone

from crm.models import Team, User
from notifications.models import ConsentEvent
from notifications.services import BODY_MAX_LENGTH

from ..geo import USState
from ..models import (
    CallDisposition,
    CallerRelationship,
    Lead,
    LevelOfCare,
    LostReason,
    Stage,
    Substance,
    Urgency,
)
from ..services import NOTE_MAX_LENGTH, allowed_next_stages
from ..services.intake import SmsConsent, normalize_email, normalize_phone

# Read to the person on the phone before ticking the box; kept in the consent ledger.
PHONE_CONSENT_TEXT = (
    "May we text you at this number about your inquiry, including reminders of "
    "calls we plan? Consent is not a condition of treatment. Message and data "
    "rates may apply. Reply STOP at any time to opt out."
)
PHONE_CONSENT_VERSION = "phone-2026-11"
DATETIME_LOCAL_FORMAT = "%Y-%m-%dT%H:%M"


def shortcut(key: str) -> dict[str, str]:
    """Widget attributes of a control that a single key focuses (lead.js)."""
    return {"data-shortcut": key, "aria-keyshortcuts": key}


class PanelForm(forms.Form):
    """A form of one panel: ids prefixed with the panel, service errors as fields."""

    id_prefix = "lead"
    # Service error keys that belong to a field of another name here.
    service_fields: Mapping[str, str] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", f"{self.id_prefix}_%s")
        super().__init__(*args, **kwargs)

    def add_service_errors(self, error: ValidationError) -> None:
        """Show a service's refusal next to the field it is about."""
        if not hasattr(error, "error_dict"):
            self.add_error(None, error.messages)
            return
        for key, messages in error.message_dict.items():
            name = self.service_fields.get(key, key)
            self.add_error(name if name in self.fields else None, messages)


class LeadLocalDateTimeField(forms.DateTimeField):
    """A wall-clock time typed in the lead's own time zone (`datetime-local`)."""

    widget = forms.DateTimeInput(
        attrs={"type": "datetime-local"}, format=DATETIME_LOCAL_FORMAT
    )
    default_error_messages = {
        "invalid": "Enter a date and time, e.g. 2026-12-01 14:30.",
    }

    def __init__(self, *, zone: tzinfo | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.zone = zone

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, datetime) and timezone.is_aware(value) and self.zone:
            return value.astimezone(self.zone).replace(tzinfo=None)
        return value

    def to_python(self, value: Any) -> datetime | None:
        # Not Django's conversion from the center's zone: the counselor typed the
        # time as the lead reads their own clock.
        if value in self.empty_values:
            return None
        if isinstance(value, datetime):
            parsed = value
        else:
            try:
                parsed = datetime.fromisoformat(str(value).strip())
            except ValueError as exc:
                raise ValidationError(
                    self.error_messages["invalid"], code="invalid"
                ) from exc
        if timezone.is_aware(parsed) or self.zone is None:
            return parsed
        return parsed.replace(tzinfo=self.zone)


class NoteForm(PanelForm):
    id_prefix = "note"

    body = forms.CharField(
        label="Note",
        max_length=NOTE_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3, **shortcut("n")}),
        help_text="What happened, what was agreed, what to do next.",
    )


class TextForm(PanelForm):
    id_prefix = "text"

    body = forms.CharField(
        label="Text message",
        max_length=BODY_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 4, **shortcut("t")}),
    )
    override_quiet_hours = forms.BooleanField(
        label="Send outside texting hours anyway (logged)", required=False
    )


class CallForm(PanelForm):
    id_prefix = "call"

    override_quiet_hours = forms.BooleanField(
        label="Call outside calling hours anyway (logged)", required=False
    )


class CallOutcomeForm(PanelForm):
    id_prefix = "outcome"
    service_fields = {"due_at": "call_back_at"}

    disposition = forms.ChoiceField(
        label="Outcome",
        choices=[("", "Choose the outcome"), *CallDisposition.choices],
        widget=forms.Select(attrs=shortcut("o")),
    )
    note = forms.CharField(
        label="Note",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    call_back_at = LeadLocalDateTimeField(
        label="Call back at", required=False, help_text="Needed for “Call back later”."
    )

    def __init__(self, *args: Any, zone: tzinfo, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["call_back_at"].zone = zone

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        later = cleaned.get("disposition") == CallDisposition.CALL_BACK_LATER
        if later and not cleaned.get("call_back_at") and "call_back_at" in cleaned:
            self.add_error("call_back_at", "Say when to call back.")
        return cleaned

    def service_kwargs(self) -> dict[str, Any]:
        data = self.cleaned_data
        later = data["disposition"] == CallDisposition.CALL_BACK_LATER
        return {
            "disposition": data["disposition"],
            "note": data["note"],
            # Only a promised call has a time; the cadence times the others.
            "call_back_at": data["call_back_at"] if later else None,
        }


class CallBackForm(PanelForm):
    id_prefix = "callback"

    due_at = LeadLocalDateTimeField(
        label="When",
        widget=forms.DateTimeInput(
            attrs={"type": "datetime-local", **shortcut("b")},
            format=DATETIME_LOCAL_FORMAT,
        ),
    )
    note = forms.CharField(
        label="What the call is about", required=False, max_length=500
    )

    def __init__(self, *args: Any, zone: tzinfo, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["due_at"].zone = zone


class StageForm(PanelForm):
    id_prefix = "stage"

    to = forms.ChoiceField(label="Move to", widget=forms.Select(attrs=shortcut("s")))
    lost_reason = forms.ChoiceField(
        label="Lost because",
        required=False,
        choices=[("", "Choose a reason"), *LostReason.choices],
    )
    referred_to = forms.CharField(
        label="Referred to (partner program)", required=False, max_length=200
    )
    note = forms.CharField(
        label="Why / note",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args: Any, lead: Lead, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["to"].choices = [
            ("", "Choose the next stage"),
            *((stage, Stage(stage).label) for stage in allowed_next_stages(lead)),
        ]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        to = cleaned.get("to")
        if to == Stage.LOST and not cleaned.get("lost_reason"):
            self.add_error("lost_reason", "Choose why the lead is lost.")
        if to == Stage.REFERRED_OUT:
            if not cleaned.get("referred_to", "").strip():
                self.add_error("referred_to", "Name the program the lead goes to.")
            if not cleaned.get("note", "").strip():
                self.add_error("note", "Say why the lead is referred out.")
        return cleaned

    def service_kwargs(self) -> dict[str, Any]:
        data = self.cleaned_data
        if data["to"] == Stage.LOST:
            return {
                "to": data["to"],
                "reason": data["lost_reason"],
                "note": data["note"],
            }
        return {
            "to": data["to"],
            "reason": data["note"],
            "referred_to": data["referred_to"]
            if data["to"] == Stage.REFERRED_OUT
            else "",
        }

    @property
    def service_fields(self) -> dict[str, str]:  # type: ignore[override]
        lost = self.data.get("to") == Stage.LOST
        return {"reason": "lost_reason" if lost else "note"}


def teams_for(user: User) -> QuerySet[Team]:
    """The active teams `user` may put a lead in."""
    teams = Team.objects.filter(is_active=True)
    if user.sees_all_leads:
        return teams
    return teams.filter(Q(members=user) | Q(supervisors=user)).distinct()


class ReassignForm(PanelForm):
    id_prefix = "reassign"

    team = forms.ModelChoiceField(label="Team", queryset=Team.objects.none())
    owner = forms.ModelChoiceField(
        label="Owner",
        queryset=User.objects.none(),
        required=False,
        empty_label="Nobody: back to the team queue",
    )

    def __init__(self, *args: Any, lead: Lead, user: User, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {"team": lead.team_id, "owner": lead.owner_id})
        super().__init__(*args, **kwargs)
        teams = teams_for(user)
        self.fields["team"].queryset = teams
        team_id = self.data.get("team") or self.initial.get("team") or lead.team_id
        team = teams.filter(pk=team_id).first() if str(team_id).isdigit() else None
        team = team or lead.team
        self.fields["owner"].queryset = (
            team.members.filter(is_active=True).order_by("first_name", "last_name")
            if team is not None
            else User.objects.none()
        )


class NewLeadForm(PanelForm):
    id_prefix = "new"

    first_name = forms.CharField(label="First name", max_length=100, required=False)
    last_name = forms.CharField(label="Last name", max_length=100, required=False)
    phone = forms.CharField(
        label="Phone",
        max_length=40,
        required=False,
        widget=forms.TextInput(
            attrs={"type": "tel", "autocomplete": "off", "inputmode": "tel"}
        ),
    )
    email = forms.EmailField(
        label="E-mail", max_length=254, required=False, widget=forms.EmailInput()
    )
    state = forms.ChoiceField(
        label="State", required=False, choices=[("", "Unknown"), *USState.choices]
    )
    caller_relationship = forms.ChoiceField(
        label="Who is calling",
        choices=CallerRelationship.choices,
        initial=CallerRelationship.SELF,
    )
    caller_first_name = forms.CharField(
        label="Caller's first name", max_length=100, required=False
    )
    caller_last_name = forms.CharField(
        label="Caller's last name", max_length=100, required=False
    )
    caller_phone = forms.CharField(
        label="Caller's phone",
        max_length=40,
        required=False,
        widget=forms.TextInput(attrs={"type": "tel", "inputmode": "tel"}),
    )
    level_of_care = forms.ChoiceField(
        label="Level of care", choices=LevelOfCare.choices, initial=LevelOfCare.UNSURE
    )
    urgency = forms.ChoiceField(
        label="Urgency", choices=Urgency.choices, initial=Urgency.ROUTINE
    )
    substances = forms.MultipleChoiceField(
        label="Substances",
        choices=Substance.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    insurance_payer = forms.CharField(label="Insurance", max_length=200, required=False)
    message = forms.CharField(
        label="Notes",
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="What the person is looking for, in their words. Kept on the "
        "inquiry.",
    )
    sms_consent = forms.BooleanField(
        label="The person agreed to be texted after I read the text above",
        required=False,
    )
    team = forms.ModelChoiceField(
        label="Team", queryset=Team.objects.none(), required=False
    )

    DETAIL_FIELDS = (
        "first_name",
        "last_name",
        "phone",
        "email",
        "state",
        "caller_relationship",
        "caller_first_name",
        "caller_last_name",
        "caller_phone",
        "level_of_care",
        "urgency",
        "substances",
        "insurance_payer",
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        if user.sees_all_leads or user.teams.filter(is_active=True).count() != 1:
            self.fields["team"].queryset = teams_for(user)
            # An admin may leave it to the routing rules; others must choose.
            self.fields["team"].required = not user.sees_all_leads
            self.fields["team"].empty_label = (
                "Let the routing rules decide" if user.sees_all_leads else "Choose"
            )
        else:
            del self.fields["team"]

    def _clean_phone_field(self, name: str) -> str:
        try:
            return normalize_phone(self.cleaned_data.get(name), field=name)
        except ValidationError as exc:
            raise ValidationError(exc.message_dict[name]) from exc

    def clean_phone(self) -> str:
        return self._clean_phone_field("phone")

    def clean_caller_phone(self) -> str:
        return self._clean_phone_field("caller_phone")

    def clean_email(self) -> str:
        return normalize_email(self.cleaned_data.get("email"))

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if "phone" in cleaned and "email" in cleaned:
            if not (cleaned["phone"] or cleaned["email"]):
                self.add_error(
                    "phone", "Give a phone number or an e-mail address to reach them."
                )
            if cleaned.get("sms_consent") and not cleaned["phone"]:
                self.add_error("sms_consent", "Consent to texts needs a phone number.")
        return cleaned

    def details(self) -> dict[str, Any]:
        return {name: self.cleaned_data[name] for name in self.DETAIL_FIELDS}

    def consent(self) -> SmsConsent | None:
        """The consent to texts given on this call, with who heard it."""
        if not self.cleaned_data.get("sms_consent"):
            return None
        return SmsConsent(
            text=PHONE_CONSENT_TEXT,
            version=PHONE_CONSENT_VERSION,
            source=ConsentEvent.Source.COUNSELOR,
            recorded_by=self.user,
        )
