from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from leads import followup_api, intake_api
from leads import views as lead_views
from leads.api import LeadViewSet
from notifications import webhooks as sms_webhooks
from notifications.api import AlertPreferencesView, AlertsReadView, AlertsView
from telephony import webhooks as voice_webhooks

from .api.auth import TokenView
from .api.me import MeView
from .views import (
    SignInView,
    SignOutView,
    healthz,
    presence_set,
    session_keepalive,
)

router = DefaultRouter()
# "api-lead-*": the workspace pages own the "lead-detail", "lead-call"... names.
router.register("leads", LeadViewSet, basename="api-lead")

api_v1 = [
    path("intake/", intake_api.intake, name="api-intake"),
    path(
        "intake/gravity-forms/<slug:slug>/",
        lead_views.gravity_forms_intake,
        name="api-intake-gravity-forms",
    ),
    path("auth/token/", TokenView.as_view(), name="api-token"),
    path("me/", MeView.as_view(), name="api-me"),
    path("me/alerts/", AlertsView.as_view(), name="api-alerts"),
    path(
        "me/callbacks/", followup_api.MyCallBacksView.as_view(), name="api-my-callbacks"
    ),
    path(
        "callbacks/<int:pk>/cancel/",
        followup_api.CallBackCancelView.as_view(),
        name="api-callback-cancel",
    ),
    path(
        "reports/speed-to-lead/",
        followup_api.SpeedToLeadView.as_view(),
        name="api-speed-to-lead",
    ),
    path("me/alerts/read/", AlertsReadView.as_view(), name="api-alerts-read"),
    path(
        "me/alert-preferences/",
        AlertPreferencesView.as_view(),
        name="api-alert-preferences",
    ),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path(
        "docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"
    ),
    path("", include(router.urls)),
]

admin.site.site_header = "Admissions CRM"
admin.site.site_title = "Admissions CRM"
admin.site.index_title = "Call center administration"

urlpatterns = [
    path("login/", SignInView.as_view(), name="login"),
    path("logout/", SignOutView.as_view(), name="logout"),
    path("me/presence/", presence_set, name="presence-set"),
    path("me/keepalive/", session_keepalive, name="session-keepalive"),
    path("", include("leads.ui.queue_urls")),
    path("", include("leads.ui.lead_urls")),
    path("", include("leads.admissions.ui.prescreen_urls")),
    path("", include("leads.admissions.ui.verification_urls")),
    path("", include("leads.admissions.ui.admission_urls")),
    path("", include("leads.admissions.ui.part2_urls")),
    path("dashboard/", include("crm.dashboard.urls")),
    path("healthz/", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api-auth/", include("rest_framework.urls")),
    path("twilio/sms/incoming/", sms_webhooks.sms_incoming, name="twilio-sms-incoming"),
    path("twilio/sms/status/", sms_webhooks.sms_status, name="twilio-sms-status"),
    path(
        "twilio/voice/incoming/",
        voice_webhooks.voice_incoming,
        name="twilio-voice-incoming",
    ),
    path(
        "twilio/voice/dial-result/",
        voice_webhooks.voice_dial_result,
        name="twilio-voice-dial-result",
    ),
    path(
        "twilio/voice/status/", voice_webhooks.voice_status, name="twilio-voice-status"
    ),
    path(
        "twilio/voice/recording/",
        voice_webhooks.voice_recording,
        name="twilio-voice-recording",
    ),
    path(
        "twilio/voice/whisper/",
        voice_webhooks.voice_whisper,
        name="twilio-voice-whisper",
    ),
    path(
        "twilio/voice/outbound/",
        voice_webhooks.voice_outbound,
        name="twilio-voice-outbound",
    ),
    path(
        "request-a-call/<slug:slug>/",
        lead_views.request_a_call,
        name="request-a-call",
    ),
    path(
        "request-a-call/<slug:slug>/thanks/",
        lead_views.request_a_call_thanks,
        name="request-a-call-thanks",
    ),
    path(
        "embed/<slug:slug>.js",
        lead_views.request_a_call_embed,
        name="request-a-call-embed",
    ),
]
