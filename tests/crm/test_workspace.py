"""Signing in and out of the workspace, idle sign-out and the presence switch."""

import re

import time_machine
from django.urls import reverse

from crm.models import User

PASSWORD = "a-long-test-password"


def _with_password(user: User) -> User:
    user.set_password(PASSWORD)
    user.save()
    return user


def test_sign_in_page_labels_its_fields(client):
    response = client.get("/login/")
    html = response.content.decode()
    assert response.status_code == 200
    assert '<label for="id_username">Username</label>' in html
    assert '<label for="id_password">Password</label>' in html


def test_wrong_password_is_refused_with_a_message(client, counselor):
    _with_password(counselor)
    response = client.post("/login/", {"username": "maya", "password": "wrong"})
    assert response.status_code == 200
    assert "correct username and password" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_right_password_signs_in_and_opens_the_queue(client, counselor):
    _with_password(counselor)
    response = client.post("/login/", {"username": "maya", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.session["_auth_user_id"] == str(counselor.pk)


def test_sign_out_needs_a_post_and_ends_the_session(client, counselor):
    client.force_login(counselor)
    response = client.post("/logout/")
    assert response.status_code == 200
    assert "You are signed out" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_idle_session_is_signed_out_after_the_timeout(client, counselor, settings):
    settings.SESSION_IDLE_TIMEOUT_MINUTES = 15
    with time_machine.travel("2026-11-29 10:00:00Z", tick=False) as traveller:
        client.force_login(counselor)
        assert client.post(reverse("session-keepalive")).status_code == 204
        traveller.shift(14 * 60)
        assert client.post(reverse("session-keepalive")).status_code == 204
        traveller.shift(16 * 60)
        response = client.post(reverse("session-keepalive"))
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
    assert "_auth_user_id" not in client.session
    page = client.get(response["Location"]).content.decode()
    assert "signed out after 15 minutes without activity" in page


def test_background_refreshes_do_not_keep_an_idle_session_alive(
    client, counselor, settings
):
    settings.SESSION_IDLE_TIMEOUT_MINUTES = 15
    poll = {"HTTP_X_BACKGROUND_REFRESH": "1"}
    with time_machine.travel("2026-11-29 10:00:00Z", tick=False) as traveller:
        client.force_login(counselor)
        client.post(reverse("session-keepalive"))
        for _ in range(3):  # the live queue polling on an unattended screen
            traveller.shift(5 * 60)
            assert client.post(reverse("session-keepalive"), **poll).status_code == 204
        traveller.shift(60 + 1)
        response = client.post(reverse("session-keepalive"), **poll)
    assert response.status_code == 302
    assert "_auth_user_id" not in client.session


def test_expired_htmx_request_reloads_the_whole_page_to_sign_in(
    client, counselor, settings
):
    settings.SESSION_IDLE_TIMEOUT_MINUTES = 15
    with time_machine.travel("2026-11-29 10:00:00Z", tick=False) as traveller:
        client.force_login(counselor)
        client.post(reverse("session-keepalive"))
        traveller.shift(20 * 60)
        response = client.post(reverse("session-keepalive"), HTTP_HX_REQUEST="true")
    assert response.status_code == 204
    assert response["HX-Redirect"].startswith("/login/")


def test_api_tokens_are_not_signed_out_by_the_workspace_timeout(
    client_for, counselor, settings
):
    settings.SESSION_IDLE_TIMEOUT_MINUTES = 15
    api = client_for(counselor)
    with time_machine.travel("2026-11-29 10:00:00Z", tick=False) as traveller:
        assert api.get("/api/v1/me/").status_code == 200
        traveller.shift(60 * 60)
        assert api.get("/api/v1/me/").status_code == 200


def test_presence_switch_changes_presence_and_returns_the_switch(client, counselor):
    client.force_login(counselor)
    response = client.post(
        reverse("presence-set"), {"presence": "away"}, HTTP_HX_REQUEST="true"
    )
    counselor.refresh_from_db()
    assert response.status_code == 200
    assert counselor.presence == "away"
    assert re.search(r'value="away"\s+selected', response.content.decode())


def test_presence_switch_without_javascript_goes_back_to_the_page(client, counselor):
    client.force_login(counselor)
    response = client.post(
        reverse("presence-set"), {"presence": "available", "next": "/team/"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/team/"
    response = client.post(
        reverse("presence-set"),
        {"presence": "busy", "next": "https://evil.example/"},
    )
    assert response["Location"] == "/"


def test_unknown_presence_is_a_400_and_changes_nothing(client, counselor):
    counselor.presence = "available"
    counselor.save()
    client.force_login(counselor)
    response = client.post(
        reverse("presence-set"), {"presence": "asleep"}, HTTP_HX_REQUEST="true"
    )
    counselor.refresh_from_db()
    assert response.status_code == 400
    assert "Unknown presence" in response.content.decode()
    assert counselor.presence == "available"


def test_presence_switch_needs_sign_in(client):
    response = client.post(reverse("presence-set"), {"presence": "away"})
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
