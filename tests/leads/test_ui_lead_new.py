"""A new lead typed in by hand, with the warning that a phone is already known."""

import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine

from crm.models import AuditEvent
from leads.models import Channel, Lead, Touch
from notifications.models import ConsentEvent

from ..factories import make_lead

NOON_NY = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=ZoneInfo("America/New_York"))
NEW = "/leads/new/"
CHECK = "/leads/new/check/"


@pytest.fixture(autouse=True)
def _noon_in_new_york():
    with time_machine.travel(NOON_NY, tick=False):
        yield


@pytest.fixture
def maya(client, counselor):
    client.force_login(counselor)
    return client


def inquiry(**changes) -> dict:
    data = {
        "first_name": "Riley",
        "last_name": "Stone",
        "phone": "(305) 555-0142",
        "email": "",
        "state": "FL",
        "caller_relationship": "parent",
        "caller_first_name": "Dana",
        "caller_last_name": "Stone",
        "caller_phone": "305 555 0199",
        "level_of_care": "iop",
        "urgency": "soon",
        "substances": ["alcohol", "benzodiazepines"],
        "insurance_payer": "Aetna",
        "message": "Mother calling for her son; wants evening IOP.",
    }
    data.update(changes)
    return data


def test_the_form_is_offered_with_the_consent_wording(maya):
    response = maya.get(NEW)

    html = response.content.decode()
    assert response.status_code == 200
    assert 'aria-current="page">New lead</a>' in html
    assert "May we text you at this number" in html
    assert "Recorded by Maya Torres" in html
    for name in ("first_name", "phone", "email", "state", "caller_relationship"):
        assert f'name="{name}"' in html
    assert 'hx-get="/leads/new/check/"' in html


def test_a_new_lead_is_created_and_opened(maya, counselor, team_a):
    response = maya.post(NEW, inquiry())

    lead = Lead.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/leads/{lead.pk}/"
    assert (lead.team, lead.owner) == (team_a, counselor)
    assert str(lead.phone) == "+13055550142"
    assert str(lead.caller_phone) == "+13055550199"
    assert lead.substances == ["alcohol", "benzodiazepines"]
    assert (lead.level_of_care, lead.urgency, lead.state) == ("iop", "soon", "FL")
    assert lead.first_touch.channel == Channel.MANUAL
    assert lead.first_touch.summary.startswith("Mother calling for her son")
    page = maya.get(response["Location"]).content.decode()
    assert f"Lead #{lead.pk} created, assigned to Maya Torres." in page
    assert not ConsentEvent.objects.exists()


def test_consent_given_on_the_phone_is_recorded_with_who_heard_it(maya, counselor):
    maya.post(NEW, inquiry(sms_consent="on"))

    event = ConsentEvent.objects.get()
    assert event.kind == ConsentEvent.Kind.OPT_IN
    assert event.source == ConsentEvent.Source.COUNSELOR
    assert event.recorded_by == counselor
    assert "May we text you at this number" in event.text
    assert str(event.phone) == "+13055550142"


def test_a_known_phone_is_flagged_while_typing_with_its_owner(maya, team_a, counselor):
    known = make_lead(
        team=team_a,
        owner=counselor,
        first_name="Ann",
        last_name="Baker",
        phone="+13055550142",
    )

    response = maya.get(CHECK, {"phone": "305-555-0142", "email": ""})

    html = response.content.decode()
    assert response.status_code == 200
    assert f"lead #{known.pk} (Ann B.)" in html
    assert "owned by Maya Torres" in html
    assert f'href="/leads/{known.pk}/"' in html
    assert AuditEvent.objects.filter(
        action="view", lead_id=known.pk, detail="dedupe check"
    ).exists()


def test_a_known_email_is_flagged_too(maya, team_a, counselor):
    make_lead(team=team_a, owner=counselor, email="ann@example.org")

    html = maya.get(CHECK, {"phone": "", "email": "Ann@Example.org"}).content.decode()

    assert "This e-mail belongs to" in html


