"""`POST /api/v1/intake/`: treatment sites post inquiries with their source key."""

import datetime
import json
from io import StringIO
from pathlib import Path
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command
from django.test import Client

from crm.models import User
from leads.models import CallBack, Lead, LeadSource, Stage, Touch
from leads.services.sources import source_create, source_rotate_key
from notifications.models import Alert, ConsentEvent, Message, MessageTemplate
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/intake/"
# A Tuesday noon in New York: inside texting hours in every US zone but Hawaii.
WEEKDAY_NOON_NY = datetime.datetime(
    2026, 12, 1, 12, 0, tzinfo=ZoneInfo("America/New_York")
)
INQUIRY = {
    "first_name": "Casey",
    "last_name": "Doe",
    "phone": "(305) 555-0142",
    "email": "Casey.Doe@Example.org",
    "state": "FL",
    "level_of_care": "iop",
    "message": "Looking for help for myself.",
    "utm_source": "google",
    "utm_campaign": "iop-miami",
}


@pytest.fixture(autouse=True)
def _weekday_noon():
    with time_machine.travel(WEEKDAY_NOON_NY, tick=True):
        yield


@pytest.fixture
def source_and_key(team_a):
    return source_create(name="IOP landing page", kind="web_form", team=team_a)


@pytest.fixture
def source(source_and_key) -> LeadSource:
    return source_and_key[0]


@pytest.fixture
def key(source_and_key) -> str:
    return source_and_key[1]


@pytest.fixture
def post(key):
    """POST an inquiry as JSON (a dict) or as raw bytes with a content type."""

    def send(
        payload=None,
        *,
        body: bytes | str | None = None,
        content_type: str = "application/json",
        intake_key: str | None = None,
        headers: dict | None = None,
        **extra,
    ):
        if body is None:
            body = json.dumps(INQUIRY if payload is None else payload)
        all_headers = {"X-Intake-Key": key if intake_key is None else intake_key}
        all_headers.update(headers or {})
        return Client().post(
            URL, data=body, content_type=content_type, headers=all_headers, **extra
        )

    return send


def row_counts() -> dict[str, int]:
    return {
        "leads": Lead.objects.count(),
        "touches": Touch.objects.count(),
        "callbacks": CallBack.objects.count(),
        "consents": ConsentEvent.objects.count(),
        "messages": Message.objects.count(),
    }


# --- A new inquiry -------------------------------------------------------------------


def test_new_inquiry_is_201_with_the_lead_and_the_counselors_first_name(
    post, counselor, source
):
    response = post()

    assert response.status_code == 201
    body = response.json()
    lead = Lead.objects.get()
    assert body == {"id": lead.pk, "duplicate": False, "owner": "Maya"}
    assert str(lead.phone) == "+13055550142"
    assert lead.email == "casey.doe@example.org"
    assert (lead.owner, lead.team, lead.source) == (counselor, source.team, source)
    assert (lead.utm_source, lead.utm_campaign) == ("google", "iop-miami")
    assert lead.stage == Stage.NEW


