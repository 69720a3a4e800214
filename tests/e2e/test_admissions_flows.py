"""Insurance verification in a real browser: a counselor asks, a verifier answers."""

import re

import pytest
from playwright.sync_api import expect

from crm.models import Team, User
from leads.models import InsuranceVerification, Lead, Stage
from leads.services import lead_transition
from notifications.models import Alert

from .conftest import (
    DEMO_PASSWORD,
    DESKTOP,
    TABLET,
    accessibility_violations,
    overflows_horizontally,
    screenshot,
    sign_in,
)

pytestmark = pytest.mark.e2e


def _verifier() -> User:
    user = User.objects.create_user(
        username="e2e_verifier",
        password=DEMO_PASSWORD,
        first_name="Vera",
        last_name="Verifier",
        role=User.Role.VERIFIER,
    )
    for team in Team.objects.all():
        team.members.add(user)
    return user


def _contacted_lead_of(username: str) -> Lead:
    lead = (
        Lead.objects.filter(owner__username=username, stage=Stage.CONTACTED).first()
        or Lead.objects.filter(
            owner__username=username,
            stage__in=[Stage.NEW, Stage.ATTEMPTING_CONTACT],
        ).first()
    )
    if lead.stage != Stage.CONTACTED:
        lead = lead_transition(lead=lead, to=Stage.CONTACTED, by=lead.owner)
    InsuranceVerification.objects.filter(lead=lead).delete()
    return lead


def test_counselor_requests_a_vob_and_a_verifier_completes_it(open_page):
    # Given a counselor on the phone with a contacted lead
    _verifier()
    lead = _contacted_lead_of("counselor1")
    counselor = open_page()
    sign_in(counselor, "counselor1")
    counselor.goto(f"/leads/{lead.pk}/")

    # When she requests a verification of benefits with the card in hand
    card = counselor.locator("#card-verification")
    card.get_by_role("link", name=re.compile("Request VOB")).click()
    counselor.wait_for_url(f"**/leads/{lead.pk}/vob/request/")
    counselor.get_by_label("Payer (from the list)").select_option(label="Aetna")
    counselor.get_by_label("Plan type").select_option("ppo")
    counselor.locator("#vob_member_id").fill("W123456789")
    counselor.get_by_label("Note for the verifier").fill("Looking at residential")
    counselor.get_by_role("button", name="Request VOB").click()

    # Then the lead is in insurance verification and the card says who has it
    counselor.wait_for_url(f"**/leads/{lead.pk}/#card-verification")
    expect(counselor.locator("#lead-header")).to_contain_text("Insurance verification")
    card = counselor.locator("#card-verification")
    expect(card).to_contain_text("Requested")
    expect(card).to_contain_text("•••• 6789")
    vob = InsuranceVerification.objects.get(lead=lead)

    # When the verifier signs in, she lands on the VOB queue and takes it
    verifier = open_page()
    sign_in(verifier, "e2e_verifier")
    verifier.wait_for_url("**/vob/")
    row = verifier.locator("tr", has=verifier.locator(f"#vob-{vob.pk}"))
    expect(row).to_contain_text("Aetna")
    screenshot(verifier, "vob-queue")
    row.get_by_role("button", name="Start").click()
    verifier.wait_for_url(f"**/vob/{vob.pk}/")

    # And records what the payer's portal says
    verifier.get_by_label("Method", exact=True).select_option("portal")
    verifier.get_by_label("Coverage active", exact=True).select_option("yes")
    verifier.get_by_label("Network status", exact=True).select_option("in")
    verifier.get_by_label("Deductible, individual, in network", exact=True).fill("1500")
    verifier.get_by_label(
        "Deductible, individual, in network, remaining", exact=True
    ).fill("1200")
    verifier.get_by_label("Residential, Covered").select_option("yes")
    verifier.get_by_label("Residential, Prior auth required").select_option("yes")
    verifier.get_by_label("Residential, Day limit").fill("30")
    verifier.get_by_role("button", name="Complete: verified").click()

    # Then the VOB is verified with its turnaround, and the counselor is told
    expect(verifier.locator(".flash-success, .messages")).to_contain_text(
        "VOB verified"
    )
    expect(verifier.locator("h1")).to_contain_text("Verified")
    screenshot(verifier, "vob")
    vob.refresh_from_db()
    assert vob.status == InsuranceVerification.Status.VERIFIED
    assert vob.benefits.get(level_of_care="residential").day_limit == 30
    assert Alert.objects.filter(user__username="counselor1", kind="vob_completed")

    counselor.reload()
    card = counselor.locator("#card-verification")
    expect(card).to_contain_text("Verified")
    expect(card).to_contain_text("1,200.00")
    expect(card).to_contain_text("Residential")
    screenshot(counselor, "lead-admissions")


@pytest.mark.parametrize("viewport", [DESKTOP, TABLET], ids=["1366x768", "tablet"])
def test_vob_pages_are_accessible_and_fit_the_screen(open_page, viewport):
    _verifier()
    lead = _contacted_lead_of("counselor1")
    from leads.admissions.verification import verification_request

    vob = verification_request(
        lead=lead, by=lead.owner, data={"payer_name": "Local Health Plan"}
    )
    admitted = Lead.objects.filter(stage=Stage.ADMITTED, team__isnull=False).first()
    page = open_page(viewport)
    sign_in(page, "e2e_verifier")
    paths = (
        "/vob/",
        f"/vob/{vob.pk}/",
        f"/leads/{lead.pk}/vob/request/",
        f"/leads/{lead.pk}/prescreen/",
        f"/leads/{lead.pk}/consents/new/",
        f"/leads/{lead.pk}/refer-out/",
        f"/programs/?lead={lead.pk}",
        # A lead with the whole second half filled in by the demo data.
        f"/leads/{admitted.pk}/",
        f"/leads/{admitted.pk}/disclosures/",
    )
    for path in paths:
        page.goto(path)
        page.wait_for_load_state("networkidle")
        assert accessibility_violations(page) == [], path
        assert not overflows_horizontally(page), path
