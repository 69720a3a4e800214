"""Program matching and the catalog page: which programs fit a lead, and why."""

import pytest
from django.contrib import admin
from django.urls import path
from django.utils import timezone

import leads.admissions.admin  # noqa: F401  (leads/admin.py imports it too)
from crm.models import AuditEvent
from leads.admissions.programs import PayerFit, programs_matching
from leads.models import (
    AsamLevel,
    InsuranceVerification,
    LevelOfCare,
    Payer,
    PreScreen,
    Program,
)

from ..factories import make_lead

pytestmark = pytest.mark.django_db

# The admin's URLs are read when a URLconf loads: this one is built after the
# catalog's admin registered, whichever module imported it first.
urlpatterns = [path("admin/", admin.site.urls)]


def program(name: str, **fields) -> Program:
    payers = fields.pop("payers", [])
    fields.setdefault("facility_name", f"{name} campus")
    fields.setdefault("city", "Austin")
    fields.setdefault("state", "TX")
    fields.setdefault("levels_of_care", ["residential"])
    fields.setdefault("capacity", 20)
    fields.setdefault("open_beds", 5)
    made = Program.objects.create(name=name, **fields)
    made.payers.set(payers)
    return made


@pytest.fixture
def aetna():
    return Payer.objects.get_or_create(name="Aetna")[0]


@pytest.fixture
def cigna():
    return Payer.objects.get_or_create(name="Cigna")[0]


@pytest.fixture
def lead(team_a, counselor):
    return make_lead(
        team=team_a,
        owner=counselor,
        state="NY",
        level_of_care=LevelOfCare.RESIDENTIAL,
    )


def verify(lead, by, *, payer=None, payer_name="", **result) -> InsuranceVerification:
    result.setdefault("status", InsuranceVerification.Status.VERIFIED)
    result.setdefault("coverage_active", "yes")
    done = result["status"] in InsuranceVerification.DONE_STATUSES
    return InsuranceVerification.objects.create(
        lead=lead,
        requested_by=by,
        payer=payer,
        payer_name=payer_name,
        completed_at=timezone.now() if done else None,
        **result,
    )


def names(matches) -> list[str]:
    return [match.program.name for match in matches]


def reasons(match) -> list[str]:
    return [reason.text for reason in match.reasons]


def by_name(matches, name: str):
    return next(match for match in matches if match.program.name == name)


# --- Level of care -------------------------------------------------------------------


def test_a_program_offering_the_leads_level_ranks_first_and_says_so(lead):
    program("Harbor IOP", levels_of_care=["iop"], open_beds=15)
    program("Harbor House", levels_of_care=["detox", "residential"])

    matches = programs_matching(lead=lead)

    assert names(matches) == ["Harbor House", "Harbor IOP"]
    assert by_name(matches, "Harbor House").fits
    assert "Offers Residential" in reasons(by_name(matches, "Harbor House"))
    iop = by_name(matches, "Harbor IOP")
    assert iop.offers_level is False
    assert not iop.fits
    assert "No Residential" in reasons(iop)


def test_the_pre_screens_asam_level_outranks_the_level_asked_for_at_intake(
    lead, counselor
):
    PreScreen.objects.create(
        lead=lead,
        version=1,
        created_by=counselor,
        level_of_care_indicated=AsamLevel.LEVEL_3_5,
    )
    PreScreen.objects.create(
        lead=lead,
        version=2,
        created_by=counselor,
        level_of_care_indicated=AsamLevel.LEVEL_2_1,
    )
    program("Harbor House", levels_of_care=["residential"])
    program("Harbor IOP", levels_of_care=["iop"])

    matches = programs_matching(lead=lead)

    # Version 2 is current: 2.1 is intensive outpatient.
    assert names(matches)[0] == "Harbor IOP"
    assert "Offers Intensive outpatient (IOP)" in reasons(matches[0])


def test_an_unsure_lead_is_not_matched_on_level(team_a, counselor):
    unsure = make_lead(team=team_a, owner=counselor, level_of_care=LevelOfCare.UNSURE)
    program("Harbor House")

    (match,) = programs_matching(lead=unsure)

    assert match.offers_level is None
    assert match.fits
    assert "Level of care not known yet" in reasons(match)


def test_a_level_given_replaces_the_leads_own(lead):
    program("Harbor House", levels_of_care=["residential"])
    program("Harbor IOP", levels_of_care=["iop"])

    matches = programs_matching(lead=lead, level_of_care="iop")

    assert names(matches)[0] == "Harbor IOP"


# --- Payer ---------------------------------------------------------------------------


