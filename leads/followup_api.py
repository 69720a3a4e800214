"""Call-back queue, call outcomes and speed to lead: thin views over the services."""

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from crm.services import audit_record_many

from . import selectors
from .followup_serializers import (
    CallBackCancelSerializer,
    CallBackSerializer,
    SpeedToLeadSerializer,
)
from .models import CallBack, Lead
from .services.followup import callback_cancel


def _int_param(request: Request, name: str) -> int | None:
    value = request.query_params.get(name)
    if value in (None, ""):
        return None
    if not value.isdigit() or len(value) > 18:
        raise ValidationError({name: ["Give a number."]})
    return int(value)


@extend_schema(
    parameters=[
        OpenApiParameter("team", int, description="A supervisor's view of one team.")
    ]
)
class MyCallBacksView(ListAPIView):
    """The call-backs to work: due and missed first, then by due time."""

    serializer_class = CallBackSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return CallBack.objects.none()
        return selectors.callback_queue_for(
            user=self.request.user, team_id=_int_param(self.request, "team")
        )

    def list(self, request: Request, *args, **kwargs) -> Response:
        response = super().list(request, *args, **kwargs)
        audit_record_many(
            actor=request.user,
            action="list",
            object_type="lead",
            object_ids=[row["lead"] for row in response.data["results"]],
        )
        return response


class CallBackCancelView(APIView):
    @extend_schema(request=CallBackCancelSerializer, responses=CallBackSerializer)
    def post(self, request: Request, pk: int) -> Response:
        """Take a call-back off the queue (a note says why)."""
        callback = get_object_or_404(
            CallBack.objects.select_related("lead"),
            pk=pk,
            lead__in=Lead.objects.visible_to(request.user),
        )
        serializer = CallBackCancelSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        callback = callback_cancel(
            callback=callback,
            by=request.user,
            note=serializer.validated_data.get("note", ""),
        )
        return Response(CallBackSerializer(callback).data, status=status.HTTP_200_OK)


class SpeedToLeadView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter(
                "since", str, description="ISO date-time; default 7 days ago"
            ),
            OpenApiParameter("until", str, description="ISO date-time; default now"),
            OpenApiParameter("team", int),
        ],
        responses=SpeedToLeadSerializer,
    )
    def get(self, request: Request) -> Response:
        """Time to first response (a call or text by a person) of the leads
        created in the period, overall and per counselor."""
        now = timezone.now()
        bounds = {}
        for name, default in (("since", now - timedelta(days=7)), ("until", now)):
            raw = request.query_params.get(name)
            value = parse_datetime(raw) if raw else default
            if value is None:
                raise ValidationError({name: ["Give an ISO date-time."]})
            if timezone.is_naive(value):
                value = timezone.make_aware(value)
            bounds[name] = value
        report = selectors.speed_to_lead(
            user=request.user, team_id=_int_param(request, "team"), **bounds
        )
        return Response(SpeedToLeadSerializer(report).data)
