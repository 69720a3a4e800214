"""Admin for leads. Reads are audited; writes go through the lead services."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from crm.services import audit_lead_view, audit_record_many

from . import services
from .geo import USState
from .models import (
    ATTRIBUTION_FIELDS,
    Activity,
    Cadence,
    CadenceStep,
    CallBack,
    Language,
    Lead,
    LeadSource,
    LevelOfCare,
    RoutingRule,
    StageChange,
    Touch,
)
from .services.sources import source_rotate_key


def _is_supervisor(request: HttpRequest) -> bool:
    return getattr(request.user, "is_supervisor", False)


class SupervisorAccessMixin:
    """Supervisors work leads in the admin by role; the queryset limits them to
    their teams. Django's per-model permissions still apply to everyone else."""

    def has_module_permission(self, request) -> bool:
        return _is_supervisor(request) or super().has_module_permission(request)

    def has_view_permission(self, request, obj=None) -> bool:
        return _is_supervisor(request) or super().has_view_permission(request, obj)


class ReadOnlyAdminMixin:
    """History is written by services only; the admin shows it."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ActivityInline(SupervisorAccessMixin, ReadOnlyAdminMixin, admin.TabularInline):
    model = Activity
    fields = ["at", "kind", "actor", "summary"]
    readonly_fields = fields
    ordering = ["-at", "-id"]
    extra = 0
    max_num = 0
    show_change_link = False


class StageChangeInline(SupervisorAccessMixin, ReadOnlyAdminMixin, admin.TabularInline):
    model = StageChange
    fields = ["at", "from_stage", "to_stage", "lost_reason", "reason", "by"]
    readonly_fields = fields
    extra = 0
    max_num = 0


class TouchInline(SupervisorAccessMixin, ReadOnlyAdminMixin, admin.TabularInline):
    model = Touch
    fields = ["occurred_at", "channel", "source", "campaign", "landing_page", "summary"]
    readonly_fields = fields
    extra = 0
    max_num = 0


class LeadAdminForm(forms.ModelForm):
    """Run the services' checks while the form can still show them as field errors."""

    class Meta:
        model = Lead
        fields = [*services.LEAD_DETAIL_FIELDS, "owner", "team", *ATTRIBUTION_FIELDS]

    def clean(self):
        cleaned = super().clean()
        try:
            services.lead_check_contact(
                phone=cleaned.get("phone"),
                email=cleaned.get("email", ""),
                caller_phone=cleaned.get("caller_phone"),
            )
            if cleaned.get("owner") is not None:
                services.lead_check_owner(
                    owner=cleaned["owner"], team=cleaned.get("team")
                )
        except ValidationError as error:
            self.add_error(None, error)
        return cleaned


