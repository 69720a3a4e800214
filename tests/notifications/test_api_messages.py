"""Texting a lead, its conversation and consent, and your alerts, through the API."""

import datetime

import pytest
import time_machine

from notifications.models import Alert, ConsentEvent, Message

from ..factories import make_lead
from .conftest import NEW_YORK, WEEKDAY_NOON_NY


@pytest.fixture(autouse=True)
def _noon_in_new_york():
    with time_machine.travel(WEEKDAY_NOON_NY, tick=True):
        yield


def messages_url(lead) -> str:
    return f"/api/v1/leads/{lead.pk}/messages/"


def test_a_counselor_texts_a_lead_and_sees_the_conversation(
    lead, counselor, client_for, sent
):
    client = client_for(counselor)

    created = client.post(messages_url(lead), {"body": "Hi Casey"}, format="json")

    assert created.status_code == 201
    assert created.data["status"] == "pending"
    assert created.data["sent_by"]["username"] == counselor.username
    conversation = client.get(messages_url(lead)).data
    assert conversation["consent"]["consented"] is True
    assert [m["body"][:8] for m in conversation["messages"]] == ["Hi Casey"]
    timeline = client.get(f"/api/v1/leads/{lead.pk}/timeline/").data["results"]
    sms_line = next(row for row in timeline if "message" in row)
    assert sms_line["message"]["status"] == "pending"


def test_a_blocked_text_is_a_409_with_the_reason_and_is_recorded(
    team_a, counselor, client_for, sent
):
    lead = make_lead(team=team_a, owner=counselor, state="NY", phone="+12125550100")

    response = client_for(counselor).post(
        messages_url(lead), {"body": "Hi"}, format="json"
    )

    assert response.status_code == 409
    assert response.data["reason"] == "no_consent"
    assert "consent" in response.data["detail"]
    assert Message.objects.get().status == Message.Status.BLOCKED
    assert sent == []


def test_quiet_hours_need_the_override_flag(team_a, counselor, client_for):
    lead = make_lead(team=team_a, owner=counselor, state="CA", phone="+13105550100")
    ConsentEvent.objects.create(
        phone=str(lead.phone), kind="opt_in", source="counselor", text="verbal"
    )
    client = client_for(counselor)

    with time_machine.travel(datetime.datetime(2026, 12, 1, 9, 0, tzinfo=NEW_YORK)):
        refused = client.post(messages_url(lead), {"body": "Hi"}, format="json")
        forced = client.post(
            messages_url(lead),
            {"body": "Hi", "override_quiet_hours": True},
            format="json",
        )

    assert refused.status_code == 409
    assert refused.data["reason"] == "quiet_hours"
    assert forced.status_code == 201
    assert forced.data["quiet_hours_override"] is True


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"body": ""}, "body"),
        ({"body": "   "}, "body"),
        ({"body": "x" * 1601}, "body"),
        ({}, "body"),
        ({"body": "Hi", "to": "+15555550100"}, "to"),
        ({"body": ["a", "b"]}, "body"),
    ],
)
def test_bad_texts_are_400_with_field_errors_and_write_nothing(
    lead, counselor, client_for, payload, field
):
    response = client_for(counselor).post(messages_url(lead), payload, format="json")

    assert response.status_code == 400
    assert field in response.data["errors"]
    assert not Message.objects.exists()


def test_another_teams_lead_cannot_be_texted(
    team_b, other_counselor, counselor, client_for
):
    foreign = make_lead(team=team_b, owner=other_counselor, phone="+12125550199")

    response = client_for(counselor).post(
        messages_url(foreign), {"body": "Hi"}, format="json"
    )

    assert response.status_code == 404
    assert not Message.objects.exists()


def test_a_counselor_records_verbal_consent_with_a_note(team_a, counselor, client_for):
    lead = make_lead(team=team_a, owner=counselor, phone="+12125550100")
    url = f"/api/v1/leads/{lead.pk}/sms-consent/"
    client = client_for(counselor)

    missing_note = client.post(url, {"kind": "opt_in"}, format="json")
    recorded = client.post(
        url, {"kind": "opt_in", "note": "Agreed on the call at 11:58"}, format="json"
    )

    assert missing_note.status_code == 400
    assert "note" in missing_note.data["errors"]
    assert recorded.status_code == 201
    assert recorded.data["source"] == "counselor"
    assert recorded.data["recorded_by"]["username"] == counselor.username
    assert [e["kind"] for e in client.get(url).data] == ["opt_in"]


def test_alerts_list_read_and_preferences(counselor, client_for, lead):
    Alert.objects.create(user=counselor, kind="lead_replied", lead=lead, text="Hi")
    client = client_for(counselor)

    unread = client.get("/api/v1/me/alerts/", {"unread": "true"}).data
    marked = client.post("/api/v1/me/alerts/read/", {}, format="json").data
    after = client.get("/api/v1/me/alerts/", {"unread": "true"}).data

    # The lead's assignment to the counselor alerted them too.
    assert unread["count"] == 2
    assert {a["kind"] for a in unread["results"]} == {"lead_replied", "lead_assigned"}
    assert marked == {"marked_read": 2}
    assert after["count"] == 0

    no_phone = client.put(
        "/api/v1/me/alert-preferences/",
        [{"kind": "sla_breach", "by_sms": True, "in_app": True}],
        format="json",
    )
    assert no_phone.status_code == 400
    assert "by_sms" in no_phone.data["errors"]
    counselor.phone = "+16465550199"
    counselor.save()
    saved = client.put(
        "/api/v1/me/alert-preferences/",
        [{"kind": "sla_breach", "by_sms": True, "in_app": False}],
        format="json",
    )
    assert saved.status_code == 200
    sla = next(p for p in saved.data if p["kind"] == "sla_breach")
    assert sla == {"kind": "sla_breach", "by_sms": True, "in_app": False}