def test_another_teams_lead_is_flagged_without_saying_whose(
    maya, team_b, other_counselor
):
    make_lead(
        team=team_b,
        owner=other_counselor,
        first_name="Ann",
        last_name="Baker",
        phone="+13055550142",
    )

    html = maya.get(CHECK, {"phone": "3055550142"}).content.decode()

    assert "belongs to a lead of another team" in html
    assert "Ann" not in html
    assert "Sam Okafor" not in html


def test_an_unknown_or_unfinished_phone_says_nothing(maya, team_a, counselor):
    make_lead(team=team_a, owner=counselor, phone="+13055550142")

    for phone in ("305-555-01", "+13055550143", ""):
        html = maya.get(CHECK, {"phone": phone}).content.decode()
        assert "belongs to" not in html, phone


def test_a_duplicate_adds_a_touch_to_the_existing_lead_and_opens_it(
    maya, team_a, counselor
):
    known = make_lead(team=team_a, owner=counselor, phone="+13055550142")

    response = maya.post(NEW, inquiry(), follow=True)

    assert Lead.objects.count() == 1
    known.refresh_from_db()
    assert known.inquiry_count == 2
    touch = Touch.objects.filter(lead=known).order_by("-occurred_at", "-id").first()
    assert touch.channel == Channel.MANUAL
    assert response.redirect_chain[-1][0] == f"/leads/{known.pk}/"
    html = response.content.decode()
    assert f"belongs to lead #{known.pk}" in html
    assert "the inquiry was added to that lead" in html


def test_a_duplicate_of_another_teams_lead_is_added_there_without_showing_it(
    maya, team_b, other_counselor
):
    known = make_lead(team=team_b, owner=other_counselor, phone="+13055550142")

    response = maya.post(NEW, inquiry())

    assert response.status_code == 302
    assert response["Location"] == "/"
    known.refresh_from_db()
    assert known.inquiry_count == 2
    assert Lead.objects.count() == 1


@pytest.mark.parametrize(
    ("changes", "field", "error"),
    [
        ({"phone": "555"}, "phone", "Enter a valid phone number"),
        ({"phone": "", "email": ""}, "phone", "Give a phone number or an e-mail"),
        ({"email": "not-an-address"}, "email", "Enter a valid email address."),
        ({"caller_phone": "12"}, "caller_phone", "Enter a valid phone number"),
        ({"state": "XX"}, "state", "Select a valid choice"),
        ({"urgency": "whenever"}, "urgency", "Select a valid choice"),
        ({"substances": ["glue"]}, "substances", "Select a valid choice"),
        (
            {"phone": "", "email": "r@example.org", "sms_consent": "on"},
            "sms_consent",
            "Consent to texts needs a phone number.",
        ),
        ({"first_name": "x" * 101}, "first_name", "at most 100 characters"),
    ],
)
def test_bad_input_is_a_400_with_field_errors_and_nothing_is_written(
    maya, changes, field, error
):
    response = maya.post(NEW, inquiry(**changes))

    html = response.content.decode()
    assert response.status_code == 400
    assert error in html
    assert f'id="new_{field}_error"' in html
    assert 'class="error-summary"' in html
    assert not Lead.objects.exists()
    assert not ConsentEvent.objects.exists()


def test_a_counselor_in_two_teams_must_choose_one(maya, counselor, team_a, team_b):
    team_b.members.add(counselor)

    missing = maya.post(NEW, inquiry())
    chosen = maya.post(NEW, inquiry(team=team_b.pk))

    assert missing.status_code == 400
    assert 'id="new_team_error"' in missing.content.decode()
    assert chosen.status_code == 302
    assert Lead.objects.get().team == team_b


def test_the_new_lead_page_needs_signing_in(client):
    assert client.get(NEW).status_code == 302
    assert client.get(CHECK, {"phone": "3055550142"}).status_code == 302
