"""Your alerts and how you want to get them: /api/v1/me/alerts/..."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from crm.api.pagination import StandardPagination

from . import selectors, services
from .serializers import (
    AlertPreferenceSerializer,
    AlertSerializer,
    AlertsReadSerializer,
)


class AlertsView(APIView):
    """Your in-app alerts, newest first; `?unread=true` for the unread ones."""

    @extend_schema(responses=AlertSerializer(many=True))
    def get(self, request: Request) -> Response:
        alerts = selectors.alerts_for(request.user)
        if request.query_params.get("unread") in ("1", "true", "True"):
            alerts = alerts.filter(read_at__isnull=True)
        paginator = StandardPagination()
        page = paginator.paginate_queryset(alerts, request, view=self)
        return paginator.get_paginated_response(AlertSerializer(page, many=True).data)


class AlertsReadView(APIView):
    """Mark alerts read: the ids given, or all of yours."""

    @extend_schema(
        request=AlertsReadSerializer,
        responses=inline_serializer(
            "AlertsMarkedRead", {"marked_read": serializers.IntegerField()}
        ),
    )
    def post(self, request: Request) -> Response:
        serializer = AlertsReadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        count = services.alerts_mark_read(
            user=request.user, ids=serializer.validated_data.get("ids")
        )
        return Response({"marked_read": count})


class AlertPreferencesView(APIView):
    """Which alerts reach you by text and in the app; PUT the kinds you change."""

    @extend_schema(responses=AlertPreferenceSerializer(many=True))
    def get(self, request: Request) -> Response:
        preferences = selectors.alert_preferences_for(request.user)
        return Response(AlertPreferenceSerializer(preferences, many=True).data)

    @extend_schema(
        request=AlertPreferenceSerializer(many=True),
        responses=AlertPreferenceSerializer(many=True),
    )
    def put(self, request: Request) -> Response:
        serializer = AlertPreferenceSerializer(data=request.data, many=True)
        serializer.is_valid(raise_exception=True)
        services.alert_preferences_set(
            user=request.user, preferences=serializer.validated_data
        )
        preferences = selectors.alert_preferences_for(request.user)
        return Response(
            AlertPreferenceSerializer(preferences, many=True).data,
            status=status.HTTP_200_OK,
        )
