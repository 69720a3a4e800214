"""Signing in to the API: tokens, their throttle, and the browsable API's session."""

from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from ..factories import TEST_PASSWORD

TOKEN_URL = "/api/v1/auth/token/"


def ask_for_token(client: APIClient, username: str, password: str):
    return client.post(
        TOKEN_URL, {"username": username, "password": password}, format="json"
    )


def test_token_from_username_and_password_then_authenticates(counselor, api_client):
    response = ask_for_token(api_client, "maya", TEST_PASSWORD)

    assert response.status_code == 200, response.data
    token = response.data["token"]
    assert Token.objects.get(key=token).user == counselor

    caller = APIClient()
    caller.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    me = caller.get("/api/v1/me/")
    leads = caller.get("/api/v1/leads/")
    assert me.status_code == 200
    assert me.data["username"] == "maya"
    assert leads.status_code == 200


def test_made_up_token_is_refused(counselor, api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)

    assert api_client.get("/api/v1/leads/").status_code == 401


def test_wrong_password_is_a_non_field_error_and_gives_no_token(counselor, api_client):
    response = ask_for_token(api_client, "maya", "not-the-password")

    assert response.status_code == 400
    assert response.data["errors"]["non_field_errors"]
    assert "token" not in response.data
    assert not Token.objects.filter(user=counselor).exists()


def test_token_endpoint_is_throttled_after_five_attempts(counselor, api_client):
    for _ in range(5):
        assert ask_for_token(api_client, "maya", "guess").status_code == 400

    # Even the right password waits once the limit is reached.
    response = ask_for_token(api_client, "maya", TEST_PASSWORD)

    assert response.status_code == 429
    assert "Retry-After" in response.headers
    assert not Token.objects.filter(user=counselor).exists()


def test_inactive_user_cannot_get_a_token(counselor, api_client):
    counselor.is_active = False
    counselor.save()

    response = ask_for_token(api_client, "maya", TEST_PASSWORD)

    assert response.status_code == 400
    assert "non_field_errors" in response.data["errors"]
    assert not Token.objects.filter(user=counselor).exists()


def test_token_of_a_deactivated_user_stops_working(counselor, api_client):
    token = ask_for_token(api_client, "maya", TEST_PASSWORD).data["token"]
    counselor.is_active = False
    counselor.save()

    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token}")

    assert api_client.get("/api/v1/leads/").status_code == 401


def test_session_sign_in_opens_the_browsable_api(counselor, client):
    assert client.login(username="maya", password=TEST_PASSWORD)

    response = client.get("/api/v1/leads/", HTTP_ACCEPT="text/html")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert "Lead" in response.content.decode()
