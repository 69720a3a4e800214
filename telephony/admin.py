"""Admin for telephony: tracking numbers are configured here; calls are read-only."""

from django.contrib import admin
from django.http import HttpRequest

from leads.admin import ReadOnlyAdminMixin, SupervisorAccessMixin
from leads.models import Lead

from . import services
from .models import Call, DoNotCall, TrackingNumber


@admin.register(TrackingNumber)
class TrackingNumberAdmin(admin.ModelAdmin):
    list_display = ["name", "number", "source", "team", "record_calls", "is_active"]
    list_filter = ["is_active", "record_calls", "team"]
    search_fields = ["name", "number", "campaign"]


@admin.register(Call)
class CallAdmin(SupervisorAccessMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """The call log, limited to the leads the user may see."""

    list_display = [
        "started_at",
        "direction",
        "status",
        "lead",
        "counselor",
        "tracking_number",
        "duration_seconds",
        "is_voicemail",
        "missed_at",
        "disposition",
    ]
    list_filter = ["direction", "status", "is_voicemail"]
    list_select_related = ["lead", "counselor", "tracking_number"]
    date_hierarchy = "started_at"
    search_fields = ["=sid"]

    def get_queryset(self, request: HttpRequest):
        leads = Lead.objects.visible_to(request.user)
        return super().get_queryset(request).filter(lead__in=leads)


@admin.register(DoNotCall)
class DoNotCallAdmin(admin.ModelAdmin):
    list_display = ["phone", "reason", "added_by", "added_at"]
    search_fields = ["phone"]
    fields = ["phone", "reason"]

    def save_model(self, request: HttpRequest, obj: DoNotCall, form, change) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        entry = services.do_not_call_add(
            phone=str(obj.phone), by=request.user, reason=obj.reason
        )
        obj.pk = entry.pk
