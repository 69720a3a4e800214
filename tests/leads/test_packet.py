"""The intake packet: what it gathers, its FHIR Bundle and PDF, and its export."""

import base64
import datetime
import json
import logging
import re
import zlib
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import ValidationError

from crm.models import AuditEvent
from leads.admissions.consent import (
    REDISCLOSURE_NOTICE,
    part2_consent_record,
    part2_consent_revoke,
)
from leads.admissions.packet import (
    intake_packet,
    intake_packet_export,
    packet_fhir_json,
    packet_pdf,
)
from leads.models import (
    Activity,
    Admission,
    Authorization,
    CallerRelationship,
    Disclosure,
    InsuranceVerification,
    LevelOfCareBenefit,
    Payer,
    PreScreen,
    Program,
    Stage,
)
from leads.services import lead_activity_record, lead_transition

from ..factories import make_lead

NEW_YORK = ZoneInfo("America/New_York")
NOON_NY = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=NEW_YORK)
MEMBER_ID = "XJH123456789"
SMS_BODY = "Hi Ann, your bed at Harbor is ready"


@pytest.fixture(autouse=True)
def _noon_in_new_york():
    with time_machine.travel(NOON_NY, tick=False):
        yield


@pytest.fixture
def program(db):
    return Program.objects.create(
        name="Harbor Residential",
        facility_name="Harbor Recovery Center",
        city="Tampa",
        state="FL",
        levels_of_care=["residential", "detox"],
        capacity=20,
        open_beds=4,
    )


@pytest.fixture
def lead(team_a, counselor, program):
    """A lead called in by her mother, screened, verified and scheduled to admit."""
    lead = make_lead(
        team=team_a,
        owner=counselor,
        first_name="Ann",
        last_name="Baker",
        state="NY",
        email="ann@example.org",
        date_of_birth=datetime.date(1990, 4, 2),
        caller_relationship=CallerRelationship.PARENT,
        caller_first_name="Rita",
        caller_last_name="Baker",
        caller_phone="+12125550199",
        patient_consents_to_caller="yes",
    )
    for stage in (
        Stage.CONTACTED,
        Stage.INSURANCE_VERIFICATION,
        Stage.ADMISSION_SCHEDULED,
    ):
        lead = lead_transition(lead=lead, to=stage, by=counselor)
    PreScreen.objects.create(
        lead=lead, version=1, created_by=counselor, medications="none"
    )
    PreScreen.objects.create(
        lead=lead,
        version=2,
        created_by=counselor,
        substances=[{"substance": "alcohol", "route": "oral", "frequency": "daily"}],
        withdrawal_risk="severe",
        detox_needed="yes",
        suicidal_thoughts="no",
        overdose_last_30_days="no",
        asam_intoxication_withdrawal=3,
        level_of_care_indicated="3.7",
    )
    payer, _ = Payer.objects.get_or_create(name="Aetna")
    vob = InsuranceVerification.objects.create(
        lead=lead,
        requested_by=counselor,
        status=InsuranceVerification.Status.VERIFIED,
        completed_at=NOON_NY - datetime.timedelta(hours=2),
        completed_by=counselor,
        payer=payer,
        plan_type="ppo",
        member_id=MEMBER_ID,
        group_number="GRP-77",
        subscriber_name="Ann Baker",
        method=InsuranceVerification.Method.PHONE,
        payer_rep_name="Lee",
        call_reference="REF-1",
        coverage_active="yes",
        network_status="in",
        deductible_individual_in_network=Decimal("1500.00"),
        deductible_individual_in_network_remaining=Decimal("400.00"),
    )
    LevelOfCareBenefit.objects.create(
        verification=vob,
        level_of_care="residential",
        covered="yes",
        prior_auth_required="yes",
        in_network="yes",
        day_limit=30,
        coinsurance_percent=Decimal("20"),
    )
    Authorization.objects.create(
        lead=lead,
        verification=vob,
        auth_number="AUTH-9",
        level_of_care="residential",
        starts_on=datetime.date(2026, 12, 2),
        units_authorized=7,
        created_by=counselor,
    )
    Admission.objects.create(
        lead=lead,
        program=program,
        level_of_care="residential",
        scheduled_for=NOON_NY + datetime.timedelta(days=1),
        status_changed_by=counselor,
        created_by=counselor,
    )
    lead_activity_record(
        lead=lead,
        kind=Activity.Kind.SMS,
        actor=counselor,
        summary="Text sent by Maya Torres",
        body=SMS_BODY,
    )
    return lead


def record_consent(lead, by, **overrides):
    data = {
        "patient_name": "Ann Baker",
        "disclosing_party": "Sunrise Admissions",
        "information_described": "Intake pre-screen, insurance verification, "
        "admission dates",
        "recipients": "Harbor Recovery Center",
        "purpose": "Admission intake",
        "expires_on": datetime.date(2027, 6, 1),
        "signed_by_name": "Ann Baker",
        "signed_at": NOON_NY - datetime.timedelta(hours=1),
        "signature_method": "electronic",
        "signer_is_patient": True,
        **overrides,
    }
    return part2_consent_record(lead=lead, by=by, data=data)


