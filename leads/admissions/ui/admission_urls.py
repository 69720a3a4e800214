"""The admission card's actions and the program catalog."""

from django.urls import path

from . import admission

urlpatterns = [
    path("programs/", admission.programs, name="programs"),
    path(
        "leads/<int:pk>/admission/",
        admission.admission_schedule,
        name="admission-schedule",
    ),
    path(
        "leads/<int:pk>/admission/<int:admission_pk>/reschedule/",
        admission.admission_reschedule,
        name="admission-reschedule",
    ),
    path(
        "leads/<int:pk>/admission/<int:admission_pk>/admit/",
        admission.admission_admit,
        name="admission-admit",
    ),
    path(
        "leads/<int:pk>/admission/<int:admission_pk>/no-show/",
        admission.admission_no_show,
        name="admission-no-show",
    ),
    path(
        "leads/<int:pk>/admission/<int:admission_pk>/cancel/",
        admission.admission_cancel,
        name="admission-cancel",
    ),
]
