"""The hosted "Request a call" form: accessible, framable, no JavaScript needed."""

import re
from datetime import UTC, datetime

import pytest
import time_machine
from django.conf import settings
from django.test import Client

from leads.models import Lead, LeadSource
from notifications.models import ConsentEvent

from ..factories import LeadSourceFactory

# A Monday afternoon in New York: inside calling hours everywhere in the US.
MONDAY_3PM_EASTERN = datetime(2026, 11, 30, 20, 0, tzinfo=UTC)
FORM = "/request-a-call/sunrise-detox/"
THANKS = "/request-a-call/sunrise-detox/thanks/"
EMBED = "/embed/sunrise-detox.js"
BROWSER = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) Safari/605.1.15"


@pytest.fixture(autouse=True)
def _monday_afternoon():
    with time_machine.travel(MONDAY_3PM_EASTERN, tick=False):
        yield


@pytest.fixture
def source(team_a, counselor) -> LeadSource:
    return LeadSourceFactory(
        name="Sunrise detox page",
        slug="sunrise-detox",
        team=team_a,
        consent_text="I agree that {brand} may call and text me. Reply STOP to stop.",
        consent_text_version="2026-11",
        success_message="Thanks! Maya or a colleague will call you in a few minutes.",
    )


def shown_consent() -> str:
    brand = settings.SMS_BRAND_NAME
    return f"I agree that {brand} may call and text me. Reply STOP to stop."


def input_tag(html: str, name: str) -> str:
    """The one <input> named `name` in the page, attributes and all."""
    tags = re.findall(rf'<input[^>]*\bname="{name}"[^>]*>', html)
    assert len(tags) == 1, tags
    return tags[0]


def hidden_value(html: str, name: str) -> str:
    tag = input_tag(html, name)
    assert 'type="hidden"' in tag
    return re.search(r'value="([^"]*)"', tag).group(1)


def valid_post(**overrides) -> dict:
    return {
        "first_name": "Jane",
        "last_name": "Doe",
        "phone": "(305) 555-0142",
        "email": "jane@example.com",
        "state": "FL",
        "for_whom": "loved_one",
        "insurance_provider": "Aetna",
        "message": "My son needs detox.",
        "landing_page": "https://sunrise.example/detox/?utm_source=google",
        "referrer": "https://www.google.com/",
        "utm_source": "google",
        "utm_medium": "cpc",
        "utm_campaign": "fl-detox",
        "gclid": "EAIaIQobChMI-test",
        "consent_text": shown_consent(),
        "consent_version": "2026-11",
        "website": "",
        **overrides,
    }


# --- Showing the form -----------------------------------------------------------------


def test_the_form_has_labelled_fields_with_required_hints(client, source):
    response = client.get(FORM)

    assert response.status_code == 200
    html = response.content.decode()
    for name in ("first_name", "last_name", "phone", "email", "state", "message"):
        assert f'<label for="id_{name}">' in html
    phone = input_tag(html, "phone")
    assert 'type="tel"' in phone
    assert 'autocomplete="tel"' in phone
    assert "required" in phone
    assert "required" not in input_tag(html, "email")
    assert html.count('<span class="req">(required)</span>') == 2


def test_the_consent_box_shows_the_sources_text_with_the_brand_and_is_not_ticked(
    client, source
):
    html = client.get(FORM).content.decode()

    checkbox = input_tag(html, "sms_consent")
    assert 'type="checkbox"' in checkbox
    assert "checked" not in checkbox
    assert f'<label for="id_sms_consent">{shown_consent()}</label>' in html
    assert "{brand}" not in html
    assert hidden_value(html, "consent_text") == shown_consent()
    assert hidden_value(html, "consent_version") == "2026-11"


def test_the_honeypot_is_out_of_sight_and_out_of_the_tab_order(client, source):
    html = client.get(FORM).content.decode()

    honeypot = input_tag(html, "website")
    assert 'tabindex="-1"' in honeypot
    assert 'autocomplete="off"' in honeypot
    assert '<div class="hp" aria-hidden="true">' in html