def resources(bundle, kind):
    return [
        entry["resource"]
        for entry in bundle["entry"]
        if entry["resource"]["resourceType"] == kind
    ]


def pdf_text(content: bytes) -> str:
    """The page content streams of a reportlab PDF (ASCII85, then Flate), decoded."""
    streams = re.findall(rb"\nstream\r?\n(.*?)endstream", content, re.S)
    text = []
    for stream in streams:
        data = stream.strip()
        if data.endswith(b"~>"):
            data = base64.a85decode(data[:-2])
        try:
            data = zlib.decompress(data)
        except zlib.error:
            continue
        text.append(data.decode("latin-1"))
    return "\n".join(text)


# --- Gathering -----------------------------------------------------------------------


def test_packet_gathers_the_current_prescreen_vob_admissions_and_consents(
    lead, counselor
):
    record_consent(lead, counselor)

    packet = intake_packet(lead=lead)

    assert packet["patient"]["name"] == "Ann Baker"
    assert packet["caller"]["name"] == "Rita Baker"
    assert packet["caller"]["patient_consents_label"] == "Yes"
    assert packet["prescreen"]["version"] == 2
    questions = {
        answer["question"]: answer["value"]
        for group in packet["prescreen"]["groups"]
        for answer in group["answers"]
    }
    assert questions["Withdrawal risk"] == "Severe (seizures, DTs history)"
    assert questions["1. Intoxication and withdrawal"] == 3
    assert questions["Substances"] == ["Alcohol, Oral, daily"]
    assert packet["verification"]["member_id"] == MEMBER_ID
    assert packet["verification"]["benefits"][0]["day_limit"] == 30
    assert packet["authorizations"][0]["auth_number"] == "AUTH-9"
    assert packet["admissions"][0]["facility_name"] == "Harbor Recovery Center"
    assert [consent["status"] for consent in packet["consents"]] == ["active"]


def test_packet_timeline_has_summaries_but_never_message_bodies(lead, counselor):
    packet = intake_packet(lead=lead)

    summaries = [row["summary"] for row in packet["timeline"]]
    assert "Text sent by Maya Torres" in summaries
    assert SMS_BODY not in json.dumps(packet, default=str)
    assert set(packet["timeline"][0]) == {
        "at",
        "kind",
        "kind_label",
        "summary",
        "actor",
    }


# --- FHIR ----------------------------------------------------------------------------


def test_fhir_bundle_is_a_labelled_collection_with_the_notice_first(lead, counselor):
    record_consent(lead, counselor)

    bundle = packet_fhir_json(intake_packet(lead=lead), notice=REDISCLOSURE_NOTICE)

    assert bundle["resourceType"] == "Bundle"
    assert bundle["type"] == "collection"
    codes = {label["code"] for label in bundle["meta"]["security"]}
    assert {"R", "42CFRPart2", "NORDSCLCD"} <= codes
    composition = bundle["entry"][0]["resource"]
    assert composition["resourceType"] == "Composition"
    notice_section = composition["section"][0]
    assert "42 CFR §2.32" in notice_section["title"]
    assert (
        "This record which has been disclosed to you" in notice_section["text"]["div"]
    )
    assert notice_section["text"]["div"].startswith(
        '<div xmlns="http://www.w3.org/1999/xhtml">'
    )
    # Every section points at entries of the Bundle.
    urls = {entry["fullUrl"] for entry in bundle["entry"]}
    for section in composition["section"]:
        for ref in section.get("entry", []):
            assert ref["reference"] in urls
    json.dumps(bundle)  # serialisable as it stands


def test_fhir_bundle_carries_each_part_of_the_packet(lead, counselor):
    record_consent(lead, counselor)

    bundle = packet_fhir_json(intake_packet(lead=lead), notice=REDISCLOSURE_NOTICE)

    kinds = {entry["resource"]["resourceType"] for entry in bundle["entry"]}
    assert {
        "Patient",
        "RelatedPerson",
        "QuestionnaireResponse",
        "Coverage",
        "CoverageEligibilityResponse",
        "ClaimResponse",
        "Encounter",
        "Consent",
        "Organization",
    } <= kinds
    (patient,) = resources(bundle, "Patient")
    assert patient["birthDate"] == "1990-04-02"
    assert patient["name"][0]["family"] == "Baker"
    (caller,) = resources(bundle, "RelatedPerson")
    assert caller["relationship"][0]["coding"][0]["code"] == "PRN"
    (coverage,) = resources(bundle, "Coverage")
    # The member id in full: this is the disclosure the consent allows.
    assert coverage["subscriberId"] == MEMBER_ID
    (eligibility,) = resources(bundle, "CoverageEligibilityResponse")
    items = eligibility["insurance"][0]["item"]
    residential = next(i for i in items if i["category"]["text"] == "Residential")
    assert residential["authorizationRequired"] is True
    (encounter,) = resources(bundle, "Encounter")
    assert encounter["status"] == "planned"
    (answers,) = resources(bundle, "QuestionnaireResponse")
    asam = next(item for item in answers["item"] if item["linkId"] == "asam")
    assert asam["item"][0]["answer"] == [{"valueInteger": 3}]


