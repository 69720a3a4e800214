"""The counselor's queue pages."""

from django.urls import path

from . import queue

urlpatterns = [
    path("", queue.queue, name="queue"),
    path("queue/sections/", queue.queue_sections, name="queue-sections"),
    path("team/", queue.team_queue, name="team-queue"),
    path("team/rows/", queue.team_queue_rows, name="team-queue-rows"),
    path("leads/<int:pk>/take/", queue.lead_take_view, name="lead-take"),
]