def test_attribution_from_the_query_string_is_kept_in_hidden_fields(client, source):
    page = "https://sunrise.example/detox/?utm_source=google"
    response = client.get(
        FORM,
        {
            "embed": "1",
            "landing_page": page,
            "referrer": "https://www.google.com/",
            "utm_source": "google",
            "utm_medium": "cpc",
            "utm_campaign": "fl-detox",
            "gclid": "EAIaIQobChMI-test",
            "msclkid": "ms-123",
        },
        headers={"Referer": page},
    )

    html = response.content.decode()
    assert hidden_value(html, "landing_page") == page.replace("&", "&amp;")
    assert hidden_value(html, "referrer") == "https://www.google.com/"
    assert hidden_value(html, "utm_source") == "google"
    assert hidden_value(html, "utm_medium") == "cpc"
    assert hidden_value(html, "utm_campaign") == "fl-detox"
    assert hidden_value(html, "gclid") == "EAIaIQobChMI-test"
    assert hidden_value(html, "msclkid") == "ms-123"
    assert hidden_value(html, "fbclid") == ""
    assert 'action="/request-a-call/sunrise-detox/?embed=1"' in html


def test_the_referer_header_is_the_referrer_only_when_the_page_gave_none(
    client, source
):
    linked = client.get(FORM, headers={"Referer": "https://directory.example/fl"})
    embedded = client.get(
        FORM, {"referrer": ""}, headers={"Referer": "https://sunrise.example/"}
    )

    assert hidden_value(linked.content.decode(), "referrer") == (
        "https://directory.example/fl"
    )
    assert hidden_value(embedded.content.decode(), "referrer") == ""
    # Linked to directly, the form itself is where they landed.
    assert hidden_value(linked.content.decode(), "landing_page") == (
        "https://crm.example.org/request-a-call/sunrise-detox/"
    )


# --- Posting it -----------------------------------------------------------------------


def test_a_valid_request_is_stored_with_its_attribution_and_consent(client, source):
    response = client.post(
        FORM,
        valid_post(sms_consent="yes"),
        headers={"User-Agent": BROWSER},
        REMOTE_ADDR="198.51.100.23",
    )

    assert response.status_code == 303
    assert response["Location"] == THANKS
    lead = Lead.objects.get()
    assert (lead.first_name, lead.last_name) == ("Jane", "Doe")
    assert (str(lead.phone), lead.email, lead.state) == (
        "+13055550142",
        "jane@example.com",
        "FL",
    )
    assert lead.source == source
    assert lead.landing_page == "https://sunrise.example/detox/?utm_source=google"
    assert lead.referrer == "https://www.google.com/"
    assert (lead.utm_source, lead.utm_medium, lead.utm_campaign) == (
        "google",
        "cpc",
        "fl-detox",
    )
    assert lead.gclid == "EAIaIQobChMI-test"
    consent = ConsentEvent.objects.get()
    assert consent.kind == ConsentEvent.Kind.OPT_IN
    assert str(consent.phone) == "+13055550142"
    assert consent.lead == lead
    assert consent.text == shown_consent()
    assert consent.text_version == "2026-11"
    assert consent.ip_address == "198.51.100.23"
    assert consent.user_agent == BROWSER


def test_the_thanks_page_says_the_sources_success_message(client, source):
    response = client.post(FORM, valid_post(), follow=True)

    assert response.redirect_chain == [(THANKS, 303)]
    assert response.status_code == 200
    assert source.success_message in response.content.decode()


def test_an_unticked_consent_box_records_no_consent(client, source):
    response = client.post(FORM, valid_post())

    assert response.status_code == 303
    assert Lead.objects.count() == 1
    assert not ConsentEvent.objects.exists()


def test_a_filled_honeypot_gets_the_thanks_page_and_stores_nothing(client, source):
    response = client.post(
        FORM, valid_post(sms_consent="yes", website="https://cheap-pills.example")
    )

    assert response.status_code == 303
    assert response["Location"] == THANKS
    assert not Lead.objects.exists()
    assert not ConsentEvent.objects.exists()


