"""The supervisor dashboard."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("tiles/", views.dashboard_tiles, name="dashboard-tiles"),
    path("export/<slug:table>.csv", views.dashboard_export, name="dashboard-export"),
]
