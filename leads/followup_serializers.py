"""API shapes of call-backs, call outcomes and speed to lead."""

from datetime import datetime

from django.utils.dateparse import parse_datetime
from rest_framework import serializers

from crm.api.serializers import RejectUnknownFieldsMixin
from crm.models import User
from telephony.models import Call

from .models import CallBack, CallDisposition
from .serializers import UserRefSerializer
from .services.followup import both_local_times, lead_zone


def parse_local_datetime(value: str, field: str) -> datetime:
    """ISO date and time; without an offset it is the lead's own local time."""
    try:
        parsed = parse_datetime((value or "").strip())
    except ValueError:
        parsed = None
    if parsed is None:
        raise serializers.ValidationError(
            {field: ["Give a date and time like 2026-12-01T14:30 (lead's local time)."]}
        )
    return parsed


class CallBackSerializer(serializers.ModelSerializer):
    owner = UserRefSerializer(read_only=True)
    lead_name = serializers.CharField(source="lead.display_name", read_only=True)
    due_at_lead_local = serializers.SerializerMethodField()
    lead_time_zone = serializers.SerializerMethodField()

    class Meta:
        model = CallBack
        fields = [
            "id",
            "lead",
            "lead_name",
            "owner",
            "due_at",
            "due_at_lead_local",
            "lead_time_zone",
            "status",
            "reason",
            "attempt",
            "leave_voicemail",
            "send_text",
            "note",
            "created_at",
            "dispatched_at",
            "closed_at",
            "outcome",
        ]
        read_only_fields = fields

    def get_due_at_lead_local(self, callback: CallBack) -> str:
        """The due time as the lead lives it, with ours when the zones differ."""
        return both_local_times(callback.lead, callback.due_at)

    def get_lead_time_zone(self, callback: CallBack) -> str:
        return str(lead_zone(callback.lead))


class CallBackCreateSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    due_at = serializers.CharField(
        help_text="ISO date-time; without an offset it is the lead's local time."
    )
    note = serializers.CharField(required=False, allow_blank=True, max_length=500)
    owner = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.filter(is_active=True), required=False
    )

    def validate_due_at(self, value: str) -> datetime:
        return parse_local_datetime(value, "due_at")


class CallBackCancelSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, max_length=500)


class CallOutcomeSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    disposition = serializers.ChoiceField(choices=CallDisposition.choices)
    note = serializers.CharField(required=False, allow_blank=True, max_length=10_000)
    call_back_at = serializers.CharField(
        required=False,
        help_text="For call_back_later: ISO date-time, naive = the lead's local time.",
    )
    call = serializers.PrimaryKeyRelatedField(
        queryset=Call.objects.all(),
        required=False,
        help_text="The call (from click-to-call or the call log) this outcome is for.",
    )

    def validate_call_back_at(self, value: str) -> datetime:
        return parse_local_datetime(value, "call_back_at")


class CallOutcomeResultSerializer(serializers.Serializer):
    lead = serializers.IntegerField(source="lead.pk")
    stage = serializers.CharField(source="lead.stage")
    summary = serializers.CharField(source="activity.summary")
    next_callback = CallBackSerializer(allow_null=True)
    text_queued = serializers.BooleanField()


class ResponderSerializer(serializers.Serializer):
    counselor = UserRefSerializer(allow_null=True)
    leads = serializers.IntegerField()
    median_seconds = serializers.FloatField(allow_null=True)
    p90_seconds = serializers.FloatField(allow_null=True)
    within_5_minutes = serializers.FloatField(
        allow_null=True, help_text="Share of leads answered within 5 minutes (0-1)."
    )


class SpeedToLeadSerializer(serializers.Serializer):
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()
    leads = serializers.IntegerField()
    responded = serializers.IntegerField()
    waiting = serializers.IntegerField()
    median_seconds = serializers.FloatField(allow_null=True)
    p90_seconds = serializers.FloatField(allow_null=True)
    within_5_minutes = serializers.FloatField(allow_null=True)
    by_counselor = ResponderSerializer(many=True)
