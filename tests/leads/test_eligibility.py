"""Electronic eligibility on a VOB: a 270 sent, a 271 read into the verification."""

import os
import stat
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.utils import timezone
from x12sdk.io import X12ModelReader

from crm.models import AuditEvent
from leads.admissions import clearinghouse
from leads.admissions.clearinghouse import ClearinghouseError
from leads.admissions.eligibility import (
    eligibility_inquiry_for,
    eligibility_request,
    eligibility_response_poll,
    eligibility_result_apply,
)
from leads.admissions.verification import verification_complete, verification_request
from leads.models import (
    Activity,
    InsuranceVerification,
    LevelOfCareBenefit,
    Payer,
)
from tests.factories import make_lead

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "x12"
MEMBER_ID = "XYZ123456789"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


@pytest.fixture(autouse=True)
def locmem_clearinghouse(settings):
    settings.CLEARINGHOUSE_BACKEND = "locmem"
    clearinghouse.reset()
    yield
    clearinghouse.reset()


@pytest.fixture
def payer(db):
    return Payer.objects.create(name="Example Health Plan", electronic_payer_id="EXHP1")


@pytest.fixture
def lead(team_a, counselor):
    return make_lead(
        team=team_a,
        owner=counselor,
        first_name="Casey",
        last_name="Doe",
        date_of_birth=date(1990, 1, 2),
    )


@pytest.fixture
def vob(lead, counselor, payer):
    return verification_request(
        lead=lead,
        by=counselor,
        data={"payer": payer, "member_id": MEMBER_ID, "group_number": "GRP100"},
    )


def verification_activities(lead) -> list[Activity]:
    return list(lead.activities.filter(kind=Activity.Kind.VERIFICATION))


def snapshot(vob: InsuranceVerification) -> dict:
    vob.refresh_from_db()
    return {
        field.name: getattr(vob, field.name)
        for field in InsuranceVerification._meta.concrete_fields
    }


# --- Sending the 270 ------------------------------------------------------------------


def test_request_sends_a_270_and_keeps_its_trace(vob, lead, counselor):
    trace = eligibility_request(verification=vob, by=counselor)

    assert vob.eligibility_trace == trace
    vob.refresh_from_db()
    assert vob.eligibility_trace == trace
    [sent] = clearinghouse.outbox
    assert sent.trace == trace
    with X12ModelReader(sent.text) as reader:
        [model] = list(reader.models())
    member = next(model.members())
    assert member.member.nm1_segment.identification_code == MEMBER_ID
    assert member.member.dmg_segment.date_time_period == date(1990, 1, 2)
    assert member.payer.nm1_segment.identification_code == "EXHP1"
    assert member.provider.nm1_segment.identification_code == "1234567893"
    assert f"TRN*1*{trace}*" in sent.text
    [activity] = verification_activities(lead)[:1]
    assert (
        activity.summary == "Electronic eligibility check sent to Example Health Plan"
    )
    assert activity.actor == counselor
    audit = AuditEvent.objects.get(action="export", object_id=str(vob.pk))
    assert audit.lead_id == lead.pk
    assert "member_id" in audit.fields
    # The status is the verifier's to move.
    assert vob.status == InsuranceVerification.Status.REQUESTED


def test_a_dependent_patient_is_asked_about_under_the_subscriber(
    lead, counselor, payer
):
    vob = verification_request(
        lead=lead,
        by=counselor,
        data={
            "payer": payer,
            "member_id": MEMBER_ID,
            "subscriber_name": "Morgan Doe",
            "subscriber_relationship": "child",
        },
    )

    eligibility_request(verification=vob, by=counselor)

    text = clearinghouse.outbox[0].text
    assert f"NM1*IL*1*DOE*MORGAN****MI*{MEMBER_ID}~" in text
    assert "HL*4*3*23*0~" in text
    assert "NM1*03*1*DOE*CASEY~" in text
    assert "DMG*D8*19900102~" in text
    assert "INS*N*19~" in text


def test_request_without_a_member_id_is_refused_and_sends_nothing(
    lead, counselor, payer
):
    vob = verification_request(lead=lead, by=counselor, data={"payer": payer})

    with pytest.raises(ValidationError) as raised:
        eligibility_request(verification=vob, by=counselor)

    assert "member_id" in raised.value.message_dict
    assert clearinghouse.outbox == []
    vob.refresh_from_db()
    assert vob.eligibility_trace == ""
    assert not AuditEvent.objects.filter(action="export").exists()