def test_invalid_input_shows_the_messages_next_to_the_fields_and_stores_nothing(
    client, source
):
    response = client.post(
        FORM, valid_post(phone="", email="not-an-email", sms_consent="yes")
    )

    assert response.status_code == 400
    html = response.content.decode()
    assert "Enter a phone number so that we can call you." in html
    assert "Enter a valid e-mail address." in html
    phone = input_tag(html, "phone")
    assert 'aria-invalid="true"' in phone
    assert 'aria-describedby="id_phone-error"' in phone
    assert 'id="id_phone-error"' in html
    assert '<a href="#id_phone">' in html
    # What they typed is still there, their own tick included.
    assert 'value="Jane"' in input_tag(html, "first_name")
    assert "checked" in input_tag(html, "sms_consent")
    assert hidden_value(html, "utm_campaign") == "fl-detox"
    assert not Lead.objects.exists()
    assert not ConsentEvent.objects.exists()


def test_a_mangled_hidden_landing_page_does_not_cost_the_inquiry(client, source):
    response = client.post(FORM, valid_post(landing_page="javascript:alert(1)"))

    assert response.status_code == 303
    assert Lead.objects.get().landing_page == ""


def test_too_many_posts_from_one_address_are_refused(client, source, settings):
    settings.INTAKE_RATE_PER_IP = 1
    client.post(FORM, valid_post())

    response = client.post(FORM, valid_post(phone="(305) 555-0199"))

    assert response.status_code == 429
    assert "Retry-After" in response
    assert Lead.objects.count() == 1


def test_an_embedded_form_stays_embedded_on_the_thanks_page(client, source):
    response = client.post(f"{FORM}?embed=1", valid_post())

    assert response["Location"] == f"{THANKS}?embed=1"
    thanks = client.get(response["Location"]).content.decode()
    assert '<body class="embedded">' in thanks


# --- Framing, CSRF, unknown sources ---------------------------------------------------


def test_the_form_may_be_framed_by_other_sites_unlike_the_rest_of_the_app(
    client, source
):
    assert client.get("/healthz/")["X-Frame-Options"] == "DENY"

    for response in (
        client.get(FORM),
        client.post(FORM, valid_post(phone="")),
        client.get(THANKS),
    ):
        assert "X-Frame-Options" not in response


def test_a_post_without_a_csrf_token_is_taken(source):
    browser = Client(enforce_csrf_checks=True)

    response = browser.post(FORM, valid_post())

    assert response.status_code == 303
    assert Lead.objects.count() == 1


@pytest.mark.parametrize("path", [FORM, THANKS, EMBED])
def test_unknown_and_disabled_sources_are_404(client, source, path):
    assert client.get(path.replace("sunrise-detox", "no-such-source")).status_code == (
        404
    )
    source.is_active = False
    source.save(update_fields=["is_active"])

    assert client.get(path).status_code == 404


def test_a_post_to_a_disabled_source_stores_nothing(client, source):
    source.is_active = False
    source.save(update_fields=["is_active"])

    assert client.post(FORM, valid_post()).status_code == 404
    assert not Lead.objects.exists()


# --- The embed script -----------------------------------------------------------------


def test_the_embed_script_is_javascript_that_frames_the_hosted_form(client, source):
    response = client.get(EMBED)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/javascript; charset=utf-8"
    script = response.content.decode()
    hosted = "https://crm.example.org/request-a-call/sunrise-detox/"
    assert f'var formUrl = "{hosted}";' in script
    assert 'params.set("embed", "1")' in script
    assert 'params.set("landing_page", window.location.href' in script
    assert 'params.set("referrer", document.referrer' in script
    assert (
        'var pageInputs = ["utm_source", "utm_medium", "utm_campaign", "utm_term", '
        '"utm_content", "gclid", "gbraid", "wbraid", "fbclid", "msclkid"];'
    ) in script
    assert "event.origin !== formOrigin" in script