def test_a_program_taking_the_verified_in_network_payer_ranks_first(
    lead, counselor, aetna, cigna
):
    verify(lead, counselor, payer=aetna, network_status="in")
    program("Cigna House", payers=[cigna], open_beds=10)
    program("Aetna House", payers=[aetna], open_beds=2)

    matches = programs_matching(lead=lead)

    assert names(matches) == ["Aetna House", "Cigna House"]
    first = matches[0]
    assert first.payer_fit == PayerFit.ACCEPTED
    assert "Takes Aetna (verified in network)" in reasons(first)
    second = matches[1]
    assert second.payer_fit == PayerFit.SELF_PAY
    assert not second.fits
    assert "Not Aetna: self-pay only" in reasons(second)


def test_a_program_taking_neither_the_payer_nor_self_pay_does_not_fit(
    lead, counselor, aetna
):
    verify(lead, counselor, payer=aetna)
    program("Strict House", accepts_self_pay=False)

    (match,) = programs_matching(lead=lead)

    assert match.payer_fit == PayerFit.NO
    assert not match.fits
    assert "Does not take Aetna" in reasons(match)


def test_a_payer_typed_in_counts_when_the_list_has_it(lead, counselor, aetna):
    verify(lead, counselor, payer_name="aetna")
    program("Aetna House", payers=[aetna])

    (match,) = programs_matching(lead=lead)

    assert match.payer_fit == PayerFit.ACCEPTED


def test_a_payer_not_on_the_list_is_unknown_and_does_not_block(lead, counselor):
    verify(lead, counselor, payer_name="Tiny Local Health Plan")
    program("Harbor House", accepts_self_pay=False)

    (match,) = programs_matching(lead=lead)

    assert match.payer_fit == PayerFit.UNKNOWN
    assert match.fits
    assert "Tiny Local Health Plan is not on the payer list: ask the program" in (
        reasons(match)
    )


def test_without_a_verification_the_payer_told_at_intake_is_used(
    team_a, counselor, aetna
):
    told = make_lead(
        team=team_a,
        owner=counselor,
        insurance_payer="Aetna",
        level_of_care=LevelOfCare.RESIDENTIAL,
    )
    program("Aetna House", payers=[aetna])

    (match,) = programs_matching(lead=told)

    assert match.payer_fit == PayerFit.ACCEPTED
    assert "Takes Aetna" in reasons(match)


def test_no_active_coverage_matches_on_self_pay(lead, counselor, aetna):
    verify(
        lead,
        counselor,
        payer=aetna,
        status=InsuranceVerification.Status.DENIED,
        coverage_active="no",
    )
    program("Cash House", accepts_self_pay=True)
    program("Insurance Only", payers=[aetna], accepts_self_pay=False)

    matches = programs_matching(lead=lead)

    assert names(matches) == ["Cash House", "Insurance Only"]
    assert matches[0].fits
    assert "Takes self-pay (no active coverage)" in reasons(matches[0])
    assert not matches[1].fits


def test_only_the_current_verification_counts(lead, counselor, aetna, cigna):
    verify(lead, counselor, payer=cigna, is_current=False)
    verify(lead, counselor, payer=aetna)
    program("Aetna House", payers=[aetna])

    (match,) = programs_matching(lead=lead)

    assert match.payer_fit == PayerFit.ACCEPTED


# --- State and beds ------------------------------------------------------------------


def test_a_program_not_admitting_from_the_leads_state_does_not_fit(lead):
    program("Texans Only", states_served=["TX"])
    program("Anyone", states_served=[])
    program("Northeast", states_served=["NY", "NJ"])

    matches = programs_matching(lead=lead)

    assert not by_name(matches, "Texans Only").fits
    assert "Does not admit from New York" in reasons(by_name(matches, "Texans Only"))
    assert "Admits from any state" in reasons(by_name(matches, "Anyone"))
    assert "Admits from New York" in reasons(by_name(matches, "Northeast"))
    assert names(matches)[-1] == "Texans Only"


def test_a_full_program_is_shown_but_ranked_last(lead):
    program("Full House", open_beds=0, capacity=10)
    program("Roomy", open_beds=1)

    matches = programs_matching(lead=lead)

    assert names(matches) == ["Roomy", "Full House"]
    full = matches[-1]
    assert full.is_full
    assert full.fits
    assert "Full: no open beds" in reasons(full)


def test_inactive_programs_are_left_out(lead):
    program("Closed Campus", is_active=False)

    assert programs_matching(lead=lead) == []


