"""The dashboard's filter bar: which leads the reports are drawn from."""

from datetime import timedelta

from django import forms
from django.http import QueryDict

from crm.models import User
from leads.models import LeadSource, LevelOfCare

from .selectors import MAX_RANGE_DAYS, DashboardFilters, dashboard_teams_for


class DashboardFilterForm(forms.Form):
    since = forms.DateField(
        label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(label="To", widget=forms.DateInput(attrs={"type": "date"}))
    team = forms.ModelChoiceField(
        queryset=None, required=False, empty_label="All my teams", to_field_name="slug"
    )
    source = forms.ModelChoiceField(
        queryset=LeadSource.objects.order_by("name"),
        required=False,
        empty_label="All sources",
        to_field_name="slug",
    )
    campaign = forms.CharField(max_length=200, required=False)
    level_of_care = forms.ChoiceField(
        label="Level of care",
        choices=[("", "All levels")] + LevelOfCare.choices,
        required=False,
    )

    def __init__(self, data: QueryDict, *, user: User):
        # Missing dates mean the default range; given ones are validated as typed.
        defaults = DashboardFilters.default()
        data = data.copy()
        for name in ("since", "until"):
            if name not in data:
                data[name] = getattr(defaults, name).isoformat()
        super().__init__(data)
        self.fields["team"].queryset = dashboard_teams_for(user=user).order_by("name")
        if user.sees_all_leads:
            self.fields["team"].empty_label = "All teams"

    def clean(self):
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until:
            if since > until:
                self.add_error("until", "The end date is before the start date.")
            elif until - since >= timedelta(days=MAX_RANGE_DAYS):
                self.add_error(
                    "since", f"Choose at most {MAX_RANGE_DAYS} days at a time."
                )
        return cleaned

    def filters(self) -> DashboardFilters:
        data = self.cleaned_data
        return DashboardFilters(
            since=data["since"],
            until=data["until"],
            team=data["team"],
            source=data["source"],
            campaign=data["campaign"].strip(),
            level_of_care=data["level_of_care"],
        )
