import pytest

from crm.models import AuditEvent, User


def test_counselor_sees_own_role_and_teams(counselor, client_for):
    response = client_for(counselor).get("/api/v1/me/")

    assert response.status_code == 200
    assert response.data["username"] == "maya"
    assert response.data["role"] == "counselor"
    assert [team["slug"] for team in response.data["teams"]] == ["outpatient"]


def test_counselor_goes_available_and_away(counselor, client_for):
    counselor.presence = User.Presence.OFFLINE
    counselor.save()
    client = client_for(counselor)

    response = client.patch("/api/v1/me/", {"presence": "available"}, format="json")

    assert response.status_code == 200
    counselor.refresh_from_db()
    assert counselor.presence == User.Presence.AVAILABLE
    changed_at = counselor.presence_changed_at

    client.patch("/api/v1/me/", {"presence": "away"}, format="json")
    counselor.refresh_from_db()
    assert counselor.presence == User.Presence.AWAY
    assert counselor.presence_changed_at >= changed_at


def test_unknown_presence_is_a_field_error_and_changes_nothing(counselor, client_for):
    response = client_for(counselor).patch(
        "/api/v1/me/", {"presence": "on-vacation"}, format="json"
    )

    assert response.status_code == 400
    assert "presence" in response.data["errors"]
    counselor.refresh_from_db()
    assert counselor.presence == User.Presence.AVAILABLE


def test_me_needs_authentication(api_client):
    assert api_client.get("/api/v1/me/").status_code == 401


def test_counselor_adds_their_own_phone_for_text_alerts(counselor, client_for):
    response = client_for(counselor).patch(
        "/api/v1/me/", {"phone": "(646) 555-0199"}, format="json"
    )

    assert response.status_code == 200
    assert response.data["phone"] == "+16465550199"
    counselor.refresh_from_db()
    assert str(counselor.phone) == "+16465550199"
    assert AuditEvent.objects.filter(
        actor=counselor, object_type="user", fields=["phone"]
    ).exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"phone": "12345"}, "phone"),
        ({"phone": "+1646555019", "presence": "away"}, "phone"),
        ({"role": "admin"}, "role"),
        ({}, "non_field_errors"),
    ],
)
def test_bad_profile_changes_are_field_errors_and_change_nothing(
    counselor, client_for, payload, field
):
    response = client_for(counselor).patch("/api/v1/me/", payload, format="json")

    assert response.status_code == 400
    assert field in response.data["errors"]
    counselor.refresh_from_db()
    assert (counselor.presence, str(counselor.phone or "")) == ("available", "")
    assert counselor.role == User.Role.COUNSELOR
