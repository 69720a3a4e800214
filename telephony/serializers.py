"""API shapes of calls."""

from rest_framework import serializers

from crm.api.serializers import RejectUnknownFieldsMixin
from leads.serializers import UserRefSerializer

from .models import Call


class CallSerializer(serializers.ModelSerializer):
    counselor = UserRefSerializer(read_only=True)

    class Meta:
        model = Call
        fields = [
            "id",
            "sid",
            "direction",
            "status",
            "from_number",
            "to_number",
            "lead",
            "counselor",
            "started_at",
            "answered_at",
            "ended_at",
            "duration_seconds",
            "talk_seconds",
            "answered_by",
            "recording_url",
            "recording_duration",
            "is_voicemail",
            "transcription",
            "missed_at",
            "quiet_hours_override",
            "disposition",
            "error_message",
        ]
        read_only_fields = fields


class ClickToCallSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    override_quiet_hours = serializers.BooleanField(required=False, default=False)


class CallBlockedSerializer(serializers.Serializer):
    reason = serializers.ChoiceField(
        choices=["do_not_call", "quiet_hours", "provider_error"]
    )
    detail = serializers.CharField()
    call = CallSerializer()
