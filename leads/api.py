"""The lead API: thin views that parse, call a service or selector, and render."""

import dataclasses

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.filters import OrderingFilter
from rest_framework.request import Request
from rest_framework.response import Response

from crm.services import audit_lead_view, audit_record_many
from notifications import selectors as sms_selectors
from notifications import services as sms_services
from notifications.models import Message
from notifications.serializers import (
    ConsentCreateSerializer,
    ConsentEventSerializer,
    ConversationSerializer,
    MessageBlockedSerializer,
    MessageCreateSerializer,
    MessageSerializer,
)
from telephony import selectors as voice_selectors
from telephony import services as voice_services
from telephony.serializers import (
    CallBlockedSerializer,
    CallSerializer,
    ClickToCallSerializer,
)

from . import selectors, services
from .filters import LeadFilter
from .followup_serializers import (
    CallBackCreateSerializer,
    CallBackSerializer,
    CallOutcomeResultSerializer,
    CallOutcomeSerializer,
)
from .models import ATTRIBUTION_FIELDS, Lead
from .serializers import (
    ActivitySerializer,
    LeadCreateSerializer,
    LeadDetailSerializer,
    LeadListSerializer,
    LeadWriteSerializer,
    NoteCreateSerializer,
    TransitionSerializer,
)
from .services import followup
from .timeline import call_details, message_details, timeline_rows


class LeadViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Leads of the teams you work in. Every read and change is audited."""

    filterset_class = LeadFilter
    filter_backends = [
        *viewsets.GenericViewSet.filter_backends,
        OrderingFilter,
    ]
    ordering_fields = ["created_at", "last_activity_at", "priority", "stage_changed_at"]
    ordering = ["-created_at", "-id"]
    serializer_class = LeadDetailSerializer
    # Digits only, and few enough to fit a bigint: anything else is a 404, not a 500.
    lookup_value_regex = r"[0-9]{1,18}"

    def get_queryset(self):
        if self.action == "list":
            return selectors.lead_list_for(self.request.user)
        return selectors.leads_visible_to(self.request.user)

    def get_object(self) -> Lead:
        return selectors.lead_get_for(
            user=self.request.user, lead_id=int(self.kwargs["pk"])
        )

    def _render(self, request: Request, lead: Lead, code: int = 200) -> Response:
        # Re-read through the visibility selector: the answer shows only what the
        # caller may see, with the relations the detail shape needs.
        lead = selectors.lead_get_for(user=request.user, lead_id=lead.pk)
        return Response(LeadDetailSerializer(lead).data, status=code)

    def get_serializer_class(self):
        return {
            "list": LeadListSerializer,
            "create": LeadCreateSerializer,
            "update": LeadWriteSerializer,
            "partial_update": LeadWriteSerializer,
            "timeline": ActivitySerializer,
            "transition": TransitionSerializer,
        }.get(self.action, LeadDetailSerializer)

    def list(self, request: Request, *args, **kwargs) -> Response:
        response = super().list(request, *args, **kwargs)
        audit_record_many(
            actor=request.user,
            action="list",
            object_type="lead",
            object_ids=[row["id"] for row in response.data["results"]],
        )
        return response

    def retrieve(self, request: Request, *args, **kwargs) -> Response:
        lead = self.get_object()
        audit_lead_view(actor=request.user, lead_id=lead.pk)
        return Response(LeadDetailSerializer(lead).data)

    @extend_schema(request=LeadCreateSerializer, responses={201: LeadDetailSerializer})
    def create(self, request: Request) -> Response:
        serializer = LeadCreateSerializer(
            data=request.data, context={"request": request}
        )
        serializer.is_valid(raise_exception=True)
        details = dict(serializer.validated_data)
        attribution = {
            name: details.pop(name) for name in ATTRIBUTION_FIELDS if name in details
        }
        result = services.lead_enter_manually(
            by=request.user,
            team=details.pop("team", None),
            owner=details.pop("owner", None),
            message=details.pop("message", ""),
            attribution=attribution,
            **details,
        )
        if result.duplicate:
            # The inquiry went onto the lead that already holds this phone or
            # e-mail; say so, and show that lead.
            response = self._render(request, result.lead, status.HTTP_200_OK)
            response.data["duplicate"] = True
            return response
        return self._render(request, result.lead, status.HTTP_201_CREATED)

    @extend_schema(request=LeadWriteSerializer, responses=LeadDetailSerializer)
    def update(self, request: Request, pk: str, partial: bool = False) -> Response:
        lead = self.get_object()
        serializer = LeadWriteSerializer(
            lead, data=request.data, partial=partial, context={"request": request}
        )
        serializer.is_valid(raise_exception=True)
        lead = services.lead_edit(
            lead=lead, by=request.user, data=serializer.validated_data
        )
        return self._render(request, lead)

    @extend_schema(request=LeadWriteSerializer, responses=LeadDetailSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        return self.update(request, pk, partial=True)

    @extend_schema(
        request=TransitionSerializer,
        responses={
            200: LeadDetailSerializer,
            400: OpenApiResponse(
                description="The move is not allowed, or a reason is missing."
            ),
        },
    )
    @action(detail=True, methods=["post"])
    def transition(self, request: Request, pk: str) -> Response:
        """Move the lead to another stage: allowed moves only; lost needs a reason."""
        lead = self.get_object()
        serializer = TransitionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        lead = services.lead_transition(
            lead=lead, by=request.user, **serializer.validated_data
        )
        return self._render(request, lead)

    @extend_schema(
        methods=["get"], responses=ActivitySerializer(many=True), request=None
    )
    @extend_schema(
        methods=["post"],
        request=NoteCreateSerializer,
        responses={201: ActivitySerializer},
    )
    @action(detail=True, methods=["get", "post"])
    def notes(self, request: Request, pk: str) -> Response:
        """The counselors' notes on the lead; POST adds one."""
        lead = self.get_object()
        if request.method == "POST":
            serializer = NoteCreateSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            note = services.lead_add_note(
                lead=lead, by=request.user, body=serializer.validated_data["body"]
            )
            return Response(
                ActivitySerializer(note).data, status=status.HTTP_201_CREATED
            )
        audit_lead_view(actor=request.user, lead_id=lead.pk, detail="notes")
        page = self.paginate_queryset(selectors.lead_notes(lead=lead))
        return self.get_paginated_response(ActivitySerializer(page, many=True).data)

    @extend_schema(responses=ActivitySerializer(many=True))
    @action(detail=True, methods=["get"])
    def timeline(self, request: Request, pk: str) -> Response:
        """Everything that happened on the lead, newest first."""
        lead = self.get_object()
        audit_lead_view(actor=request.user, lead_id=lead.pk, detail="timeline")
        page = self.paginate_queryset(selectors.lead_timeline(lead=lead))
        rows = ActivitySerializer(page, many=True).data
        for data, row in zip(rows, timeline_rows(page), strict=True):
            if row.message is not None:
                data["message"] = message_details(row.message)
            if row.call is not None:
                data["call"] = call_details(row.call)
        return self.get_paginated_response(rows)

    @extend_schema(methods=["get"], request=None, responses=ConversationSerializer)
    @extend_schema(
        methods=["post"],
        request=MessageCreateSerializer,
        responses={
            201: MessageSerializer,
            400: OpenApiResponse(description="The text is empty or too long."),
            409: MessageBlockedSerializer,
        },
    )
    @action(detail=True, methods=["get", "post"])
    def messages(self, request: Request, pk: str) -> Response:
        """The text conversation with the lead; POST texts the lead.

        A text that may not go out (no consent, opted out, quiet hours without an
        override) is answered 409 with the reason, and recorded.
        """
        lead = self.get_object()
        if request.method == "POST":
            serializer = MessageCreateSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            message = sms_services.message_send_manual(
                lead=lead, by=request.user, **serializer.validated_data
            )
            if message.status == Message.Status.BLOCKED:
                return Response(
                    {
                        "reason": message.blocked_reason,
                        "detail": message.error_message,
                        "message": MessageSerializer(message).data,
                    },
                    status=status.HTTP_409_CONFLICT,
                )
            return Response(
                MessageSerializer(message).data, status=status.HTTP_201_CREATED
            )
        audit_lead_view(actor=request.user, lead_id=lead.pk, detail="messages")
        phone = str(lead.phone or "")
        consent = sms_selectors.consent_state_for(phone)
        conversation = {
            "consent": {"phone": phone, **dataclasses.asdict(consent)},
            "messages": sms_selectors.conversation_for(lead),
        }
        return Response(ConversationSerializer(conversation).data)

    @extend_schema(
        methods=["get"], request=None, responses=ConsentEventSerializer(many=True)
    )
    @extend_schema(
        methods=["post"],
        request=ConsentCreateSerializer,
        responses={201: ConsentEventSerializer},
    )
    @action(detail=True, methods=["get", "post"], url_path="sms-consent")
    def sms_consent(self, request: Request, pk: str) -> Response:
        """The consent ledger of the lead's number; POST records consent given or
        withdrawn on a call (consent needs a note saying how it was given)."""
        lead = self.get_object()
        if request.method == "POST":
            serializer = ConsentCreateSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            event = sms_services.consent_record_by_staff(
                lead=lead,
                by=request.user,
                kind=serializer.validated_data["kind"],
                note=serializer.validated_data.get("note", ""),
            )
            return Response(
                ConsentEventSerializer(event).data, status=status.HTTP_201_CREATED
            )
        audit_lead_view(actor=request.user, lead_id=lead.pk, detail="sms-consent")
        events = sms_selectors.consent_history_for(str(lead.phone or ""))
        return Response(ConsentEventSerializer(events, many=True).data)

    @extend_schema(
        methods=["get"], request=None, responses=CallBackSerializer(many=True)
    )
    @extend_schema(
        methods=["post"],
        request=CallBackCreateSerializer,
        responses={201: CallBackSerializer},
    )
    @action(detail=True, methods=["get", "post"])
    def callbacks(self, request: Request, pk: str) -> Response:
        """The lead's call-backs, newest first; POST promises a call at a time
        (a time without an offset is the lead's own local time)."""
        lead = self.get_object()
        if request.method == "POST":
            serializer = CallBackCreateSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            callback = followup.callback_schedule(
                lead=lead, by=request.user, **serializer.validated_data
            )
            return Response(
                CallBackSerializer(callback).data, status=status.HTTP_201_CREATED
            )
        audit_lead_view(actor=request.user, lead_id=lead.pk, detail="callbacks")
        page = self.paginate_queryset(selectors.callbacks_for_lead(lead=lead))
        return self.get_paginated_response(CallBackSerializer(page, many=True).data)

    @extend_schema(
        request=CallOutcomeSerializer, responses={201: CallOutcomeResultSerializer}
    )
    @action(detail=True, methods=["post"], url_path="call-outcomes")
    def call_outcomes(self, request: Request, pk: str) -> Response:
        """Log how a call went: no answer schedules the next follow-up attempt,
        reached stops the follow-ups, call back later schedules the call."""
        lead = self.get_object()
        serializer = CallOutcomeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        call = data.pop("call", None)
        if call is None:
            logged = followup.lead_call_log(lead=lead, by=request.user, **data)
        else:
            logged = voice_services.call_set_disposition(
                call=call, lead=lead, by=request.user, **data
            )
        return Response(
            CallOutcomeResultSerializer(logged).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(request=None, responses=CallSerializer(many=True))
    @action(detail=True, methods=["get"])
    def calls(self, request: Request, pk: str) -> Response:
        """The lead's calls, newest first, with recordings and voicemails."""
        lead = self.get_object()
        audit_lead_view(actor=request.user, lead_id=lead.pk, detail="calls")
        page = self.paginate_queryset(voice_selectors.calls_for_lead(lead))
        return self.get_paginated_response(CallSerializer(page, many=True).data)

    @extend_schema(
        request=ClickToCallSerializer,
        responses={
            201: CallSerializer,
            400: OpenApiResponse(description="You or the lead have no phone number."),
            409: CallBlockedSerializer,
            502: CallBlockedSerializer,
        },
    )
    @action(detail=True, methods=["post"])
    def call(self, request: Request, pk: str) -> Response:
        """Click-to-call: your phone rings first, then you are connected to the
        lead with the center's caller ID. Refused (409, and recorded) for a number
        on the do-not-call list, or outside the lead's calling hours unless
        `override_quiet_hours` is set (logged)."""
        lead = self.get_object()
        serializer = ClickToCallSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            call = voice_services.call_click_to_call(
                lead=lead, by=request.user, **serializer.validated_data
            )
        except voice_services.CallRefused as refused:
            code = (
                status.HTTP_502_BAD_GATEWAY
                if refused.reason == "provider_error"
                else status.HTTP_409_CONFLICT
            )
            return Response(
                {
                    "reason": refused.reason,
                    "detail": refused.detail,
                    "call": CallSerializer(refused.call).data,
                },
                status=code,
            )
        return Response(CallSerializer(call).data, status=status.HTTP_201_CREATED)
