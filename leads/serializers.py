"""API shapes of a lead. Serializers parse and render; services decide."""

import datetime

from django.db.models import Q
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from phonenumber_field.serializerfields import PhoneNumberField
from rest_framework import serializers

from crm.api.serializers import RejectUnknownFieldsMixin
from crm.models import Team, User

from .models import (
    ATTRIBUTION_FIELDS,
    Activity,
    Lead,
    LeadSource,
    Stage,
    Substance,
    Touch,
)
from .selectors import lead_time_in_stages
from .services import LEAD_DETAIL_FIELDS, allowed_next_stages

OLDEST_PLAUSIBLE_BIRTH_YEAR = 1900
# Renders datetimes exactly as a serializer's DateTimeField does (settings, time zone).
_DATETIME = serializers.DateTimeField()


class UserRefSerializer(serializers.ModelSerializer):
    name = serializers.CharField(source="__str__", read_only=True)

    class Meta:
        model = User
        fields = ["id", "username", "name"]


class TeamRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Team
        fields = ["id", "slug", "name"]


class SourceRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = LeadSource
        fields = ["id", "slug", "name", "kind"]


class TouchSerializer(serializers.ModelSerializer):
    source = SourceRefSerializer(read_only=True)

    class Meta:
        model = Touch
        fields = ["id", "channel", "occurred_at", "summary", *ATTRIBUTION_FIELDS]


# Columns of a list row that need more than copying the attribute.
_LIST_ROW_BUILT = frozenset(
    {
        "phone",
        "owner",
        "team",
        "source",
        "created_at",
        "first_response_at",
        "last_activity_at",
    }
)


class LeadListSerializer(serializers.ModelSerializer):
    """One row of the lead list: the minimum a counselor needs to pick the next call."""

    owner = UserRefSerializer(read_only=True)
    team = TeamRefSerializer(read_only=True)
    source = SourceRefSerializer(read_only=True)

    class Meta:
        model = Lead
        fields = [
            "id",
            "first_name",
            "last_name",
            "phone",
            "email",
            "state",
            "level_of_care",
            "urgency",
            "priority",
            "stage",
            "owner",
            "team",
            "source",
            "campaign",
            "created_at",
            "first_response_at",
            "last_activity_at",
        ]
        read_only_fields = fields

    # The list renders up to a page of rows per request, and DRF's generic path (a
    # field object per column, three nested serializers per row) was the largest cost
    # left once the query was fast. The row is built by hand from the same fields, for
    # leads read by `selectors.lead_list_for` (which adds `phone_e164`);
    # tests/leads/test_api_leads.py checks it against the generic rendering.
    _PLAIN = tuple(name for name in Meta.fields if name not in _LIST_ROW_BUILT)

    def to_representation(self, lead: Lead) -> dict:
        row = {name: getattr(lead, name) for name in self._PLAIN}
        row["phone"] = lead.phone_e164
        owner, team, source = lead.owner, lead.team, lead.source
        row["owner"] = owner and {
            "id": owner.id,
            "username": owner.username,
            "name": str(owner),
        }
        row["team"] = team and {"id": team.id, "slug": team.slug, "name": team.name}
        row["source"] = source and {
            "id": source.id,
            "slug": source.slug,
            "name": source.name,
            "kind": source.kind,
        }
        for name in ("created_at", "first_response_at", "last_activity_at"):
            value = getattr(lead, name)
            row[name] = None if value is None else _DATETIME.to_representation(value)
        return {name: row[name] for name in self.Meta.fields}

    def to_representation_generic(self, lead: Lead) -> dict:
        """DRF's own rendering of the row; the reference the fast path must match."""
        return super().to_representation(lead)


