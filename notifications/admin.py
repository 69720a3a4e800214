"""Admin for texting: the outbox and conversations, consent ledger, templates."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import HttpRequest

from leads.models import Lead

from . import services
from .models import Alert, AlertPreference, ConsentEvent, Message, MessageTemplate


def _is_supervisor(request: HttpRequest) -> bool:
    return getattr(request.user, "is_supervisor", False)


class ReadOnlyForSupervisorsMixin:
    """Supervisors see their teams' texts here; only services write them."""

    def has_module_permission(self, request) -> bool:
        return _is_supervisor(request) or super().has_module_permission(request)

    def has_view_permission(self, request, obj=None) -> bool:
        return _is_supervisor(request) or super().has_view_permission(request, obj)

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Message)
class MessageAdmin(ReadOnlyForSupervisorsMixin, admin.ModelAdmin):
    list_display = [
        "created_at",
        "direction",
        "kind",
        "status",
        "to",
        "lead",
        "sent_by",
        "error_code",
        "blocked_reason",
    ]
    list_filter = ["status", "direction", "kind", "blocked_reason"]
    search_fields = ["to", "from_number", "twilio_sid"]
    date_hierarchy = "created_at"
    list_select_related = ["lead", "sent_by"]
    readonly_fields = [field.name for field in Message._meta.fields]
    actions = ["mark_went_out", "mark_not_sent_and_send_again"]

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.sees_all_leads:
            return queryset
        return queryset.filter(
            Q(lead__in=Lead.objects.visible_to(request.user))
            | Q(recipient_user=request.user)
        )

    def has_change_permission(self, request, obj=None) -> bool:
        # Needed for the actions below, which settle unknown outcomes; the form
        # itself stays read-only.
        return _is_supervisor(request) or request.user.is_superuser

    def _settle(self, request, queryset, *, went_out: bool) -> None:
        settled = 0
        for message in queryset.filter(status=Message.Status.UNKNOWN):
            services.message_resolve_unknown(
                message=message, went_out=went_out, by=request.user
            )
            settled += 1
        skipped = queryset.exclude(status=Message.Status.UNKNOWN).count()
        self.message_user(request, f"Settled {settled} text(s).", messages.SUCCESS)
        if skipped:
            self.message_user(
                request,
                f"{skipped} text(s) skipped: only unknown outcomes can be settled.",
                messages.WARNING,
            )

    @admin.action(description="Outcome unknown: it went out (checked in Twilio)")
    def mark_went_out(self, request, queryset):
        self._settle(request, queryset, went_out=True)

    @admin.action(description="Outcome unknown: it did not go out, send it again")
    def mark_not_sent_and_send_again(self, request, queryset):
        self._settle(request, queryset, went_out=False)


@admin.register(ConsentEvent)
class ConsentEventAdmin(ReadOnlyForSupervisorsMixin, admin.ModelAdmin):
    list_display = ["at", "phone", "kind", "source", "lead", "recorded_by"]
    list_filter = ["kind", "source"]
    search_fields = ["phone"]
    readonly_fields = [field.name for field in ConsentEvent._meta.fields]


class MessageTemplateForm(forms.ModelForm):
    class Meta:
        model = MessageTemplate
        fields = ["body", "is_active"]

    def clean(self):
        cleaned = super().clean()
        try:
            services.template_check_body(
                key=self.instance.key, body=cleaned.get("body", "")
            )
        except ValidationError as exc:
            raise ValidationError(exc.message_dict) from exc
        return cleaned


@admin.register(MessageTemplate)
class MessageTemplateAdmin(admin.ModelAdmin):
    form = MessageTemplateForm
    list_display = ["key", "is_active", "updated_at", "updated_by"]
    readonly_fields = ["key", "updated_at", "updated_by"]

    def has_add_permission(self, request) -> bool:
        return False  # the set of templates is fixed by the code that uses them

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        services.template_update(
            template=obj, body=form.cleaned_data["body"], by=request.user
        )
        if "is_active" in form.changed_data:
            obj.save(update_fields=["is_active"])


@admin.register(AlertPreference)
class AlertPreferenceAdmin(admin.ModelAdmin):
    list_display = ["user", "kind", "by_sms", "in_app"]
    list_filter = ["kind"]


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = ["created_at", "user", "kind", "lead", "text", "read_at"]
    list_filter = ["kind"]
    readonly_fields = [field.name for field in Alert._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False