def test_a_payer_without_an_electronic_id_or_a_missing_birth_date_is_named(
    team_a, counselor
):
    lead = make_lead(team=team_a, owner=counselor, first_name="Casey", last_name="Doe")
    vob = verification_request(
        lead=lead,
        by=counselor,
        data={"payer_name": "Small Local Plan", "member_id": MEMBER_ID},
    )

    with pytest.raises(ValidationError) as raised:
        eligibility_inquiry_for(
            verification=vob,
            provider_name="Example Recovery Center",
            provider_npi="1234567893",
        )

    assert set(raised.value.message_dict) == {"payer", "subscriber_date_of_birth"}


def test_a_send_the_clearinghouse_refuses_records_nothing(vob, lead, counselor):
    clearinghouse.fail_next(ClearinghouseError("connection refused"))

    with pytest.raises(ValidationError) as raised:
        eligibility_request(verification=vob, by=counselor)

    assert "connection refused" in raised.value.message_dict[NON_FIELD_ERRORS][0]
    vob.refresh_from_db()
    assert vob.eligibility_trace == ""
    assert [a.summary for a in verification_activities(lead)] == [
        "VOB requested: Example Health Plan"
    ]


def test_a_completed_vob_is_not_checked_again(vob, counselor):
    InsuranceVerification.objects.filter(pk=vob.pk).update(
        status=InsuranceVerification.Status.UNABLE, completed_at=timezone.now()
    )

    with pytest.raises(ValidationError) as raised:
        eligibility_request(verification=vob, by=counselor)

    assert "status" in raised.value.message_dict
    assert clearinghouse.outbox == []


def test_the_file_outbox_writes_the_270_and_reads_the_271_beside_it(
    settings, tmp_path, vob, counselor
):
    settings.CLEARINGHOUSE_BACKEND = "leads.admissions.clearinghouse.FileOutboxBackend"
    settings.CLEARINGHOUSE_OUTBOX_DIR = tmp_path / "clearinghouse" / "outbox"

    trace = eligibility_request(verification=vob, by=counselor)

    sent = tmp_path / "clearinghouse" / "outbox" / f"{trace}.270"
    assert sent.read_text().startswith("ISA*")
    # The inquiry carries PHI: only the app's account may read it.
    assert stat.S_IMODE(os.stat(sent).st_mode) == 0o600
    assert eligibility_response_poll(verification=vob, by=counselor) is None

    inbox = tmp_path / "clearinghouse" / "inbox"
    inbox.mkdir()
    response = fixture("active_in_network.271").replace("VOB1-ACTIVE01", trace)
    (inbox / f"{trace}.271").write_text(response)
    result = eligibility_response_poll(verification=vob, by=counselor)

    assert result.coverage_active == "yes"
    vob.refresh_from_db()
    assert vob.deductible_individual_in_network_remaining == Decimal("1200.00")


# --- Reading the 271 ------------------------------------------------------------------


def test_applying_an_active_in_network_271_fills_the_vob_and_its_levels(
    vob, lead, counselor
):
    eligibility_result_apply(
        verification=vob, text=fixture("active_in_network.271"), by=counselor
    )

    vob.refresh_from_db()
    assert vob.method == InsuranceVerification.Method.ELECTRONIC
    assert vob.coverage_active == "yes"
    assert vob.network_status == "in"
    assert vob.deductible_individual_in_network == Decimal("1500.00")
    assert vob.deductible_individual_in_network_remaining == Decimal("1200.00")
    assert vob.deductible_family_in_network == Decimal("3000.00")
    assert vob.deductible_family_in_network_remaining == Decimal("2600.00")
    assert vob.deductible_individual_out_of_network == Decimal("3000.00")
    assert vob.oop_max_individual_in_network == Decimal("5000.00")
    assert vob.oop_max_individual_in_network_remaining == Decimal("4100.00")
    assert vob.coinsurance_in_network_percent == Decimal("20.00")
    assert vob.coinsurance_out_of_network_percent == Decimal("40.00")
    assert vob.copay_in_network == Decimal("40.00")
    assert vob.policy_effective_on == date(2026, 1, 1)
    assert vob.policy_terminates_on == date(2026, 12, 31)
    assert vob.eligibility_response.startswith("ISA*")
    assert "PRIOR AUTHORIZATION REQUIRED" in vob.result_notes
    assert vob.status == InsuranceVerification.Status.REQUESTED
    benefits = {b.level_of_care: b for b in vob.benefits.all()}
    assert set(benefits) == {"detox", "residential", "php", "iop", "outpatient"}
    assert benefits["detox"].covered == "yes"
    assert benefits["detox"].prior_auth_required == "yes"
    assert benefits["detox"].in_network == "yes"
    assert benefits["iop"].copay == Decimal("40.00")
    # Nobody answered for PHP: unknown, never "not covered".
    assert benefits["php"].covered == "unknown"
    assert verification_activities(lead)[0].summary == (
        "Electronic eligibility response from Example Health Plan: "
        "coverage active, in network"
    )