def test_a_url_encoded_form_post_is_taken_like_json(post, counselor):
    response = post(
        body=urlencode({**INQUIRY, "sms_consent": "on"}),
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 201
    lead = Lead.objects.get(pk=response.json()["id"])
    assert (lead.first_name, str(lead.phone)) == ("Casey", "+13055550142")
    assert ConsentEvent.objects.filter(lead=lead, kind="opt_in").exists()


def test_a_phone_posted_as_a_json_number_is_read_as_a_us_number(post, counselor):
    response = post({"phone": 3055550142})

    assert response.status_code == 201
    assert str(Lead.objects.get().phone) == "+13055550142"


def test_new_lead_gets_a_callback_due_now_and_its_owner_an_alert(post, counselor):
    lead_id = post().json()["id"]

    callback = CallBack.objects.get(lead_id=lead_id)
    assert (callback.status, callback.reason) == ("due", "new_lead")
    assert callback.owner == counselor
    alert = Alert.objects.get(user=counselor)
    assert (alert.kind, alert.lead_id) == ("lead_assigned", lead_id)


def test_consent_to_texts_stores_what_was_shown_from_where_and_replies(post, counselor):
    response = post(
        {
            **INQUIRY,
            "sms_consent": True,
            "consent_text": "I agree to texts from Harbor Recovery.",
            "consent_version": "2026-11b",
        },
        headers={"User-Agent": "Mozilla/5.0 (iPhone)"},
        REMOTE_ADDR="203.0.113.9",
    )

    lead = Lead.objects.get(pk=response.json()["id"])
    consent = ConsentEvent.objects.get(lead=lead)
    assert (consent.kind, consent.source, str(consent.phone)) == (
        "opt_in",
        "web_form",
        "+13055550142",
    )
    assert consent.text == "I agree to texts from Harbor Recovery."
    assert consent.text_version == "2026-11b"
    assert consent.ip_address == "203.0.113.9"
    assert consent.user_agent == "Mozilla/5.0 (iPhone)"
    assert consent.at == lead.created_at
    reply = Message.objects.get(lead=lead)
    assert reply.kind == Message.Kind.AUTOMATED
    assert reply.template.key == MessageTemplate.Key.WEB_AUTO_REPLY
    assert reply.to == "+13055550142"
    assert reply.status == Message.Status.PENDING
    assert "this is Maya with" in reply.body


def test_consent_without_its_text_stores_the_sources_text_with_the_brand(
    post, counselor, source, settings
):
    settings.SMS_BRAND_NAME = "Harbor Recovery"

    post({**INQUIRY, "sms_consent": "yes"})

    consent = ConsentEvent.objects.get()
    assert consent.text_version == source.consent_text_version
    assert consent.text.startswith("By checking this box I agree that Harbor Recovery")
    assert "{brand}" not in consent.text


@pytest.mark.parametrize("sms_consent", [None, False, "no", ""])
def test_no_consent_means_no_auto_reply_and_no_consent_record(
    post, counselor, sms_consent
):
    payload = dict(INQUIRY)
    if sms_consent is not None:
        payload["sms_consent"] = sms_consent

    response = post(payload)

    assert response.status_code == 201
    assert not Message.objects.filter(lead_id=response.json()["id"]).exists()
    assert not ConsentEvent.objects.exists()


def test_with_no_counselor_free_the_lead_waits_and_supervisors_hear(
    post, counselor, supervisor
):
    User.objects.filter(pk=counselor.pk).update(presence=User.Presence.AWAY)

    response = post()

    assert response.status_code == 201
    assert response.json()["owner"] is None
    lead = Lead.objects.get()
    assert lead.owner is None
    assert lead.team.slug == "outpatient"
    assert CallBack.objects.get(lead=lead).status == "due"
    assert list(Alert.objects.values_list("user_id", "kind")) == [
        (supervisor.pk, "lead_waiting")
    ]


# --- A repeat inquiry ----------------------------------------------------------------


def test_repeat_inquiry_is_200_duplicate_on_the_same_lead(post, counselor):
    first = post().json()

    response = post({"phone": "+1 305-555-0142", "utm_source": "bing"})

    assert response.status_code == 200
    assert response.json() == {"id": first["id"], "duplicate": True, "owner": "Maya"}
    lead = Lead.objects.get()
    assert lead.touches.count() == 2
    assert lead.last_touch.utm_source == "bing"
    assert lead.utm_source == "google"


def test_repeat_by_email_alone_is_a_duplicate(post, counselor):
    first = post().json()

    response = post({"email": "casey.doe@EXAMPLE.org"})

    assert (response.status_code, response.json()["id"]) == (200, first["id"])


# --- Keys ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "intake_key", ["", "lk_not-a-real-key", "x" * 500, "lk_" + "é" * 10]
)
def test_unknown_key_is_401_and_nothing_is_stored(post, counselor, intake_key):
    response = post(intake_key=intake_key)

    assert response.status_code == 401
    assert "X-Intake-Key" in response.json()["errors"]
    assert response["WWW-Authenticate"].startswith("IntakeKey")
    assert row_counts()["leads"] == 0


def test_disabled_source_key_is_401(post, source, counselor):
    LeadSource.objects.filter(pk=source.pk).update(is_active=False)

    assert post().status_code == 401
    assert not Lead.objects.exists()


def test_rotated_key_stops_working_and_the_new_one_works(post, source, counselor):
    new_key = source_rotate_key(source=source, by=None)

    assert post().status_code == 401
    assert post(intake_key=new_key).status_code == 201


def test_get_is_not_allowed(key):
    response = Client().get(URL, headers={"X-Intake-Key": key})

    assert response.status_code == 405


# --- Size and rate limits ------------------------------------------------------------


def test_body_over_64_kb_is_413_and_nothing_is_stored(post, counselor):
    payload = {**INQUIRY, "message": "x" * (64 * 1024)}

    response = post(payload)

    assert response.status_code == 413
    assert "non_field_errors" in response.json()["errors"]
    assert row_counts()["leads"] == 0


