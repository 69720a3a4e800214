"""Moving a lead through the pipeline and writing notes, through the API."""

import pytest

from leads.models import Activity, Lead, LostReason, Stage, StageChange

from ..factories import make_lead


@pytest.fixture
def lead(team_a, counselor):
    return make_lead(team=team_a, owner=counselor)


@pytest.fixture
def client(counselor, client_for):
    return client_for(counselor)


def transition(client, lead: Lead, **payload):
    return client.post(f"/api/v1/leads/{lead.pk}/transition/", payload, format="json")


def test_allowed_move_answers_the_new_stage_and_what_may_follow(client, lead):
    response = transition(client, lead, to="attempting_contact", note="Left a VM")

    assert response.status_code == 200, response.data
    assert response.data["stage"] == "attempting_contact"
    assert response.data["allowed_next_stages"] == [
        "contacted",
        "lost",
        "referred_out",
    ]
    lead.refresh_from_db()
    assert lead.stage == Stage.ATTEMPTING_CONTACT
    assert lead.first_response_at is not None
    assert lead.stage_changes.last().to_stage == Stage.ATTEMPTING_CONTACT


def test_skipping_ahead_is_refused_on_the_to_field(client, lead):
    response = transition(client, lead, to="admitted")

    assert response.status_code == 400
    assert "to" in response.data["errors"]
    lead.refresh_from_db()
    assert lead.stage == Stage.NEW
    assert lead.stage_changes.count() == 1


def test_unknown_stage_is_refused_on_the_to_field(client, lead):
    response = transition(client, lead, to="teleported")

    assert response.status_code == 400
    assert "to" in response.data["errors"]
    lead.refresh_from_db()
    assert lead.stage == Stage.NEW


def test_closing_as_lost_needs_a_reason(client, lead):
    response = transition(client, lead, to="lost")

    assert response.status_code == 400
    assert "reason" in response.data["errors"]
    lead.refresh_from_db()
    assert lead.stage == Stage.NEW
    assert lead.lost_reason == ""


def test_closing_as_lost_with_a_made_up_reason_is_refused(client, lead):
    response = transition(client, lead, to="lost", reason="bored")

    assert response.status_code == 400
    assert "reason" in response.data["errors"]
    lead.refresh_from_db()
    assert lead.stage == Stage.NEW


def test_lost_lead_with_reason_reopens_where_it_was(client, lead):
    transition(client, lead, to="attempting_contact")
    transition(client, lead, to="contacted")

    lost = transition(
        client, lead, to="lost", reason="not_ready", note="Will call in spring"
    )

    assert lost.status_code == 200, lost.data
    assert lost.data["stage"] == "lost"
    assert lost.data["lost_reason"] == LostReason.NOT_READY
    assert lost.data["allowed_next_stages"] == ["contacted"]

    reopened = transition(client, lead, to="contacted")

    assert reopened.status_code == 200, reopened.data
    assert reopened.data["stage"] == "contacted"
    assert reopened.data["lost_reason"] == ""
    assert "assessment" in reopened.data["allowed_next_stages"]
    assert list(
        StageChange.objects.filter(lead=lead).values_list("to_stage", flat=True)
    ) == ["new", "attempting_contact", "contacted", "lost", "contacted"]


def test_referring_out_needs_the_partner_program(client, lead):
    response = transition(
        client, lead, to="referred_out", reason="Needs adolescent program"
    )

    assert response.status_code == 400
    assert "referred_to" in response.data["errors"]
    lead.refresh_from_db()
    assert lead.stage == Stage.NEW
    assert lead.referred_to == ""


def test_referring_out_with_partner_closes_the_lead(client, lead):
    response = transition(
        client,
        lead,
        to="referred_out",
        reason="Needs adolescent program",
        referred_to="Sunrise Teen Recovery",
    )

    assert response.status_code == 200, response.data
    assert response.data["stage"] == "referred_out"
    assert response.data["referred_to"] == "Sunrise Teen Recovery"
    assert response.data["allowed_next_stages"] == []


def test_note_is_added_and_shows_in_notes_and_timeline_newest_first(
    client, lead, counselor
):
    url = f"/api/v1/leads/{lead.pk}/notes/"
    first = client.post(url, {"body": "Mother called for him."}, format="json")
    second = client.post(
        url, {"body": "Has Aetna PPO.\nCard photo sent."}, format="json"
    )

    assert first.status_code == 201, first.data
    assert second.status_code == 201, second.data
    assert second.data["kind"] == "note"
    assert second.data["summary"] == "Has Aetna PPO."
    assert second.data["actor"]["id"] == counselor.pk

    notes = client.get(url)
    assert notes.status_code == 200
    assert [note["body"] for note in notes.data["results"]] == [
        "Has Aetna PPO.\nCard photo sent.",
        "Mother called for him.",
    ]

    timeline = client.get(f"/api/v1/leads/{lead.pk}/timeline/")
    assert timeline.status_code == 200
    rows = timeline.data["results"]
    assert [row["id"] for row in rows[:2]] == [second.data["id"], first.data["id"]]
    assert rows[-1]["kind"] == "created"


@pytest.mark.parametrize("body", ["", "   \n  "])
def test_blank_note_is_refused_on_the_body_field(client, lead, body):
    response = client.post(
        f"/api/v1/leads/{lead.pk}/notes/", {"body": body}, format="json"
    )

    assert response.status_code == 400
    assert "body" in response.data["errors"]
    assert not lead.activities.filter(kind=Activity.Kind.NOTE).exists()
