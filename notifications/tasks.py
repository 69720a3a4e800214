"""Celery tasks of texting: each takes ids, calls one service, and retries."""

import logging

from celery import Task, shared_task
from django.db import transaction

from . import services

logger = logging.getLogger(__name__)


class OutboxTask(Task):
    """A task whose enqueue after commit may fail without failing the commit.

    The row is already stored when the broker is asked to run the task; if the
    broker is down, the sweeper enqueues the row later, so the request that wrote it
    must not turn into an error.
    """

    def delay_on_commit(self, *args, **kwargs) -> None:
        # A named function, not a partial: Django's robust on_commit logs a failed
        # callback by its __qualname__, which a partial does not have.
        def enqueue() -> None:
            self.delay(*args, **kwargs)

        transaction.on_commit(enqueue, robust=True)


@shared_task(base=OutboxTask, bind=True, acks_late=True, max_retries=None)
def send_message(self, message_id: int) -> str:
    outcome = services.message_send(message_id=message_id)
    if outcome.result == "retry" and outcome.retry_in is not None:
        # Backoff lives here; the sweeper picks the row up if this retry is lost.
        raise self.retry(countdown=outcome.retry_in)
    return outcome.result


@shared_task(base=OutboxTask, acks_late=True)
def process_inbound(message_id: int) -> None:
    services.inbound_message_process(message_id=message_id)


@shared_task(base=OutboxTask)
def outbox_sweep() -> dict:
    result = services.outbox_sweep()
    return {
        "released": result.released,
        "requeued": result.requeued,
        "unknown": result.unknown,
    }
