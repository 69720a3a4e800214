from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from .models import AuditEvent, Team, User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = [
        "username",
        "get_full_name",
        "role",
        "presence",
        "max_open_leads",
        "is_active",
    ]
    list_filter = ["role", "presence", "is_active", "teams"]
    fieldsets = (
        *DjangoUserAdmin.fieldsets,
        ("Call center", {"fields": ("role", "phone", "presence", "max_open_leads")}),
    )
    add_fieldsets = (
        *DjangoUserAdmin.add_fieldsets,
        (
            "Call center",
            {"fields": ("role", "first_name", "last_name", "email", "phone")},
        ),
    )


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "slug",
        "business_hours_start",
        "business_hours_end",
        "after_hours_sla_minutes",
        "is_active",
    ]
    prepopulated_fields = {"slug": ("name",)}
    filter_horizontal = ["members", "supervisors"]
    search_fields = ["name"]
    fieldsets = (
        (None, {"fields": ("name", "slug", "is_active", "members", "supervisors")}),
        (
            "Business hours and SLA",
            {
                "fields": (
                    "time_zone",
                    "business_hours_start",
                    "business_hours_end",
                    "business_days",
                    "after_hours_sla_minutes",
                    "sla_reassign_after_minutes",
                )
            },
        ),
    )


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """The audit trail: readable by those allowed, changeable by nobody."""

    list_display = [
        "at",
        "actor_username",
        "action",
        "object_type",
        "object_id",
        "fields",
        "channel",
        "ip_address",
    ]
    list_filter = ["action", "object_type", "channel"]
    search_fields = ["actor_username", "object_id", "=lead_id"]
    date_hierarchy = "at"
    list_select_related = ["actor"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
