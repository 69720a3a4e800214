"""The outbox and beat tasks with a real Celery worker on Redis: what reaches the
phone, and when.

A worker runs in this process (`celery.contrib.testing.worker.start_worker`, thread
pool), so it shares Django's settings, the test database and the in-memory SMS
backend. The rows it reads must be committed: these tests use a transactional
database on PostgreSQL, whose row locks the at-most-once hand-off relies on.

Every test gets its own queue, so tasks left in Redis by other test runs (or by
other tests of this session) never reach this worker, and nothing waits on a fixed
sleep: the database and the worker's finished tasks are polled with a deadline.
"""

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import pytest
import time_machine
from celery import signals
from celery.contrib.testing.worker import start_worker
from django.db import connection, connections
from django.test import Client
from django.utils import timezone
from kombu.exceptions import OperationalError

from crm.celery import app as celery_app
from leads.models import CallBack
from leads.services.sources import source_create
from leads.tasks import callbacks_dispatch
from notifications import services
from notifications.models import Alert, Message
from notifications.tasks import OutboxTask, outbox_sweep, send_message

from .conftest import WEEKDAY_NOON_NY

pytestmark = [
    pytest.mark.redis,
    pytest.mark.postgres,
    # The worker is another thread with its own connection: it sees only committed
    # rows, so the test's writes are committed, not rolled back.
    pytest.mark.django_db(transaction=True),
]

WORKER_THREADS = 4
DEADLINE_SECONDS = 10.0

T = TypeVar("T")


def wait_for(condition: Callable[[], T], *, what: str) -> T:
    """Poll `condition` until it returns something truthy, or fail at the deadline."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {DEADLINE_SECONDS:g} s: {what}")
        time.sleep(0.02)


@dataclass(frozen=True)
class FinishedTask:
    name: str
    args: tuple
    retval: Any
    state: str


@pytest.fixture
def finished_tasks() -> Iterator[list[FinishedTask]]:
    """Tasks the worker finished during the test, in order, with their results."""
    finished: list[FinishedTask] = []
    lock = threading.Lock()

    def record(task=None, args=None, retval=None, state=None, **kwargs) -> None:
        with lock:
            finished.append(FinishedTask(task.name, tuple(args or ()), retval, state))

    signals.task_postrun.connect(record, weak=False)
    yield finished
    signals.task_postrun.disconnect(record)


@pytest.fixture
def outbox_queue() -> Iterator[str]:
    """Route this test's tasks to a queue of its own, deleted afterwards."""
    name = f"test-outbox-worker-{uuid.uuid4().hex[:12]}"
    previous = celery_app.conf.task_default_queue
    celery_app.conf.task_default_queue = name
    yield name
    celery_app.conf.task_default_queue = previous
    with celery_app.connection_for_write() as conn:
        conn.default_channel.queue_delete(name)


@pytest.fixture
def keep_logging_as_it_is() -> Iterator[None]:
    """An embedded worker would take over the root logger for the whole session."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level

    def leave_logging_alone(**kwargs) -> None:
        pass  # a receiver here tells Celery that logging is configured already

    signals.setup_logging.connect(leave_logging_alone, weak=False)
    yield
    signals.setup_logging.disconnect(leave_logging_alone)
    logging.captureWarnings(False)
    root.handlers[:], root.level = handlers, level


@pytest.fixture
def worker(outbox_queue, finished_tasks, keep_logging_as_it_is):
    """A Celery worker on Redis, in this process, with a pool of threads."""

    def close_thread_connections(**kwargs) -> None:
        # The worker keeps connections between tasks (CELERY_DB_REUSE_MAX); its
        # threads would still hold the test database when pytest drops it.
        connections.close_all()

    signals.task_postrun.connect(close_thread_connections, weak=False)
    try:
        with start_worker(
            celery_app,
            pool="threads",
            concurrency=WORKER_THREADS,
            queues=[outbox_queue],
            perform_ping_check=False,
            loglevel="WARNING",
            shutdown_timeout=DEADLINE_SECONDS,
        ) as running:
            yield running
    finally:
        signals.task_postrun.disconnect(close_thread_connections)


@contextmanager
def tasks_lost() -> Iterator[None]:
    """Inside, a text's task vanishes on its way to the broker (the row is kept)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(OutboxTask, "delay_on_commit", lambda self, *a, **k: None)
        yield


