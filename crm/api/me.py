from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from crm.models import Team, User
from crm.services import user_set_presence


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
            "max_open_leads",
            "teams",
            "supervised_teams",
        ]
        read_only_fields = fields


class PresenceSerializer(serializers.Serializer):
    presence = serializers.ChoiceField(choices=User.Presence.choices)


class MeView(APIView):
    """Who you are signed in as; PATCH `presence` to go available, busy or away."""

    @extend_schema(responses=MeSerializer)
    def get(self, request: Request) -> Response:
        return Response(MeSerializer(request.user).data)

    @extend_schema(request=PresenceSerializer, responses=MeSerializer)
    def patch(self, request: Request) -> Response:
        serializer = PresenceSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = user_set_presence(
            user=request.user, presence=serializer.validated_data["presence"]
        )
        return Response(MeSerializer(user).data)