def test_body_just_under_the_limit_is_read(post, counselor):
    # 64 KB of padding a form field would refuse, not the size check.
    payload = {**INQUIRY, "message": "x" * (64 * 1024 - 400)}

    response = post(payload)

    assert response.status_code == 400
    assert "message" in response.json()["errors"]


def test_over_the_per_key_rate_is_429_with_retry_after(post, counselor, settings):
    settings.INTAKE_RATE_PER_KEY = 2

    answers = [
        post({"phone": phone}, REMOTE_ADDR=f"198.51.100.{n}").status_code
        for n, phone in enumerate(["3055550101", "3055550102", "3055550103"])
    ]

    assert answers == [201, 201, 429]
    assert Lead.objects.count() == 2


def test_over_the_per_ip_rate_is_429_even_with_other_keys(post, team_a, settings):
    settings.INTAKE_RATE_PER_IP = 2
    keys = [source_create(name=f"Site {n}", kind="web_form")[1] for n in range(3)]

    answers = [
        post({"phone": f"30555501{n:02d}"}, intake_key=k, REMOTE_ADDR="192.0.2.7")
        for n, k in enumerate(keys)
    ]
    other_ip = post({"phone": "3055550199"}, REMOTE_ADDR="192.0.2.8")

    assert [answer.status_code for answer in answers] == [201, 201, 429]
    assert 1 <= int(answers[2]["Retry-After"]) <= 60
    assert answers[2].json()["errors"]["non_field_errors"]
    assert other_ip.status_code == 201


def test_guessing_keys_is_rate_limited_per_ip(post, settings):
    settings.INTAKE_RATE_PER_IP = 3

    answers = [
        post(intake_key=f"lk_guess{n}", REMOTE_ADDR="192.0.2.66").status_code
        for n in range(5)
    ]

    assert answers == [401, 401, 401, 429, 429]


# --- Idempotency ---------------------------------------------------------------------


def test_a_retry_with_the_same_idempotency_key_gets_the_first_answer(post, counselor):
    headers = {"Idempotency-Key": "form-7f3a"}

    first = post(headers=headers)
    retry = post(headers=headers)

    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.json() == first.json()
    assert retry["Idempotent-Replayed"] == "true"
    assert not first.has_header("Idempotent-Replayed")
    assert row_counts() == {
        "leads": 1,
        "touches": 1,
        "callbacks": 1,
        "consents": 0,
        "messages": 0,
    }


def test_idempotency_keys_belong_to_one_source(post, counselor):
    _, other_key = source_create(name="Partner site", kind="partner")
    headers = {"Idempotency-Key": "order-1"}

    first = post(headers=headers)
    other = post({"phone": "3055550199"}, intake_key=other_key, headers=headers)

    assert (first.status_code, other.status_code) == (201, 201)
    assert first.json()["id"] != other.json()["id"]


def test_the_same_idempotency_key_with_another_body_is_refused(post, counselor):
    post(headers={"Idempotency-Key": "form-7f3a"})
    before = row_counts()

    response = post(
        {**INQUIRY, "phone": "3055550199"}, headers={"Idempotency-Key": "form-7f3a"}
    )

    assert response.status_code == 400
    assert "idempotency_key" in response.json()["errors"]
    assert row_counts() == before


def test_an_idempotency_key_over_255_characters_is_refused(post, counselor):
    response = post(headers={"Idempotency-Key": "k" * 256})

    assert response.status_code == 400
    assert "idempotency_key" in response.json()["errors"]
    assert row_counts()["leads"] == 0


def test_a_refused_post_does_not_burn_its_idempotency_key(post, counselor):
    headers = {"Idempotency-Key": "form-1"}

    refused = post({"phone": "12"}, headers=headers)
    fixed = post(headers=headers)

    assert (refused.status_code, fixed.status_code) == (400, 201)


# --- Bad input -----------------------------------------------------------------------

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


def _json(**fields) -> str:
    return json.dumps({**INQUIRY, **fields})