def handed_off(message: Message) -> Message | None:
    message.refresh_from_db()
    return message if message.handed_off_at else None


def sends_of(message_id: int, finished: list[FinishedTask]) -> list[FinishedTask]:
    return [
        task
        for task in finished
        if task.name == send_message.name and task.args == (message_id,)
    ]


def text_lead(lead, counselor, body: str) -> Message:
    """A counselor texts the lead; the request's transaction commits on return."""
    return services.message_send_manual(
        lead=lead, body=body, by=counselor, override_quiet_hours=True
    )


# --- Hand-off ----------------------------------------------------------------------


def test_a_committed_text_is_handed_over_by_the_worker_within_seconds(
    worker, lead, counselor, sent
):
    # Given a running worker, when a counselor texts a lead
    queued_at = time.monotonic()
    message = text_lead(lead, counselor, "Hi Casey, it's Maya from admissions.")
    assert message.status == Message.Status.PENDING

    # Then the worker hands it to the provider within seconds, exactly once
    wait_for(lambda: handed_off(message), what="the text to be handed off")
    took = time.monotonic() - queued_at
    assert took < 5, f"hand-off took {took:.1f} s"
    assert [sms.body.splitlines()[0] for sms in sent] == [
        "Hi Casey, it's Maya from admissions."
    ]
    assert sent[0].to == "+12125550142"
    assert message.status == Message.Status.QUEUED
    assert message.twilio_sid == sent[0].sid
    assert message.attempts == 1


# --- At most once ------------------------------------------------------------------


def test_a_text_whose_task_is_enqueued_four_times_is_sent_once(
    worker, finished_tasks, lead, counselor, sent
):
    # Given a text whose task reached the broker once after commit...
    message = text_lead(lead, counselor, "Your assessment is at 3 pm.")
    # ...and three more times (a retried publish, the sweeper, a redelivery)
    for _ in range(3):
        send_message.delay(message.pk)

    # When the worker's threads run the four copies side by side
    runs = wait_for(
        lambda: (
            len(sends_of(message.pk, finished_tasks)) == 4
            and sends_of(message.pk, finished_tasks)
        ),
        what="the four copies of the task to finish",
    )

    # Then the person gets one text
    outcomes = sorted(str(run.retval) for run in runs)
    assert outcomes == ["sent", "skipped", "skipped", "skipped"]
    assert len(sent) == 1
    message.refresh_from_db()
    assert message.attempts == 1
    assert message.twilio_sid == sent[0].sid


def test_concurrent_hand_offs_of_one_text_send_it_once(lead, counselor, sent):
    # Given a pending text (its own task not run yet)
    with tasks_lost():
        message = text_lead(lead, counselor, "Call us back when you can.")
    start = threading.Barrier(WORKER_THREADS)

    def hand_off(_: int) -> str:
        try:
            start.wait(timeout=DEADLINE_SECONDS)
            return services.message_send(message_id=message.pk).result
        finally:
            connection.close()

    # When four workers try to hand it over at the same instant
    with ThreadPoolExecutor(WORKER_THREADS) as pool:
        results = list(pool.map(hand_off, range(WORKER_THREADS)))

    # Then the row lock lets one through and the others see it taken
    assert sorted(results) == ["sent"] + ["skipped"] * (WORKER_THREADS - 1)
    assert len(sent) == 1
    message.refresh_from_db()
    assert message.status == Message.Status.QUEUED
    assert message.attempts == 1


# --- Lost tasks and broker outages -------------------------------------------------


