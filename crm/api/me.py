from django.db import transaction
from drf_spectacular.utils import extend_schema
from phonenumber_field.serializerfields import PhoneNumberField
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from crm.models import Team, User
from crm.services import user_set_phone, user_set_presence

from .serializers import RejectUnknownFieldsMixin


class MyTeamSerializer(serializers.ModelSerializer):
    class Meta:
        model = Team
        fields = ["id", "slug", "name"]


class MeSerializer(serializers.ModelSerializer):
    name = serializers.CharField(source="__str__", read_only=True)
    teams = MyTeamSerializer(many=True, read_only=True)
    supervised_teams = MyTeamSerializer(many=True, read_only=True)

    class Meta:
        model = User
        fields = [
            "id",
            "username",
            "name",
            "role",
            "presence",
            "phone",
            "max_open_leads",
            "teams",
            "supervised_teams",
        ]
        read_only_fields = fields


class MeUpdateSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    presence = serializers.ChoiceField(choices=User.Presence.choices, required=False)
    phone = PhoneNumberField(
        required=False,
        allow_blank=True,
        help_text="Your own mobile number, for alerts by text (any US format).",
    )

    def validate(self, attrs):
        if not attrs:
            raise serializers.ValidationError("Send `presence` and/or `phone`.")
        return attrs


class MeView(APIView):
    """Who you are signed in as; PATCH `presence` (available, busy, away, offline)
    and/or your own `phone` for alerts by text."""

    @extend_schema(responses=MeSerializer)
    def get(self, request: Request) -> Response:
        return Response(MeSerializer(request.user).data)

    @extend_schema(request=MeUpdateSerializer, responses=MeSerializer)
    def patch(self, request: Request) -> Response:
        serializer = MeUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        changes = serializer.validated_data
        user = request.user
        with transaction.atomic():
            if "presence" in changes:
                user = user_set_presence(user=user, presence=changes["presence"])
            if "phone" in changes:
                user = user_set_phone(user=user, phone=str(changes["phone"] or ""))
        return Response(MeSerializer(user).data)