@admin.register(Lead)
class LeadAdmin(SupervisorAccessMixin, admin.ModelAdmin):
    form = LeadAdminForm
    list_display = [
        "id",
        "display_name",
        "phone",
        "stage",
        "level_of_care",
        "owner",
        "team",
        "source",
        "created_at",
    ]
    list_filter = ["stage", "team", "source", "level_of_care", "urgency", "state"]
    search_fields = ["first_name", "last_name", "email", "phone"]
    list_select_related = ["owner", "team", "source"]
    date_hierarchy = "created_at"
    inlines = [TouchInline, StageChangeInline, ActivityInline]
    readonly_fields = [
        "stage",
        "stage_changed_at",
        "lost_reason",
        "referred_to",
        "closed_reason_note",
        "created_at",
        "updated_at",
        "first_response_at",
        "last_activity_at",
        "first_touch",
        "last_touch",
    ]
    fieldsets = (
        (
            "Person",
            {
                "fields": (
                    "first_name",
                    "last_name",
                    "phone",
                    "email",
                    "date_of_birth",
                    "state",
                    "city",
                    "time_zone",
                    "preferred_language",
                )
            },
        ),
        (
            "Caller",
            {
                "fields": (
                    "caller_relationship",
                    "caller_first_name",
                    "caller_last_name",
                    "caller_phone",
                    "caller_email",
                    "patient_consents_to_caller",
                )
            },
        ),
        (
            "Clinical intake",
            {
                "fields": (
                    "substances",
                    "level_of_care",
                    "co_occurring_mental_health",
                    "urgency",
                    "intake_notes",
                )
            },
        ),
        (
            "Insurance",
            {
                "fields": (
                    "insurance_payer",
                    "insurance_member_id",
                    "insurance_group_number",
                    "insurance_subscriber_name",
                )
            },
        ),
        (
            "Work",
            {
                "fields": (
                    "owner",
                    "team",
                    "priority",
                    "stage",
                    "stage_changed_at",
                    "lost_reason",
                    "referred_to",
                    "closed_reason_note",
                )
            },
        ),
        (
            "Attribution (first touch)",
            {"classes": ["collapse"], "fields": ATTRIBUTION_FIELDS},
        ),
        (
            "Timestamps",
            {
                "fields": (
                    "created_at",
                    "updated_at",
                    "first_response_at",
                    "last_activity_at",
                    "first_touch",
                    "last_touch",
                )
            },
        ),
    )

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).visible_to(request.user)

    def has_change_permission(self, request, obj=None) -> bool:
        return _is_supervisor(request) or super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        # Leads are health records kept for years; they are closed, never deleted.
        return False

    def changelist_view(self, request: HttpRequest, extra_context=None):
        response = super().changelist_view(request, extra_context)
        changelist = getattr(response, "context_data", {}) or {}
        if "cl" in changelist:
            audit_record_many(
                actor=request.user,
                action="list",
                object_type="lead",
                object_ids=[lead.pk for lead in changelist["cl"].result_list],
            )
        return response

    def change_view(
        self, request: HttpRequest, object_id, form_url="", extra_context=None
    ):
        visible = (
            request.method == "GET"
            and object_id.isdigit()
            and self.get_queryset(request).filter(pk=object_id).exists()
        )
        if visible:
            audit_lead_view(actor=request.user, lead_id=int(object_id), detail="admin")
        return super().change_view(request, object_id, form_url, extra_context)

    def save_model(self, request: HttpRequest, obj: Lead, form, change: bool) -> None:
        data = {name: form.cleaned_data[name] for name in form.changed_data}
        if change:
            services.lead_edit(lead=obj, by=request.user, data=data)
            return
        attribution = {
            name: data.pop(name) for name in ATTRIBUTION_FIELDS if name in data
        }
        result = services.lead_enter_manually(
            by=request.user,
            team=data.pop("team", None),
            owner=data.pop("owner", None),
            attribution=attribution,
            **data,
        )
        obj.pk = result.lead.pk
        if result.duplicate:
            self.message_user(
                request,
                f"This phone or e-mail belongs to lead #{result.lead.pk}; the "
                "inquiry was added to that lead instead of a new one.",
                messages.WARNING,
            )


class LeadSourceAdminForm(forms.ModelForm):
    class Meta:
        model = LeadSource
        fields = [
            "name",
            "slug",
            "kind",
            "is_active",
            "team",
            "sla_minutes",
            "cadence",
            "consent_text",
            "consent_text_version",
            "success_message",
            "gravity_forms_mapping",
        ]

    def clean_gravity_forms_mapping(self):
        mapping = self.cleaned_data.get("gravity_forms_mapping") or {}
        if not isinstance(mapping, dict):
            raise ValidationError('Write an object: {"field id": "lead field"}.')
        # Imported here: the intake form imports the services, which import models.
        from .intake_forms import INTAKE_FIELDS

        wrong = sorted(
            f"{key} → {target}"
            for key, target in mapping.items()
            if not isinstance(target, str) or target not in INTAKE_FIELDS
        )
        if wrong:
            raise ValidationError(
                f"Not an intake field: {', '.join(wrong)}. Use one of: "
                + ", ".join(INTAKE_FIELDS)
            )
        return mapping