def test_matching_reads_two_queries_however_many_programs(
    lead, counselor, aetna, django_assert_num_queries
):
    verify(lead, counselor, payer=aetna)
    for n in range(12):
        program(f"Program {n}", payers=[aetna] if n % 2 else [])

    with django_assert_num_queries(2):
        matches = programs_matching(lead=lead)

    assert len(matches) == 12


# --- The page ------------------------------------------------------------------------


@pytest.fixture
def maya(client, counselor):
    client.force_login(counselor)
    return client


def test_the_catalog_lists_active_programs_with_payers_and_beds(maya, aetna):
    program("Harbor House", payers=[aetna], states_served=["TX", "OK"])
    program("Full House", open_beds=0)
    program("Closed Campus", is_active=False)

    response = maya.get("/programs/")

    html = response.content.decode()
    assert response.status_code == 200
    assert "Harbor House" in html
    assert "Aetna" in html
    assert "OK, TX" in html
    assert "Full" in html
    assert "Closed Campus" not in html


def test_the_catalog_filters_by_level_payer_state_and_open_beds(maya, aetna):
    program("Detox Aetna", levels_of_care=["detox"], payers=[aetna])
    program("Residential Aetna", payers=[aetna], states_served=["TX"])
    program("Residential Full", payers=[aetna], open_beds=0)
    program("Residential Other")

    response = maya.get(
        "/programs/",
        {
            "level_of_care": "residential",
            "payer": aetna.pk,
            "state": "NY",
            "open_beds_only": "on",
        },
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert "Detox Aetna" not in html
    assert "Residential Aetna" not in html  # Texas only
    assert "Residential Full" not in html
    assert "Residential Other" not in html  # no Aetna
    assert "No active program matches these filters." in html


def test_with_a_lead_the_page_ranks_programs_with_reasons_and_is_audited(
    maya, lead, counselor, aetna
):
    verify(lead, counselor, payer=aetna, network_status="in")
    program("Aetna House", payers=[aetna])
    program("Texans Only", states_served=["TX"])

    response = maya.get("/programs/", {"lead": lead.pk})

    html = response.content.decode()
    assert response.status_code == 200
    assert f"Programs for lead #{lead.pk}" in html
    assert html.index("Aetna House") < html.index("Texans Only")
    assert "Takes Aetna (verified in network)" in html
    assert "Does not admit from New York" in html
    assert lead.first_name not in html.split("<title>")[1].split("</title>")[0]
    assert AuditEvent.objects.filter(
        action="view", lead_id=lead.pk, actor=counselor, detail="program matches"
    ).exists()


def test_the_filters_replace_the_leads_own_values(maya, lead):
    program("Harbor IOP", levels_of_care=["iop"])

    response = maya.get("/programs/", {"lead": lead.pk, "level_of_care": "iop"})

    assert "Offers Intensive outpatient (IOP)" in response.content.decode()


def test_another_teams_lead_is_a_404_on_the_programs_page(
    maya, team_b, other_counselor
):
    foreign = make_lead(team=team_b, owner=other_counselor)

    assert maya.get("/programs/", {"lead": foreign.pk}).status_code == 404
    assert maya.get("/programs/", {"lead": "x"}).status_code == 404


def test_the_programs_page_needs_sign_in(client):
    response = client.get("/programs/")

    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_an_unknown_payer_filter_is_a_400_with_the_field_error(maya):
    response = maya.get("/programs/", {"payer": "999999"})

    assert response.status_code == 400
    assert "field-error" in response.content.decode()


# --- Admin ---------------------------------------------------------------------------


@pytest.mark.urls(__name__)
def test_admins_maintain_programs_with_levels_and_payers_ticked(
    client, admin_user, aetna
):
    client.force_login(admin_user)
    response = client.post(
        "/admin/leads/program/add/",
        {
            "name": "Harbor House",
            "facility_name": "Harbor campus",
            "city": "Austin",
            "state": "TX",
            "levels_of_care": ["residential", "detox"],
            "payers": [aetna.pk],
            "accepts_self_pay": "on",
            "states_served": ["TX", "OK"],
            "capacity": "10",
            "open_beds": "4",
            "is_active": "on",
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    made = Program.objects.get(name="Harbor House")
    assert made.levels_of_care == ["detox", "residential"]
    assert made.states_served == ["OK", "TX"]
    assert list(made.payers.all()) == [aetna]
    assert client.get("/admin/leads/program/").status_code == 200
    assert client.get("/admin/leads/payer/?q=aet").status_code == 200
    assert client.get("/admin/leads/partnerfacility/").status_code == 200