def test_fhir_consent_has_provision_period_and_revocation(lead, counselor):
    consent = record_consent(lead, counselor)
    part2_consent_revoke(consent=consent, by=counselor, note="Letter received")

    bundle = packet_fhir_json(intake_packet(lead=lead), notice=REDISCLOSURE_NOTICE)

    (resource,) = resources(bundle, "Consent")
    assert resource["status"] == "inactive"
    assert resource["provision"]["type"] == "permit"
    period = resource["provision"]["period"]
    signed_at = NOON_NY - datetime.timedelta(hours=1)
    assert datetime.datetime.fromisoformat(period["start"]) == signed_at
    assert datetime.datetime.fromisoformat(period["end"]) == NOON_NY
    assert resource["provision"]["actor"][0]["reference"]["display"] == (
        "Harbor Recovery Center"
    )
    revocation = next(
        ext for ext in resource["extension"] if ext["url"].endswith("revocation")
    )
    assert {"url": "note", "valueString": "Letter received"} in revocation["extension"]


# --- PDF -----------------------------------------------------------------------------


def test_pdf_has_the_notice_atop_page_one_and_in_every_footer(lead, counselor):
    record_consent(lead, counselor)
    packet = intake_packet(lead=lead)
    # Enough timeline to run over several pages.
    packet["timeline"] *= 60

    content = packet_pdf(packet, notice=REDISCLOSURE_NOTICE)

    assert content.startswith(b"%PDF")
    pages = len(re.findall(rb"/Type /Page\b(?!s)", content))
    assert pages >= 3
    text = pdf_text(content)
    # "redisclose" occurs once in the notice: in the box on page 1 and each footer.
    assert text.count("redisclose") == pages + 1
    assert "Ann Baker" in text
    assert MEMBER_ID in text


# --- Export --------------------------------------------------------------------------


def test_export_records_the_disclosure_and_an_export_audit_line(
    lead, counselor, caplog
):
    consent = record_consent(lead, counselor)
    caplog.set_level(logging.INFO)

    filename, content_type, content = intake_packet_export(
        lead=lead,
        by=counselor,
        format="json",
        recipient="Harbor Recovery Center",
        purpose="Admission intake",
    )

    assert filename == f"intake-packet-lead-{lead.pk}-20261201.fhir.json"
    assert content_type == "application/fhir+json"
    bundle = json.loads(content)
    assert REDISCLOSURE_NOTICE.splitlines()[0] in json.dumps(bundle)
    disclosure = Disclosure.objects.get(lead=lead)
    assert disclosure.kind == Disclosure.Kind.INTAKE_PACKET
    assert disclosure.consent == consent
    assert disclosure.format == "json"
    assert disclosure.notice_text == REDISCLOSURE_NOTICE
    export = AuditEvent.objects.get(lead_id=lead.pk, action="export")
    assert MEMBER_ID not in export.detail
    assert MEMBER_ID not in caplog.text
    assert lead.activities.filter(kind=Activity.Kind.DISCLOSURE).exists()


def test_export_refused_without_a_covering_consent_writes_nothing(lead, counselor):
    record_consent(lead, counselor, recipients="Bayside Clinic")

    with pytest.raises(ValidationError) as refused:
        intake_packet_export(
            lead=lead,
            by=counselor,
            format="pdf",
            recipient="Harbor Recovery Center",
            purpose="Admission intake",
        )

    assert "structured Part 2 consent on file" in str(refused.value)
    assert not Disclosure.objects.exists()
    assert not AuditEvent.objects.filter(action="export").exists()


def test_a_tpo_consent_covers_any_treating_program(lead, counselor):
    record_consent(
        lead,
        counselor,
        recipients="my treating providers, health plans, third-party payers, and "
        "people helping to operate this program",
        for_treatment_payment_operations=True,
        expires_on=None,
        expires_on_event="end of treatment",
    )

    _, _, content = intake_packet_export(
        lead=lead,
        by=counselor,
        format="pdf",
        recipient="Harbor Recovery Center",
        purpose="Admission intake",
    )

    assert content.startswith(b"%PDF")


def test_export_refused_before_an_admission_is_scheduled(team_a, counselor):
    lead = make_lead(team=team_a, owner=counselor)
    record_consent(lead, counselor)

    with pytest.raises(ValidationError) as refused:
        intake_packet_export(
            lead=lead,
            by=counselor,
            format="pdf",
            recipient="Harbor Recovery Center",
            purpose="Admission intake",
        )

    assert "admission is scheduled" in str(refused.value)
    assert not Disclosure.objects.exists()