@admin.register(LeadSource)
class LeadSourceAdmin(admin.ModelAdmin):
    """Sources and their intake keys: keys are shown once, when made or rotated."""

    form = LeadSourceAdminForm
    list_display = [
        "name",
        "slug",
        "kind",
        "team",
        "sla_minutes",
        "key_prefix",
        "is_active",
    ]
    list_filter = ["kind", "is_active", "team"]
    prepopulated_fields = {"slug": ("name",)}
    search_fields = ["name", "slug"]
    readonly_fields = ["key_prefix", "key_rotated_at", "created_at"]
    actions = ["rotate_keys"]
    fieldsets = (
        (None, {"fields": ("name", "slug", "kind", "is_active", "created_at")}),
        ("Routing and speed to lead", {"fields": ("team", "sla_minutes", "cadence")}),
        (
            "Intake key",
            {
                "fields": ("key_prefix", "key_rotated_at"),
                "description": "Use the “Rotate intake key” action to issue a new "
                "key; the old one stops working at once.",
            },
        ),
        (
            "Hosted form",
            {"fields": ("consent_text", "consent_text_version", "success_message")},
        ),
        ("Gravity Forms", {"fields": ("gravity_forms_mapping",)}),
    )

    def save_model(self, request: HttpRequest, obj: LeadSource, form, change) -> None:
        super().save_model(request, obj, form, change)
        if not change and not obj.key_hash:
            key = source_rotate_key(source=obj, by=request.user)
            self.message_user(
                request,
                f"Intake key for {obj}: {key} — copy it now, it is not shown again.",
                messages.WARNING,
            )

    @admin.action(description="Rotate intake key (the old key stops working)")
    def rotate_keys(self, request: HttpRequest, queryset) -> None:
        for source in queryset.order_by("pk"):
            key = source_rotate_key(source=source, by=request.user)
            self.message_user(
                request,
                f"New intake key for {source}: {key} — copy it now, it is not "
                "shown again.",
                messages.WARNING,
            )


class RoutingRuleAdminForm(forms.ModelForm):
    # Checkboxes instead of raw JSON: a typo in a state code would silently never
    # match.
    states = forms.MultipleChoiceField(
        choices=USState.choices, required=False, widget=forms.SelectMultiple
    )
    levels_of_care = forms.MultipleChoiceField(
        choices=LevelOfCare.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    languages = forms.MultipleChoiceField(
        choices=Language.choices, required=False, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = RoutingRule
        fields = [
            "position",
            "name",
            "team",
            "states",
            "levels_of_care",
            "languages",
            "sources",
            "is_active",
        ]


@admin.register(RoutingRule)
class RoutingRuleAdmin(admin.ModelAdmin):
    form = RoutingRuleAdminForm
    list_display = [
        "position",
        "name",
        "team",
        "states",
        "levels_of_care",
        "languages",
        "is_active",
    ]
    list_display_links = ["name"]
    list_editable = ["position", "is_active"]
    list_filter = ["team", "is_active"]
    filter_horizontal = ["sources"]


class CadenceStepInline(admin.TabularInline):
    model = CadenceStep
    extra = 0
    fields = [
        "attempt",
        "after_minutes",
        "on_day",
        "at_local_time",
        "leave_voicemail",
        "send_text",
    ]


@admin.register(Cadence)
class CadenceAdmin(admin.ModelAdmin):
    list_display = ["name", "is_default", "max_attempts", "close_after_hours"]
    inlines = [CadenceStepInline]


@admin.register(CallBack)
class CallBackAdmin(SupervisorAccessMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """The call-back queue as rows; counselors work it from the app."""

    list_display = ["due_at", "lead", "owner", "reason", "status", "attempt"]
    list_filter = ["status", "reason"]
    list_select_related = ["lead", "owner"]
    date_hierarchy = "due_at"

    def get_queryset(self, request):
        leads = Lead.objects.visible_to(request.user)
        return super().get_queryset(request).filter(lead__in=leads)


class LeadHistoryAdmin(SupervisorAccessMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Rows that hang off a lead, limited to the leads the user may see."""

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .filter(lead__in=Lead.objects.visible_to(request.user))
        )


@admin.register(Touch)
class TouchAdmin(LeadHistoryAdmin):
    list_display = ["occurred_at", "lead", "channel", "source", "campaign"]
    list_filter = ["channel", "source"]
    list_select_related = ["lead", "source"]


@admin.register(StageChange)
class StageChangeAdmin(LeadHistoryAdmin):
    list_display = ["at", "lead", "from_stage", "to_stage", "lost_reason", "by"]
    list_filter = ["to_stage", "lost_reason"]
    list_select_related = ["lead", "by"]


@admin.register(Activity)
class ActivityAdmin(LeadHistoryAdmin):
    list_display = ["at", "lead", "kind", "actor", "summary"]
    list_filter = ["kind"]
    list_select_related = ["lead", "actor"]


# The program catalog, partner facilities and the payer list.
from .admissions import admin as admissions_admin  # noqa: E402, F401
