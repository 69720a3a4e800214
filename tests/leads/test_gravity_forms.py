"""Gravity Forms entries through the Webhooks add-on (Request Body: All Fields)."""

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import time_machine

from leads.gravity import GravityEntryError, entry_to_intake
from leads.models import CallerRelationship, Lead, Touch
from leads.services.sources import source_create
from notifications.models import ConsentEvent

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "gravity_forms"
# A Monday afternoon in New York: inside calling hours everywhere in the US.
MONDAY_3PM_EASTERN = datetime(2026, 11, 30, 20, 0, tzinfo=UTC)
MAPPING = {
    "1.3": "first_name",
    "1.6": "last_name",
    "3": "phone",
    "4": "email",
    "5": "state",
    "7": "for_whom",
    "8": "message",
    "9": "insurance_provider",
    "10": "utm_campaign",
    "12": "referrer",
    "6.1": "sms_consent",
}


def captured_entry() -> dict:
    return json.loads((FIXTURES / "webhook_all_fields.json").read_text())


@pytest.fixture(autouse=True)
def _monday_afternoon():
    with time_machine.travel(MONDAY_3PM_EASTERN, tick=False):
        yield


@pytest.fixture
def sunrise(team_a, counselor):
    source, key = source_create(name="Sunrise Recovery", kind="web_form", team=team_a)
    source.gravity_forms_mapping = MAPPING
    source.save(update_fields=["gravity_forms_mapping"])
    return source, key


@pytest.fixture
def post_entry(client, sunrise):
    """Post an entry as the add-on does: JSON, with the key as a request header."""
    source, key = sunrise

    def post(entry=None, *, slug=source.slug, key=key, body=None, **headers):
        if body is None:
            body = json.dumps(captured_entry() if entry is None else entry)
        if key is not None:
            headers["X-Intake-Key"] = key
        return client.post(
            f"/api/v1/intake/gravity-forms/{slug}/",
            body,
            content_type="application/json",
            headers={
                "User-Agent": "WordPress/6.7.1; https://sunrise.example",
                **headers,
            },
            REMOTE_ADDR="192.0.2.10",  # the WordPress server, not the person
        )

    return post


# --- A captured entry -----------------------------------------------------------------


def test_a_captured_entry_becomes_a_lead_with_its_fields(post_entry, sunrise):
    response = post_entry()

    assert response.status_code == 201
    assert response.json()["duplicate"] is False
    assert response.json()["owner"] == "Maya"
    lead = Lead.objects.get(pk=response.json()["id"])
    assert (lead.first_name, lead.last_name) == ("Jane", "Doe")
    assert (str(lead.phone), lead.email, lead.state) == (
        "+13055550142",
        "jane@example.com",
        "FL",
    )
    assert lead.caller_relationship == CallerRelationship.LOVED_ONE
    assert lead.insurance_payer == "Aetna"
    assert lead.intake_notes.startswith("My son needs detox.")
    assert lead.source == sunrise[0]


def test_the_forms_page_is_the_landing_page_and_its_query_the_attribution(post_entry):
    entry = captured_entry()

    lead = Lead.objects.get(pk=post_entry(entry).json()["id"])

    assert lead.landing_page == entry["source_url"]
    assert (lead.utm_source, lead.utm_medium, lead.utm_term) == (
        "google",
        "cpc",
        "detox near me",
    )
    assert lead.gclid == "EAIaIQobChMIu8K3tqSbggMVxFZHAR0aLQHtEAAYASAAEgJt0fD_BwE"
    # Mapped fields win over the page address.
    assert lead.utm_campaign == "fl-detox-spring"
    assert lead.referrer == "https://www.google.com/"


def test_a_ticked_consent_box_records_its_text_and_the_persons_browser(post_entry):
    entry = captured_entry()

    post_entry(entry)

    consent = ConsentEvent.objects.get()
    assert consent.kind == ConsentEvent.Kind.OPT_IN
    assert str(consent.phone) == "+13055550142"
    assert consent.text == entry["6.1"]
    assert consent.ip_address == "203.0.113.45"
    assert consent.user_agent == entry["user_agent"]


@pytest.mark.parametrize("unticked", ["", None, "missing"])
def test_an_unticked_consent_box_records_no_consent(post_entry, unticked):
    entry = captured_entry()
    if unticked == "missing":
        del entry["6.1"]
    else:
        entry["6.1"] = unticked

    response = post_entry(entry)

    assert response.status_code == 201
    assert not ConsentEvent.objects.exists()


def test_a_consent_field_records_its_label_as_the_text(post_entry):
    # Gravity's Consent field stores "1" when ticked and its label in "<id>.2".
    entry = captured_entry()
    entry.update({"6.1": "1", "6.2": "I agree to calls and texts.", "6.3": "4"})

    post_entry(entry)

    assert ConsentEvent.objects.get().text == "I agree to calls and texts."


# --- Keys -----------------------------------------------------------------------------


