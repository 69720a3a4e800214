"""Beat tasks of telephony: each runs one service."""

from celery import shared_task

from . import services


@shared_task
def calls_close_stale() -> int:
    return services.calls_close_stale()
