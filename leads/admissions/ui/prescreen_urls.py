"""The pre-screen form and its older versions, under the lead."""

from django.urls import path

from . import prescreen

urlpatterns = [
    path("leads/<int:pk>/prescreen/", prescreen.prescreen_edit, name="prescreen-edit"),
    path(
        "leads/<int:pk>/prescreen/v<int:version>/",
        prescreen.prescreen_version,
        name="prescreen-version",
    ),
]
