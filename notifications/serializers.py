"""API shapes of texts, consent and alerts."""

from rest_framework import serializers

from crm.api.serializers import RejectUnknownFieldsMixin
from leads.serializers import UserRefSerializer

from .models import Alert, AlertPreference, ConsentEvent, Message


class MessageSerializer(serializers.ModelSerializer):
    sent_by = UserRefSerializer(read_only=True)

    class Meta:
        model = Message
        fields = [
            "id",
            "direction",
            "kind",
            "status",
            "to",
            "from_number",
            "body",
            "sent_by",
            "created_at",
            "scheduled_for",
            "handed_off_at",
            "status_changed_at",
            "blocked_reason",
            "error_code",
            "error_message",
            "quiet_hours_override",
        ]
        read_only_fields = fields


class MessageCreateSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    body = serializers.CharField(max_length=1600, trim_whitespace=True)
    override_quiet_hours = serializers.BooleanField(
        default=False,
        help_text="Send a counselor's text outside the lead's texting hours; logged.",
    )


class MessageBlockedSerializer(serializers.Serializer):
    reason = serializers.ChoiceField(choices=Message.BlockedReason.choices)
    detail = serializers.CharField()
    message = MessageSerializer()


class ConsentStateSerializer(serializers.Serializer):
    phone = serializers.CharField()
    consented = serializers.BooleanField()
    opted_out = serializers.BooleanField()
    since = serializers.DateTimeField(allow_null=True)
    source = serializers.CharField()


class ConversationSerializer(serializers.Serializer):
    consent = ConsentStateSerializer()
    messages = MessageSerializer(many=True)


class ConsentEventSerializer(serializers.ModelSerializer):
    recorded_by = UserRefSerializer(read_only=True)

    class Meta:
        model = ConsentEvent
        fields = ["id", "phone", "kind", "source", "at", "recorded_by", "text"]
        read_only_fields = fields


class ConsentCreateSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    kind = serializers.ChoiceField(choices=ConsentEvent.Kind.choices)
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True)


class AlertSerializer(serializers.ModelSerializer):
    class Meta:
        model = Alert
        fields = ["id", "kind", "lead", "text", "created_at", "read_at"]
        read_only_fields = fields


class AlertsReadSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        required=False,
        max_length=500,
        help_text="Alerts to mark read; leave out to mark all read.",
    )


class AlertPreferenceSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=AlertPreference.Kind.choices)
    by_sms = serializers.BooleanField()
    in_app = serializers.BooleanField()