class LeadDetailSerializer(serializers.ModelSerializer):
    owner = UserRefSerializer(read_only=True)
    team = TeamRefSerializer(read_only=True)
    source = SourceRefSerializer(read_only=True)
    first_touch = TouchSerializer(read_only=True)
    last_touch = TouchSerializer(read_only=True)
    allowed_next_stages = serializers.SerializerMethodField()
    seconds_in_stages = serializers.SerializerMethodField()
    first_response_by = UserRefSerializer(read_only=True)
    response_seconds = serializers.SerializerMethodField(
        help_text="Seconds from the inquiry to the first call or text by a person."
    )

    class Meta:
        model = Lead
        fields = [
            "id",
            *LEAD_DETAIL_FIELDS,
            "owner",
            "team",
            "stage",
            "stage_changed_at",
            "allowed_next_stages",
            "lost_reason",
            "referred_to",
            "closed_reason_note",
            "seconds_in_stages",
            "created_at",
            "updated_at",
            "first_response_at",
            "first_response_by",
            "response_seconds",
            "sla_due_at",
            "sla_escalated_at",
            "inquiry_count",
            "last_inquiry_at",
            "cadence_attempt",
            "cadence_close_at",
            "last_activity_at",
            "source",
            "campaign",
            "first_touch",
            "last_touch",
        ]
        read_only_fields = fields

    def get_response_seconds(self, lead: Lead) -> float | None:
        if lead.first_response_at is None:
            return None
        return max(0.0, (lead.first_response_at - lead.created_at).total_seconds())

    @extend_schema_field(
        serializers.ListField(child=serializers.ChoiceField(choices=Stage.choices))
    )
    def get_allowed_next_stages(self, lead: Lead) -> list[str]:
        return allowed_next_stages(lead)

    @extend_schema_field(serializers.DictField(child=serializers.FloatField()))
    def get_seconds_in_stages(self, lead: Lead) -> dict[str, float]:
        return lead_time_in_stages(lead=lead)


class LeadWriteSerializer(RejectUnknownFieldsMixin, serializers.ModelSerializer):
    """What a counselor may type about a lead, validated field by field."""

    phone = PhoneNumberField(required=False, allow_blank=True, region="US")
    caller_phone = PhoneNumberField(required=False, allow_blank=True, region="US")
    substances = serializers.ListField(
        child=serializers.ChoiceField(choices=Substance.choices),
        required=False,
        max_length=10,
    )
    owner = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.filter(is_active=True), required=False, allow_null=True
    )
    team = serializers.PrimaryKeyRelatedField(
        queryset=Team.objects.filter(is_active=True), required=False
    )

    class Meta:
        model = Lead
        fields = [*LEAD_DETAIL_FIELDS, "owner", "team"]
        extra_kwargs = {
            "date_of_birth": {"required": False, "allow_null": True},
        }

    def get_fields(self):
        fields = super().get_fields()
        # The model stores the date encrypted as text; the API speaks dates.
        fields["date_of_birth"] = serializers.DateField(required=False, allow_null=True)
        return fields

    def validate_date_of_birth(self, value: datetime.date | None):
        if value is None:
            return value
        if value > timezone.localdate():
            raise serializers.ValidationError("Date of birth cannot be in the future.")
        if value.year < OLDEST_PLAUSIBLE_BIRTH_YEAR:
            raise serializers.ValidationError("Date of birth is not plausible.")
        return value

    def validate_team(self, team: Team) -> Team:
        user = self.context["request"].user
        if user.sees_all_leads:
            return team
        mine = Team.objects.filter(Q(members=user) | Q(supervisors=user), pk=team.pk)
        if not mine.exists():
            raise serializers.ValidationError("You can only use your own teams.")
        return team


class LeadCreateSerializer(LeadWriteSerializer):
    """A lead typed in by a counselor, with where it came from."""

    source = serializers.SlugRelatedField(
        slug_field="slug",
        queryset=LeadSource.objects.filter(is_active=True),
        required=False,
        allow_null=True,
    )
    tracking_number = PhoneNumberField(required=False, allow_blank=True, region="US")
    message = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=500,
        help_text="What the person said they need, kept on the first touch.",
    )

    class Meta(LeadWriteSerializer.Meta):
        fields = [*LEAD_DETAIL_FIELDS, "owner", "team", *ATTRIBUTION_FIELDS, "message"]


class TransitionSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    to = serializers.ChoiceField(choices=Stage.choices)
    reason = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=2000,
        help_text="Lost: a lost-reason code. Referred out: why. Otherwise optional.",
    )
    referred_to = serializers.CharField(
        required=False, allow_blank=True, max_length=200
    )
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class ActivitySerializer(serializers.ModelSerializer):
    actor = UserRefSerializer(read_only=True)

    class Meta:
        model = Activity
        fields = ["id", "kind", "at", "actor", "summary", "body", "data"]
        read_only_fields = fields


class NoteCreateSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    body = serializers.CharField(max_length=10_000)