@pytest.mark.parametrize("key", [None, "", "lk_not-a-real-key"])
def test_a_missing_or_wrong_key_is_401(post_entry, key):
    response = post_entry(key=key)

    assert response.status_code == 401
    assert list(response.json()["errors"]) == ["X-Intake-Key"]
    assert response["WWW-Authenticate"] == 'IntakeKey realm="intake"'
    assert not Lead.objects.exists()


def test_the_key_of_another_source_is_401(post_entry, team_a):
    _, other_key = source_create(name="Partner", kind="partner", team=team_a)

    response = post_entry(key=other_key)

    assert response.status_code == 401
    assert list(response.json()["errors"]) == ["X-Intake-Key"]
    assert not Lead.objects.exists()


def test_a_key_posted_to_an_unknown_slug_is_401(post_entry):
    assert post_entry(slug="no-such-source").status_code == 401
    assert not Lead.objects.exists()


# --- Retries --------------------------------------------------------------------------


def test_a_resent_entry_is_a_duplicate_and_adds_no_touch(post_entry):
    first = post_entry()
    entry = captured_entry()
    # Resent from the WordPress admin after someone opened the entry.
    entry.update({"is_read": 1, "date_updated": "2026-11-30 20:14:03"})

    again = post_entry(entry)

    assert again.status_code == 200
    assert again.json() == {**first.json(), "duplicate": True}
    assert again["Idempotent-Replayed"] == "true"
    assert Lead.objects.count() == 1
    assert Touch.objects.count() == 1
    assert ConsentEvent.objects.count() == 1


def test_another_entry_of_the_same_person_is_a_repeat_inquiry(post_entry):
    first = post_entry()
    entry = {**captured_entry(), "id": "1188"}

    again = post_entry(entry)

    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["duplicate"] is True
    assert Touch.objects.count() == 2


# --- Refusals -------------------------------------------------------------------------


def test_a_list_or_object_in_a_mapped_field_is_a_field_error(post_entry):
    entry = captured_entry()
    entry["3"] = {"number": "(305) 555-0142"}
    entry["4"] = ["jane@example.com"]

    response = post_entry(entry)

    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"phone", "email"}
    assert not Lead.objects.exists()


def test_nested_values_in_unmapped_keys_are_ignored(post_entry):
    # Add-ons append their own keys to the entry (e.g. Gravity PDF's links).
    entry = {**captured_entry(), "gpdf_6048493b8acce": {"url": "x"}, "13": [1, 2]}

    assert post_entry(entry).status_code == 201


def test_a_mapping_to_a_field_that_intake_does_not_know_is_named(post_entry, sunrise):
    source, _ = sunrise
    source.gravity_forms_mapping = {**MAPPING, "11": "favourite_colour"}
    source.save(update_fields=["gravity_forms_mapping"])

    response = post_entry()

    assert response.status_code == 400
    [message] = response.json()["errors"]["gravity_forms_mapping"]
    assert "'favourite_colour'" in message
    assert not Lead.objects.exists()


def test_invalid_utf8_is_400(post_entry):
    body = json.dumps(captured_entry()).encode().replace(b"Jane", b"J\xe9ne")

    response = post_entry(body=body)

    assert response.status_code == 400
    assert response.json() == {
        "errors": {"non_field_errors": ["The body is not UTF-8."]}
    }
    assert not Lead.objects.exists()


@pytest.mark.parametrize("body", ["{not json", "[]", '"1187"'])
def test_a_body_that_is_not_an_entry_object_is_400(post_entry, body):
    response = post_entry(body=body)

    assert response.status_code == 400
    assert "non_field_errors" in response.json()["errors"]


def test_invalid_person_fields_get_the_intake_apis_messages(post_entry):
    entry = {**captured_entry(), "3": "555", "4": ""}

    response = post_entry(entry)

    assert response.status_code == 400
    assert response.json()["errors"]["phone"] == [
        "Enter a valid phone number, e.g. (305) 555-0142."
    ]


def test_a_form_encoded_post_is_415(client, sunrise):
    source, key = sunrise

    response = client.post(
        f"/api/v1/intake/gravity-forms/{source.slug}/",
        {"3": "(305) 555-0142"},
        headers={"X-Intake-Key": key},
    )

    assert response.status_code == 415
    assert not Lead.objects.exists()


# --- The mapping on its own -----------------------------------------------------------


def test_an_entry_without_an_id_has_no_retry_key():
    entry = {k: v for k, v in captured_entry().items() if k != "id"}

    assert entry_to_intake(entry, mapping=MAPPING).idempotency_key == ""
    assert (
        entry_to_intake(captured_entry(), mapping=MAPPING).idempotency_key
        == "gf-3-1187"
    )


@pytest.mark.parametrize("value", ["0", "false", "No"])
def test_a_consent_value_that_says_no_is_no_consent(value):
    entry = {**captured_entry(), "6.1": value}

    assert "sms_consent" not in entry_to_intake(entry, mapping=MAPPING).payload


def test_an_empty_mapping_is_refused_with_a_hint():
    with pytest.raises(GravityEntryError) as refused:
        entry_to_intake(captured_entry(), mapping={})

    assert "gravity_forms_mapping" in refused.value.errors
