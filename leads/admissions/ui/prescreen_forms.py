"""The pre-screen form: parses what the counselor typed; `prescreen_save` decides."""

from typing import Any

from django import forms
from django.utils import timezone

from ...models import AsamLevel, CallerRelationship, Lead, PreScreen, Substance
from ...models import YesNoUnknown as YNU
from ...ui.forms import PanelForm
from ..prescreen import (
    ASAM_DIMENSIONS,
    ASAM_SCORE_LABELS,
    MAX_SUBSTANCES,
    PRESCREEN_LABELS,
    SUBSTANCE_TEXT_MAX,
    substance_label,
)

SUBSTANCE_ROWS = range(1, MAX_SUBSTANCES + 1)
ROW_FIELDS: tuple[tuple[str, str], ...] = (
    ("substance", "Substance"),
    ("route", "Route"),
    ("frequency", "How often"),
    ("amount", "How much"),
    ("last_use", "Last use"),
)
# What a counselor may type for a listed substance: its value or its label.
SUBSTANCE_BY_WORD: dict[str, str] = {
    **{value.casefold(): value for value in Substance.values},
    **{str(label).casefold(): value for value, label in Substance.choices},
}


def _select(choices, *, blank: str = "") -> forms.ChoiceField:
    return forms.ChoiceField(
        choices=[("", blank), *choices] if blank else choices, required=False
    )


def _text(**kwargs: Any) -> forms.CharField:
    return forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        **kwargs,
    )