def test_an_inactive_271_marks_the_coverage_and_every_level_not_covered(vob, counselor):
    eligibility_result_apply(
        verification=vob, text=fixture("inactive.271"), by=counselor
    )

    vob.refresh_from_db()
    assert vob.coverage_active == "no"
    assert vob.policy_terminates_on == date(2025, 12, 31)
    assert set(vob.benefits.values_list("covered", flat=True)) == {"no"}


def test_out_of_network_residential_with_auth_and_a_day_limit(vob, counselor):
    eligibility_result_apply(
        verification=vob, text=fixture("out_of_network_auth.271"), by=counselor
    )

    vob.refresh_from_db()
    assert vob.network_status == "out"
    assert vob.deductible_individual_out_of_network == Decimal("6000.00")
    assert vob.deductible_individual_in_network is None
    assert "EXAMPLE BEHAVIORAL HEALTH" in vob.utilization_review_contact
    residential = vob.benefits.get(level_of_care="residential")
    assert residential.covered == "yes"
    assert residential.prior_auth_required == "yes"
    assert residential.in_network == "no"
    assert residential.day_limit == 30
    assert "22 days remaining" in residential.notes
    assert vob.benefits.get(level_of_care="iop").visit_limit == 20


def test_an_aaa_rejection_is_noted_and_leaves_coverage_unknown(vob, lead, counselor):
    result = eligibility_result_apply(
        verification=vob, text=fixture("aaa_rejection.271"), by=counselor
    )

    assert result.rejections[0].code == "72"
    vob.refresh_from_db()
    assert vob.coverage_active == "unknown"
    assert "72 member id invalid or missing (correct and resubmit)" in (
        vob.result_notes
    )
    assert verification_activities(lead)[0].summary == (
        "Electronic eligibility response from Example Health Plan: the payer could "
        "not answer (72 member id invalid or missing)"
    )


def test_policy_dates_follow_the_payer_over_an_older_card(vob, counselor):
    vob.policy_effective_on = date(2024, 1, 1)
    vob.policy_terminates_on = date(2025, 6, 30)
    vob.save()

    # The 271 gives a plan begin date (DTP 346) and no end.
    eligibility_result_apply(
        verification=vob, text=fixture("dependent_merge.271"), by=counselor
    )

    vob.refresh_from_db()
    assert vob.policy_effective_on == date(2026, 1, 1)
    assert vob.policy_terminates_on is None


def test_a_malformed_271_writes_nothing(vob, lead, counselor):
    before = snapshot(vob)
    activities = len(verification_activities(lead))
    audits = AuditEvent.objects.count()
    text = fixture("active_in_network.271").replace("SE*34*", "SE*33*")

    with pytest.raises(ValidationError) as raised:
        eligibility_result_apply(verification=vob, text=text, by=counselor)

    assert raised.value.message_dict == {
        "response": [
            "segment count in SE does not match: SE says 33, the transaction has 34"
        ]
    }
    assert snapshot(vob) == before
    assert not LevelOfCareBenefit.objects.filter(verification=vob).exists()
    assert len(verification_activities(lead)) == activities
    assert AuditEvent.objects.count() == audits


