"""The lead page, its actions and new leads by hand."""

from django.urls import path

from . import lead

urlpatterns = [
    path("leads/new/", lead.lead_new, name="lead-new"),
    path("leads/new/check/", lead.lead_new_check, name="lead-new-check"),
    path("leads/<int:pk>/", lead.lead_detail, name="lead-detail"),
    path("leads/<int:pk>/call/", lead.lead_call, name="lead-call"),
    path("leads/<int:pk>/text/", lead.lead_text, name="lead-text"),
    path("leads/<int:pk>/note/", lead.lead_note, name="lead-note"),
    path(
        "leads/<int:pk>/call-outcome/",
        lead.lead_call_outcome,
        name="lead-call-outcome",
    ),
    path("leads/<int:pk>/callbacks/", lead.lead_callback, name="lead-callback"),
    path(
        "leads/<int:pk>/callbacks/<int:callback_pk>/cancel/",
        lead.lead_callback_cancel,
        name="lead-callback-cancel",
    ),
    path("leads/<int:pk>/stage/", lead.lead_stage, name="lead-stage"),
    path("leads/<int:pk>/reassign/", lead.lead_reassign, name="lead-reassign"),
]