def test_a_text_whose_task_was_lost_is_sent_by_the_sweeper(
    worker, finished_tasks, lead, counselor, sent, settings
):
    # Given a text stored, but whose task never reached the broker
    with tasks_lost():
        message = text_lead(lead, counselor, "Checking in about tomorrow.")
    message.refresh_from_db()
    assert message.status == Message.Status.PENDING
    assert sent == []

    # When the periodic sweep runs once the re-queue delay has passed
    settings.SMS_REQUEUE_AFTER_SECONDS = 0
    outbox_sweep.delay()

    # Then the sweeper enqueues it again and the worker sends it, once
    wait_for(lambda: handed_off(message), what="the swept text to be handed off")
    sweeps = [task for task in finished_tasks if task.name == outbox_sweep.name]
    assert sweeps[0].retval == {"released": 0, "requeued": 1, "unknown": 0}
    assert len(sent) == 1
    assert sent[0].body.startswith("Checking in about tomorrow.")
    assert message.attempts == 1


def test_a_broker_outage_does_not_fail_the_request_and_the_sweeper_sends_later(
    worker, lead, counselor, client_for, sent, settings, monkeypatch
):
    # Given Redis refuses connections when the text's task is published
    def broker_down(self, *args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Refused.")

    with monkeypatch.context() as patch:
        patch.setattr(OutboxTask, "apply_async", broker_down)
        # When a counselor texts the lead through the API
        response = client_for(counselor).post(
            f"/api/v1/leads/{lead.pk}/messages/",
            {"body": "We have a bed for you today.", "override_quiet_hours": True},
            format="json",
        )

    # Then the request succeeds and the text waits in the outbox
    assert response.status_code == 201, response.data
    message = Message.objects.get(pk=response.data["id"])
    assert message.status == Message.Status.PENDING
    assert sent == []

    # And once the broker is back, the sweeper sends it
    settings.SMS_REQUEUE_AFTER_SECONDS = 0
    outbox_sweep.delay()
    wait_for(lambda: handed_off(message), what="the text to be sent after the outage")
    assert len(sent) == 1
    assert message.status == Message.Status.QUEUED
    assert message.attempts == 1


# --- Speed to lead, end to end -------------------------------------------------------


def test_a_web_form_post_gets_its_auto_reply_through_the_worker(
    worker, team_a, counselor, sent
):
    _, key = source_create(name="IOP page", kind="web_form", team=team_a)
    with time_machine.travel(WEEKDAY_NOON_NY, tick=True):
        # Given a counselor on duty, when a person asks for a call on a treatment
        # page and agrees to texts
        posted_at = time.monotonic()
        response = Client(HTTP_HOST="127.0.0.1").post(
            "/api/v1/intake/",
            json.dumps(
                {
                    "first_name": "Ann",
                    "phone": "(212) 555-0177",
                    "state": "NY",
                    "sms_consent": True,
                    "consent_text": "I agree to calls and texts about my inquiry.",
                }
            ),
            content_type="application/json",
            HTTP_X_INTAKE_KEY=key,
        )
        assert response.status_code == 201, response.content

        # Then the thank-you text naming her counselor reaches the provider within
        # seconds, once
        wait_for(lambda: sent, what="the auto-reply to be handed off")
    took = time.monotonic() - posted_at
    assert took < 5, f"post to hand-off took {took:.1f} s"
    assert len(sent) == 1
    assert sent[0].to == "+12125550177"
    assert sent[0].body.startswith("Hi Ann, this is Maya with")


def test_the_beat_task_makes_call_backs_due_and_alerts_their_owner(
    worker, finished_tasks, lead, counselor
):
    # Given a call-back whose time came a minute ago
    callback = CallBack.objects.create(
        lead=lead,
        owner=counselor,
        due_at=timezone.now() - timedelta(minutes=1),
        reason=CallBack.Reason.SCHEDULED,
    )

    # When beat's task runs on the worker, twice (beat and a redelivery)
    callbacks_dispatch.delay()
    callbacks_dispatch.delay()

    # Then the call-back is due at the top of the owner's queue, alerted once
    wait_for(
        lambda: (
            len([t for t in finished_tasks if t.name == callbacks_dispatch.name]) == 2
        ),
        what="both dispatch runs to finish",
    )
    callback.refresh_from_db()
    assert callback.status == CallBack.Status.DUE
    assert Alert.objects.filter(user=counselor, kind="callback_due").count() == 1
