"""Admin for the catalog: programs, partner facilities and the payer list.

Administrators keep these current; counselors read them on the programs page and
the lead page. Levels of care and states are ticked from their choices rather than
typed as JSON.
"""

from django import forms
from django.contrib import admin

from ..geo import USState
from ..models import CoveredLevel, PartnerFacility, Payer, Program
from .programs import level_labels


class LevelsAndStatesForm(forms.ModelForm):
    """Levels of care (and states served) as check boxes over their choices."""

    levels_of_care = forms.MultipleChoiceField(
        label="Levels of care",
        choices=CoveredLevel.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )

    def clean_levels_of_care(self) -> list[str]:
        # Stored in the choices' order, so that lists compare and read alike.
        chosen = set(self.cleaned_data["levels_of_care"])
        return [value for value in CoveredLevel.values if value in chosen]


class ProgramAdminForm(LevelsAndStatesForm):
    states_served = forms.MultipleChoiceField(
        label="States served",
        choices=USState.choices,
        widget=forms.SelectMultiple(attrs={"size": 10}),
        required=False,
        help_text="Leave empty when the program admits from any state.",
    )

    class Meta:
        model = Program
        fields = [
            "name",
            "facility_name",
            "street",
            "city",
            "state",
            "postal_code",
            "phone",
            "levels_of_care",
            "payers",
            "accepts_self_pay",
            "states_served",
            "capacity",
            "open_beds",
            "is_active",
        ]

    def clean_levels_of_care(self) -> list[str]:
        levels = super().clean_levels_of_care()
        if not levels:
            raise forms.ValidationError("Tick at least one level of care.")
        return levels

    def clean_states_served(self) -> list[str]:
        return sorted(set(self.cleaned_data["states_served"]))


class PartnerFacilityAdminForm(LevelsAndStatesForm):
    class Meta:
        model = PartnerFacility
        fields = [
            "name",
            "city",
            "state",
            "phone",
            "levels_of_care",
            "notes",
            "is_active",
        ]


@admin.register(Program)
class ProgramAdmin(admin.ModelAdmin):
    form = ProgramAdminForm
    list_display = [
        "name",
        "facility_name",
        "city",
        "state",
        "levels",
        "open_beds",
        "capacity",
        "accepts_self_pay",
        "is_active",
    ]
    list_filter = ["is_active", "state", "accepts_self_pay", "payers"]
    search_fields = ["name", "facility_name", "city"]
    filter_horizontal = ["payers"]
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "name",
                    "facility_name",
                    "street",
                    "city",
                    "state",
                    "postal_code",
                    "phone",
                    "is_active",
                )
            },
        ),
        ("Care", {"fields": ("levels_of_care", "capacity", "open_beds")}),
        ("Who it admits", {"fields": ("payers", "accepts_self_pay", "states_served")}),
    )

    @admin.display(description="Levels of care")
    def levels(self, program: Program) -> str:
        return ", ".join(level_labels(program.levels_of_care))


@admin.register(PartnerFacility)
class PartnerFacilityAdmin(admin.ModelAdmin):
    form = PartnerFacilityAdminForm
    list_display = ["name", "city", "state", "phone", "levels", "is_active"]
    list_filter = ["is_active", "state"]
    search_fields = ["name", "city"]

    @admin.display(description="Levels of care")
    def levels(self, facility: PartnerFacility) -> str:
        return ", ".join(level_labels(facility.levels_of_care))


@admin.register(Payer)
class PayerAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "electronic_payer_id",
        "provider_services_phone",
        "behavioral_health_vendor",
        "is_active",
    ]
    list_filter = ["is_active"]
    search_fields = ["name", "electronic_payer_id", "behavioral_health_vendor"]
