from django.urls import path

from . import verification

urlpatterns = [
    path("leads/<int:pk>/vob/request/", verification.vob_request, name="vob-request"),
    path("vob/", verification.vob_queue, name="vob-queue"),
    path("vob/<int:vob_id>/", verification.vob_detail, name="vob-detail"),
    path("vob/<int:vob_id>/start/", verification.vob_start, name="vob-start"),
    path(
        "vob/<int:vob_id>/card/", verification.vob_card_upload, name="vob-card-upload"
    ),
    path(
        "vob/card-image/<int:image_id>/",
        verification.vob_card_image,
        name="vob-card-image",
    ),
    path(
        "vob/<int:vob_id>/authorizations/",
        verification.vob_authorization_add,
        name="vob-authorization-add",
    ),
    path(
        "vob/<int:vob_id>/eligibility/send/",
        verification.vob_eligibility_send,
        name="vob-eligibility-send",
    ),
    path(
        "vob/<int:vob_id>/eligibility/poll/",
        verification.vob_eligibility_poll,
        name="vob-eligibility-poll",
    ),
    path(
        "vob/<int:vob_id>/eligibility/response/",
        verification.vob_eligibility_response,
        name="vob-eligibility-response",
    ),
]