BAD_INPUT = {
    "not json": (JSON, "{'phone': 1}", "non_field_errors"),
    "json array": (JSON, "[1, 2]", "non_field_errors"),
    "json string": (JSON, '"hello"', "non_field_errors"),
    "json null": (JSON, "null", "non_field_errors"),
    "json number": (JSON, "42", "non_field_errors"),
    "empty object": (JSON, "{}", "phone"),
    "deep nesting": (JSON, "[" * 10_000 + "]" * 10_000, "non_field_errors"),
    "huge integer": (JSON, '{"phone": ' + "9" * 5000 + "}", "non_field_errors"),
    "unknown field": (JSON, _json(ssn="123-45-6789"), "ssn"),
    "object value": (JSON, _json(first_name={"a": 1}), "first_name"),
    "list value": (JSON, _json(phone=["3055550142"]), "phone"),
    "bool as text": (JSON, _json(first_name=True), "first_name"),
    "nul in a name": (JSON, _json(first_name="Ca\x00sey"), "first_name"),
    "lone surrogate": (JSON, '{"phone": "3055550142", "first_name": "\\ud800"}', None),
    "name too long": (JSON, _json(first_name="C" * 101), "first_name"),
    "message too long": (JSON, _json(message="m" * 5001), "message"),
    "bad phone": (JSON, _json(phone="12", email=""), "phone"),
    "no contact": (JSON, _json(phone="", email=""), "phone"),
    "bad email": (JSON, _json(email="casey@", phone=""), "email"),
    "unknown state": (JSON, _json(state="Narnia"), "state"),
    "unknown level of care": (JSON, _json(level_of_care="spa"), "level_of_care"),
    "maybe consent": (JSON, _json(sms_consent="maybe"), "sms_consent"),
    "consent, no phone": (JSON, _json(phone="", sms_consent=True), "sms_consent"),
    "landing page not a url": (
        JSON,
        _json(landing_page="javascript:x"),
        "landing_page",
    ),
    "landing page broken url": (
        JSON,
        _json(landing_page="http://[::1"),
        "landing_page",
    ),
    "landing page no host": (JSON, _json(landing_page="https://"), "landing_page"),
    "invalid utf-8 json": (JSON, b'{"first_name": "\xff\xfe"}', "non_field_errors"),
    "invalid utf-8 form": (
        FORM,
        b"phone=3055550142&first_name=%ff",
        "non_field_errors",
    ),
    "raw invalid utf-8 form": (FORM, b"phone=3055550142&x=\xc3", "non_field_errors"),
    "form field twice": (FORM, "phone=3055550142&phone=3055550143", "phone"),
    "form unknown field": (FORM, "phone=3055550142&admin=1", "admin"),
    "form nul": (FORM, "phone=3055550142&first_name=a%00b", "first_name"),
}


@pytest.mark.parametrize(
    ("content_type", "body", "field"), BAD_INPUT.values(), ids=BAD_INPUT.keys()
)
def test_bad_input_is_400_with_field_errors_and_writes_nothing(
    post, counselor, content_type, body, field
):
    before = row_counts()

    response = post(body=body, content_type=content_type)

    assert response.status_code == 400
    errors = response.json()["errors"]
    assert isinstance(errors, dict)
    assert errors
    assert all(isinstance(messages, list) for messages in errors.values())
    if field is not None:
        assert field in errors
    assert row_counts() == before


@pytest.mark.parametrize(
    "referrer", ["http://[::1", "https://exa mple.org/", "https://", "android-app://x"]
)
def test_a_broken_referrer_is_dropped_not_refused(post, counselor, referrer):
    response = post({**INQUIRY, "referrer": referrer})

    assert response.status_code == 201
    assert Lead.objects.get().referrer == ""


@pytest.mark.parametrize(
    "content_type", ["text/plain", "multipart/form-data; boundary=x", ""]
)
def test_other_content_types_are_415(post, counselor, content_type):
    response = post(content_type=content_type)

    assert response.status_code == 415
    assert "non_field_errors" in response.json()["errors"]
    assert row_counts()["leads"] == 0


def test_json_with_a_charset_parameter_is_json(post, counselor):
    response = post(content_type="application/json; charset=utf-8")

    assert response.status_code == 201


# --- Creating a source ---------------------------------------------------------------

COMMAND = (
    Path(__file__).parents[2] / "leads/management/commands/create_intake_source.py"
)


@pytest.mark.skipif(not COMMAND.exists(), reason="create_intake_source not added yet")
def test_create_intake_source_prints_a_key_that_works(team_a):
    counselor = UserFactory(username="lee", first_name="Lee")
    team_a.members.add(counselor)
    out = StringIO()

    call_command(
        "create_intake_source",
        "Partner site",
        "--kind=partner",
        "--team=outpatient",
        stdout=out,
    )

    key = out.getvalue().strip().splitlines()[-1]
    source = LeadSource.objects.get(slug="partner-site")
    assert source.key_hash != key
    assert key not in (source.key_hash, source.key_prefix)
    response = Client().post(
        URL, data=INQUIRY, content_type=JSON, headers={"X-Intake-Key": key}
    )
    assert response.status_code == 201
    assert response.json()["owner"] == "Lee"
    lead = Lead.objects.get()
    assert lead.source == source
    assert lead.first_touch.channel == "referral"