class PreScreenForm(PanelForm):
    """Every answer of the pre-screen, in the order the call goes."""

    id_prefix = "prescreen"

    patient_is = forms.ChoiceField(choices=PreScreen.PatientIs.choices)
    patient_name = forms.CharField(required=False, max_length=200)
    patient_age = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=120,
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )
    patient_gender = forms.CharField(required=False, max_length=40)

    withdrawal_risk = forms.ChoiceField(choices=PreScreen.WithdrawalRisk.choices)
    detox_needed = forms.ChoiceField(choices=YNU.choices)
    withdrawal_history = _text(
        help_text="Past detoxes, seizures, DTs, hospital stays for withdrawal."
    )
    co_occurring_mental_health = forms.ChoiceField(choices=YNU.choices)
    mental_health_notes = _text(help_text="Diagnoses, current care, recent crises.")
    medications = _text(help_text="Prescriptions and MAT (buprenorphine, methadone).")

    suicidal_thoughts = forms.ChoiceField(
        choices=YNU.choices,
        help_text="In the past month, or now. Ask it directly.",
    )
    overdose_last_30_days = forms.ChoiceField(choices=YNU.choices)
    safety_notes = _text(help_text="What was said, and what you did about it.")

    legal_issues = forms.ChoiceField(
        choices=YNU.choices, help_text="Court dates, probation, a court order to treat."
    )
    legal_notes = _text()

    level_of_care_indicated = _select(AsamLevel.choices, blank="Not decided yet")
    readiness = _select(PreScreen.Readiness.choices, blank="Not asked yet")
    notes = _text()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            if name in PRESCREEN_LABELS:
                field.label = PRESCREEN_LABELS[name]
        self.fields["level_of_care_indicated"].help_text = (
            "1 is under 9 h/week; IOP 9–19 h; PHP 20+ h; 3.x residential; "
            "4 hospital inpatient. Withdrawal management when detox comes first."
        )
        for dimension in ASAM_DIMENSIONS:
            self.fields[dimension.field] = forms.TypedChoiceField(
                label=f"{dimension.number}. {dimension.name}",
                help_text=dimension.help,
                choices=[("", "Not rated"), *ASAM_SCORE_LABELS.items()],
                coerce=int,
                empty_value=None,
                required=False,
            )
        today = timezone.localdate().isoformat()
        for row in SUBSTANCE_ROWS:
            for key, label in ROW_FIELDS:
                self.fields[f"{key}_{row}"] = self._row_field(key, f"{label} {row}")
            self.fields[f"last_use_{row}"].widget.attrs["max"] = today

    @staticmethod
    def _row_field(key: str, label: str) -> forms.Field:
        if key == "route":
            return forms.ChoiceField(
                label=label,
                choices=[("", "—"), *PreScreen.Route.choices],
                required=False,
            )
        if key == "last_use":
            return forms.DateField(
                label=label,
                required=False,
                widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            )
        attrs = {"list": "prescreen-substance-list"} if key == "substance" else {}
        return forms.CharField(
            label=label,
            required=False,
            max_length=SUBSTANCE_TEXT_MAX,
            widget=forms.TextInput(attrs=attrs),
        )

    @classmethod
    def initial_for(cls, *, lead: Lead, current: PreScreen | None) -> dict[str, Any]:
        """The form filled from the current version, or from the lead on a first."""
        answers = current or PreScreen()
        initial = {
            name: getattr(answers, name)
            for name in [*cls.declared_fields, *(d.field for d in ASAM_DIMENSIONS)]
        }
        substances = answers.substances or []
        if current is None:
            # What intake already heard, so nobody asks twice.
            if lead.caller_relationship != CallerRelationship.SELF:
                initial["patient_is"] = PreScreen.PatientIs.LOVED_ONE
            initial["patient_name"] = f"{lead.first_name} {lead.last_name}".strip()
            initial["co_occurring_mental_health"] = lead.co_occurring_mental_health
            substances = [{"substance": value} for value in lead.substances or []]
        initial.update(cls._substance_initial(substances))
        return initial

    @staticmethod
    def _substance_initial(substances: list[dict[str, str]]) -> dict[str, Any]:
        initial: dict[str, Any] = {}
        for row, values in zip(SUBSTANCE_ROWS, substances, strict=False):
            for key, _ in ROW_FIELDS:
                value = values.get(key, "")
                if key == "substance":
                    value = substance_label(value)
                initial[f"{key}_{row}"] = value
        return initial

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        today = timezone.localdate()
        for row in SUBSTANCE_ROWS:
            values = {key: cleaned.get(f"{key}_{row}") for key, _ in ROW_FIELDS}
            if any(values.values()) and not values["substance"]:
                self.add_error(
                    f"substance_{row}", "Name the substance, or clear this row."
                )
            last_use = values["last_use"]
            if last_use and last_use > today:
                self.add_error(f"last_use_{row}", "Last use cannot be in the future.")
        return cleaned

    def substance_rows(self) -> list[list[forms.BoundField]]:
        """The bound fields of each substance row, for the template's table."""
        return [
            [self[f"{key}_{row}"] for key, _ in ROW_FIELDS] for row in SUBSTANCE_ROWS
        ]

    def asam_fields(self) -> list[forms.BoundField]:
        return [self[dimension.field] for dimension in ASAM_DIMENSIONS]

    def service_data(self) -> dict[str, Any]:
        """The answers as `prescreen_save` takes them."""
        data = self.cleaned_data
        answers = {name: data[name] for name in self.declared_fields}
        answers["patient_age"] = data["patient_age"]
        for dimension in ASAM_DIMENSIONS:
            answers[dimension.field] = data[dimension.field]
        substances = []
        for row in SUBSTANCE_ROWS:
            substance = (data[f"substance_{row}"] or "").strip()
            if not substance:
                continue
            last_use = data[f"last_use_{row}"]
            substances.append(
                {
                    "substance": SUBSTANCE_BY_WORD.get(substance.casefold(), substance),
                    "route": data[f"route_{row}"],
                    "frequency": data[f"frequency_{row}"].strip(),
                    "amount": data[f"amount_{row}"].strip(),
                    "last_use": last_use.isoformat() if last_use else "",
                }
            )
        answers["substances"] = substances
        return answers
