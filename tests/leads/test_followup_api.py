"""The follow-up API: call-backs, call outcomes, the queue, speed to lead."""

import io
import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.test import Client
from django.utils.dateparse import parse_datetime

from leads.models import CallBack, Lead, LeadSource, Stage
from leads.services.followup import callbacks_dispatch, lead_call_log
from tests.factories import make_lead

# A Monday afternoon in New York: inside calling hours everywhere in the US.
MONDAY_3PM_EASTERN = datetime(2026, 11, 30, 20, 0, tzinfo=UTC)


@pytest.fixture
def travel():
    with time_machine.travel(MONDAY_3PM_EASTERN, tick=False) as traveller:
        yield traveller


@pytest.fixture
def california_lead(travel, team_a, counselor):
    return make_lead(team=team_a, owner=counselor, state="CA", first_name="Rosa")


def test_callback_time_without_offset_is_the_leads_local_time(
    california_lead, counselor, client_for
):
    response = client_for(counselor).post(
        f"/api/v1/leads/{california_lead.pk}/callbacks/",
        {"due_at": "2026-12-01T14:30", "note": "After her shift"},
        format="json",
    )

    assert response.status_code == 201, response.data
    callback = CallBack.objects.get(pk=response.data["id"])
    # 14:30 in Los Angeles is 22:30 UTC in December.
    assert callback.due_at == datetime(2026, 12, 1, 22, 30, tzinfo=UTC)
    assert callback.status == CallBack.Status.PENDING
    assert callback.owner == counselor
    assert response.data["due_at_lead_local"].startswith("Tue Dec 1 14:30 PST")
    assert "(17:30 EST here)" in response.data["due_at_lead_local"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"due_at": "2026-11-29T09:00"}, "due_at"),  # yesterday
        ({"due_at": "next tuesday"}, "due_at"),
        ({"due_at": "2026-12-01T14:30", "colour": "red"}, "colour"),
    ],
)
def test_bad_callback_times_are_field_errors_and_store_nothing(
    california_lead, counselor, client_for, payload, field
):
    before = CallBack.objects.count()

    response = client_for(counselor).post(
        f"/api/v1/leads/{california_lead.pk}/callbacks/", payload, format="json"
    )

    assert response.status_code == 400
    assert field in response.data["errors"]
    assert CallBack.objects.count() == before


def test_no_answer_outcome_schedules_the_first_follow_up_in_five_minutes(
    california_lead, counselor, client_for
):
    response = client_for(counselor).post(
        f"/api/v1/leads/{california_lead.pk}/call-outcomes/",
        {"disposition": "no_answer", "note": "Rang out"},
        format="json",
    )

    assert response.status_code == 201, response.data
    assert response.data["stage"] == Stage.ATTEMPTING_CONTACT
    follow_up = response.data["next_callback"]
    assert follow_up["attempt"] == 1
    assert follow_up["leave_voicemail"] is True
    assert parse_datetime(follow_up["due_at"]) == MONDAY_3PM_EASTERN + timedelta(
        minutes=5
    )
    california_lead.refresh_from_db()
    assert california_lead.first_response_by == counselor


def test_call_back_later_needs_a_time(california_lead, counselor, client_for):
    response = client_for(counselor).post(
        f"/api/v1/leads/{california_lead.pk}/call-outcomes/",
        {"disposition": "call_back_later"},
        format="json",
    )

    assert response.status_code == 400
    assert "call_back_at" in response.data["errors"]


def test_unknown_disposition_is_a_field_error(california_lead, counselor, client_for):
    response = client_for(counselor).post(
        f"/api/v1/leads/{california_lead.pk}/call-outcomes/",
        {"disposition": "hung_up_angrily"},
        format="json",
    )

    assert response.status_code == 400
    assert "disposition" in response.data["errors"]


def test_my_queue_lists_due_call_backs_before_later_ones(
    travel, team_a, counselor, client_for
):
    later = make_lead(team=team_a, owner=counselor, state="NY", first_name="Later")
    due = make_lead(team=team_a, owner=counselor, state="NY", first_name="Due")
    client = client_for(counselor)
    client.post(
        f"/api/v1/leads/{later.pk}/callbacks/",
        {"due_at": "2026-12-02T10:00"},
        format="json",
    )
    lead_call_log(lead=due, by=counselor, disposition="no_answer")
    travel.shift(timedelta(minutes=6))
    callbacks_dispatch()

    response = client.get("/api/v1/me/callbacks/")

    assert response.status_code == 200
    names = [row["lead_name"] for row in response.data["results"]]
    assert names == ["Due Doe", "Later Doe"]
    assert response.data["results"][0]["status"] == CallBack.Status.DUE