def test_a_later_271_replaces_the_summary_and_keeps_what_it_does_not_state(
    vob, counselor
):
    vob.result_notes = "Rep said SUD benefits are carved out."
    vob.copay_out_of_network = Decimal("75.00")
    vob.save()
    LevelOfCareBenefit.objects.create(
        verification=vob, level_of_care="php", covered="yes", notes="From a call."
    )

    eligibility_result_apply(
        verification=vob, text=fixture("active_in_network.271"), by=counselor
    )
    eligibility_result_apply(
        verification=vob, text=fixture("inactive.271"), by=counselor
    )

    vob.refresh_from_db()
    assert vob.copay_out_of_network == Decimal("75.00")
    assert vob.result_notes.startswith("Rep said SUD benefits are carved out.")
    # A second 271 replaces the first one's summary instead of adding another.
    assert vob.result_notes.count("Electronic eligibility (271)") == 1
    assert "VOB2-INACTIVE01" in vob.result_notes
    assert "VOB1-ACTIVE01" not in vob.result_notes
    # What the second 271 does not state stays as the first one left it.
    assert vob.deductible_individual_in_network == Decimal("1500.00")
    assert vob.coverage_active == "no"
    # The inactive plan speaks for every level, the call's PHP answer included.
    assert vob.benefits.get(level_of_care="php").covered == "no"


def test_a_level_the_271_is_silent_on_keeps_the_verifiers_answer(vob, counselor):
    LevelOfCareBenefit.objects.create(
        verification=vob, level_of_care="php", covered="yes", notes="From a call."
    )

    eligibility_result_apply(
        verification=vob, text=fixture("active_in_network.271"), by=counselor
    )

    php = vob.benefits.get(level_of_care="php")
    assert (php.covered, php.notes) == ("yes", "From a call.")
    assert vob.benefits.get(level_of_care="detox").covered == "yes"


def test_the_same_271_applied_twice_is_written_once(vob, lead, counselor):
    for _ in range(2):
        eligibility_result_apply(
            verification=vob, text=fixture("active_in_network.271"), by=counselor
        )

    responses = [
        a
        for a in verification_activities(lead)
        if a.summary.startswith("Electronic eligibility response")
    ]
    assert len(responses) == 1


def test_a_vob_filled_from_a_271_can_be_completed_as_verified(vob, counselor):
    eligibility_result_apply(
        verification=vob, text=fixture("out_of_network_auth.271"), by=counselor
    )

    done = verification_complete(
        verification=vob,
        by=counselor,
        outcome=InsuranceVerification.Status.VERIFIED,
    )

    assert done.status == InsuranceVerification.Status.VERIFIED
    assert done.method == InsuranceVerification.Method.ELECTRONIC


def test_the_member_id_never_reaches_the_audit_trail_or_the_timeline(
    vob, lead, counselor
):
    trace = eligibility_request(verification=vob, by=counselor)
    response = fixture("active_in_network.271").replace("VOB1-ACTIVE01", trace)
    clearinghouse.queue_response(trace=trace, text=response)
    eligibility_response_poll(verification=vob, by=counselor)

    events = AuditEvent.objects.filter(lead_id=lead.pk)
    assert events.filter(action="update", detail__contains="271").exists()
    for event in events:
        assert MEMBER_ID not in f"{event.detail} {event.fields}"
        assert "19900102" not in event.detail
    for activity in lead.activities.all():
        assert MEMBER_ID not in f"{activity.summary} {activity.body} {activity.data}"


# --- Polling --------------------------------------------------------------------------


def test_polling_applies_the_response_once(vob, lead, counselor):
    trace = eligibility_request(verification=vob, by=counselor)
    assert eligibility_response_poll(verification=vob, by=counselor) is None

    response = fixture("out_of_network_auth.271").replace("VOB3-OONAUTH01", trace)
    clearinghouse.queue_response(trace=trace, text=response)
    first = eligibility_response_poll(verification=vob, by=counselor)
    second = eligibility_response_poll(verification=vob, by=counselor)

    assert first.network_status == second.network_status == "out"
    responses = [
        a
        for a in verification_activities(lead)
        if a.summary.startswith("Electronic eligibility response")
    ]
    assert len(responses) == 1


def test_polling_refuses_a_response_to_another_inquiry(vob, counselor):
    trace = eligibility_request(verification=vob, by=counselor)
    clearinghouse.queue_response(trace=trace, text=fixture("active_in_network.271"))

    with pytest.raises(ValidationError) as raised:
        eligibility_response_poll(verification=vob, by=counselor)

    assert "another eligibility inquiry" in raised.value.message_dict["response"][0]
    vob.refresh_from_db()
    assert vob.method == ""


def test_polling_before_any_inquiry_says_so(vob, counselor):
    with pytest.raises(ValidationError) as raised:
        eligibility_response_poll(verification=vob, by=counselor)

    assert "eligibility_trace" in raised.value.message_dict
