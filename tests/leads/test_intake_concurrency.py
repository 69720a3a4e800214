"""Intakes racing each other: one lead per person, fair turns, capacity held.

Only PostgreSQL runs these: SQLite serializes whole transactions, so there is no
race to lose there.
"""

import json
import threading
from collections import Counter
from collections.abc import Callable

import pytest
from django.db import connection
from django.test import Client

from crm.models import User
from leads.models import Activity, Channel, Lead, Touch
from leads.services.intake import lead_intake
from leads.services.sources import source_create
from notifications.models import Alert
from tests.factories import UserFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

URL = "/api/v1/intake/"


def run_at_once(count: int, work: Callable[[int], object]) -> list:
    """Run `work(i)` in `count` threads released together; return results in order."""
    barrier = threading.Barrier(count)
    results: list = [None] * count
    errors: list[Exception] = []

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = work(i)
        except Exception as exc:  # reported by the main thread below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    assert errors == []
    return results


@pytest.fixture
def key(team_a) -> str:
    _, key = source_create(name="IOP landing page", kind="web_form", team=team_a)
    return key


def post(key: str, payload: dict, **headers):
    return Client().post(
        URL,
        data=json.dumps(payload),
        content_type="application/json",
        headers={"X-Intake-Key": key, **headers},
    )


def counselors(team, count: int, **fields) -> list[User]:
    users = [UserFactory(username=f"c{n}", **fields) for n in range(count)]
    team.members.add(*users)
    return users


def test_eight_posts_of_one_phone_at_once_make_one_lead(key, team_a):
    team = counselors(team_a, 3)

    responses = run_at_once(
        8, lambda i: post(key, {"phone": "(305) 555-0142", "utm_content": f"ad-{i}"})
    )

    statuses = Counter(response.status_code for response in responses)
    assert statuses == {201: 1, 200: 7}
    lead = Lead.objects.get()
    assert {response.json()["id"] for response in responses} == {lead.pk}
    assert sum(response.json()["duplicate"] for response in responses) == 7
    assert lead.touches.count() == 8
    assert lead.inquiry_count == 8
    # Repeats go to the owner: only one counselor used a turn.
    assert [user.pk for user in team if _routed(user)] == [lead.owner_id]


def test_posts_of_one_email_at_once_make_one_lead(key, team_a):
    counselors(team_a, 2)

    responses = run_at_once(
        6, lambda i: post(key, {"email": "Casey@Example.org", "first_name": "Casey"})
    )

    assert Counter(response.status_code for response in responses) == {201: 1, 200: 5}
    assert Lead.objects.count() == 1
    assert Touch.objects.count() == 6


def test_one_idempotency_key_posted_at_once_is_taken_once(key, team_a):
    counselors(team_a, 1)
    payload = {"phone": "3055550142", "first_name": "Casey"}

    responses = run_at_once(
        6, lambda i: post(key, payload, **{"Idempotency-Key": "order-1"})
    )

    assert {response.status_code for response in responses} == {201}
    answers = [response.json() for response in responses]
    assert answers == [answers[0]] * 6
    assert answers[0]["duplicate"] is False
    replayed = [response.has_header("Idempotent-Replayed") for response in responses]
    assert replayed.count(True) == 5
    assert (Lead.objects.count(), Touch.objects.count()) == (1, 1)


def test_concurrent_new_leads_are_shared_out_in_turn(team_a):
    team = counselors(team_a, 3)

    run_at_once(12, lambda i: _intake(team_a, f"+1305555{i:04d}"))

    counts = Counter(Lead.objects.values_list("owner__username", flat=True))
    assert counts == {"c0": 4, "c1": 4, "c2": 4}
    # Assignments are written while the turn's locks are held, so their ids follow
    # the order of the turns: a strict rotation, whoever's intake started first.
    turns = [
        activity.data["owner"]
        for activity in Activity.objects.filter(kind=Activity.Kind.ASSIGNMENT).order_by(
            "id"
        )
    ]
    assert turns == [user.pk for user in team] * 4


def test_concurrent_new_leads_never_push_a_counselor_past_capacity(team_a, supervisor):
    counselors(team_a, 3, max_open_leads=2)

    results = run_at_once(10, lambda i: _intake(team_a, f"+1305555{i:04d}"))

    owners = Counter(result.lead.owner_id for result in results)
    assert owners.pop(None) == 4
    assert sorted(owners.values()) == [2, 2, 2]
    assert Lead.objects.filter(owner__isnull=True, team=team_a).count() == 4
    assert Alert.objects.filter(user=supervisor, kind="lead_waiting").count() == 4
    for user in User.objects.filter(role=User.Role.COUNSELOR):
        assert Lead.objects.open().filter(owner=user).count() <= user.max_open_leads


def _intake(team, phone: str):
    return lead_intake(
        channel=Channel.WEB_FORM,
        source=None,
        details={"phone": phone},
        team=team,
    )


def _routed(user: User) -> bool:
    user.refresh_from_db()
    return user.last_routed_at is not None