def test_counselor_cannot_cancel_another_teams_call_back(
    travel, team_b, other_counselor, counselor, client_for
):
    foreign = make_lead(team=team_b, owner=other_counselor, state="NY")
    callback = CallBack.objects.create(
        lead=foreign,
        owner=other_counselor,
        due_at=MONDAY_3PM_EASTERN,
        reason="new_lead",
    )

    response = client_for(counselor).post(
        f"/api/v1/callbacks/{callback.pk}/cancel/", {}, format="json"
    )

    assert response.status_code == 404
    callback.refresh_from_db()
    assert callback.status == CallBack.Status.PENDING


def test_cancelled_call_back_leaves_the_queue(california_lead, counselor, client_for):
    client = client_for(counselor)
    created = client.post(
        f"/api/v1/leads/{california_lead.pk}/callbacks/",
        {"due_at": "2026-12-01T14:30"},
        format="json",
    ).data

    response = client.post(
        f"/api/v1/callbacks/{created['id']}/cancel/",
        {"note": "She called us first"},
        format="json",
    )
    again = client.post(f"/api/v1/callbacks/{created['id']}/cancel/", {}, format="json")

    assert response.status_code == 200
    assert response.data["status"] == CallBack.Status.CANCELLED
    assert again.status_code == 400
    queue = client.get("/api/v1/me/callbacks/").data["results"]
    assert created["id"] not in [row["id"] for row in queue]


def test_speed_to_lead_reports_per_counselor_medians(
    travel, team_a, counselor, teammate, supervisor, client_for
):
    fast = make_lead(team=team_a, owner=counselor, state="NY")
    slow = make_lead(team=team_a, owner=teammate, state="NY")
    make_lead(team=team_a, owner=teammate, state="NY")  # not answered yet
    travel.shift(timedelta(minutes=2))
    lead_call_log(lead=fast, by=counselor, disposition="reached")
    travel.shift(timedelta(minutes=10))
    lead_call_log(lead=slow, by=teammate, disposition="no_answer")

    response = client_for(supervisor).get(
        "/api/v1/reports/speed-to-lead/", {"since": "2026-11-30T00:00"}
    )

    assert response.status_code == 200
    report = response.data
    assert (report["leads"], report["responded"], report["waiting"]) == (3, 2, 1)
    assert report["within_5_minutes"] == 0.5
    rows = {row["counselor"]["username"]: row for row in report["by_counselor"]}
    assert rows["maya"]["median_seconds"] == 120
    assert rows["jordan"]["median_seconds"] == 720


def test_speed_to_lead_refuses_a_bad_date(supervisor, client_for):
    response = client_for(supervisor).get(
        "/api/v1/reports/speed-to-lead/", {"since": "last week"}
    )

    assert response.status_code == 400
    assert "since" in response.data["errors"]


def test_create_intake_source_prints_a_working_key_last(db, team_a, counselor):
    out = io.StringIO()
    call_command(
        "create_intake_source",
        "IOP landing page",
        "--kind",
        "web_form",
        "--team",
        team_a.slug,
        stdout=out,
    )
    key = out.getvalue().strip().splitlines()[-1]

    source = LeadSource.objects.get(slug="iop-landing-page")
    assert source.key_hash
    assert key not in source.key_hash
    response = Client(HTTP_HOST="127.0.0.1").post(
        "/api/v1/intake/",
        json.dumps({"first_name": "Ann", "phone": "(305) 555-0142"}),
        content_type="application/json",
        HTTP_X_INTAKE_KEY=key,
    )
    assert response.status_code == 201
    assert Lead.objects.get().team == team_a


def test_rotating_a_key_in_the_admin_retires_the_old_one(db, admin_user, team_a):
    from leads.services.sources import source_create

    source, old_key = source_create(name="Partner", kind="partner", team=team_a)
    browser = Client(HTTP_HOST="127.0.0.1")
    browser.force_login(admin_user)

    response = browser.post(
        "/admin/leads/leadsource/",
        {"action": "rotate_keys", "_selected_action": [source.pk]},
        follow=True,
    )

    shown = [str(m) for m in response.context["messages"]]
    new_key = shown[0].split(": ")[1].split(" ")[0]
    post = {"first_name": "Ann", "phone": "(305) 555-0142"}
    old = browser.post(
        "/api/v1/intake/",
        json.dumps(post),
        content_type="application/json",
        HTTP_X_INTAKE_KEY=old_key,
    )
    new = browser.post(
        "/api/v1/intake/",
        json.dumps(post),
        content_type="application/json",
        HTTP_X_INTAKE_KEY=new_key,
    )
    assert (old.status_code, new.status_code) == (401, 201)
