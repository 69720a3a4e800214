"""42 CFR Part 2 consents, disclosures, referral out, and the lead page's card."""

import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.apps import apps
from django.core.exceptions import ValidationError
from django.test import RequestFactory

from crm.models import AuditEvent
from leads.admissions.consent import (
    REDISCLOSURE_NOTICE,
    TPO_RECIPIENTS,
    disclosure_record,
    disclosures_for,
    part2_consent_active,
    part2_consent_for,
    part2_consent_record,
    part2_consent_revoke,
)
from leads.admissions.referral import lead_refer_out
from leads.admissions.ui.part2 import card_context
from leads.models import (
    Activity,
    Disclosure,
    InsuranceVerification,
    Lead,
    Part2Consent,
    PartnerFacility,
    Referral,
    Stage,
)
from leads.services import lead_transition

from ..factories import make_lead

NEW_YORK = ZoneInfo("America/New_York")
NOON_NY = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=NEW_YORK)
HTMX = {"HTTP_HX_REQUEST": "true"}
MEMBER_ID = "XJH123456789"


@pytest.fixture(autouse=True)
def _noon_in_new_york():
    with time_machine.travel(NOON_NY, tick=False):
        yield


@pytest.fixture
def lead(team_a, counselor):
    return make_lead(
        team=team_a,
        owner=counselor,
        first_name="Ann",
        last_name="Baker",
        state="NY",
        insurance_payer="Aetna",
        insurance_member_id=MEMBER_ID,
    )


@pytest.fixture
def scheduled_lead(lead, counselor):
    for stage in (
        Stage.CONTACTED,
        Stage.INSURANCE_VERIFICATION,
        Stage.ADMISSION_SCHEDULED,
    ):
        lead = lead_transition(lead=lead, to=stage, by=counselor)
    return lead


@pytest.fixture
def harbor(db):
    return PartnerFacility.objects.create(
        name="Harbor Recovery Center", city="Tampa", state="FL"
    )


@pytest.fixture
def bayside(db):
    return PartnerFacility.objects.create(
        name="Bayside Clinic", city="Miami", state="FL"
    )


@pytest.fixture
def maya(client, counselor):
    client.force_login(counselor)
    return client


def consent_data(**overrides):
    return {
        "patient_name": "Ann Baker",
        "disclosing_party": "Sunrise Admissions",
        "information_described": "Intake pre-screen, insurance verification",
        "recipients": "Harbor Recovery Center",
        "purpose": "Referral for treatment",
        "expires_on": datetime.date(2027, 6, 1),
        "signed_by_name": "Ann Baker",
        "signed_at": NOON_NY - datetime.timedelta(hours=1),
        "signature_method": "electronic",
        "signer_is_patient": True,
        **overrides,
    }


def record(lead, by, **overrides) -> Part2Consent:
    return part2_consent_record(lead=lead, by=by, data=consent_data(**overrides))


def consent_post(**overrides):
    """What the consent form posts when filled in completely."""
    return {
        "patient_name": "Ann Baker",
        "disclosing_party": "Sunrise Admissions",
        "information_described": "Intake pre-screen, insurance verification",
        "recipients": "Harbor Recovery Center",
        "partner": "",
        "purpose": "Referral for treatment",
        "expires_on": "2027-06-01",
        "expires_on_event": "",
        "signed_by_name": "Ann Baker",
        "signed_at": "2026-12-01T11:30",
        "signature_method": "electronic",
        "signer_is_patient": "on",
        "signer_authority": "",
        **overrides,
    }


def errors_of(excinfo) -> dict:
    return excinfo.value.message_dict


# --- Recording a consent -------------------------------------------------------------


def test_consent_form_records_every_element(lead, maya, counselor):
    response = maya.post(f"/leads/{lead.pk}/consents/new/", consent_post())

    assert response.status_code == 302
    assert response["Location"] == f"/leads/{lead.pk}/#card-part2"
    consent = Part2Consent.objects.get(lead=lead)
    assert consent.recipients == "Harbor Recovery Center"
    assert consent.expires_on == datetime.date(2027, 6, 1)
    # Typed in the lead's own time zone (New York).
    assert consent.signed_at == NOON_NY - datetime.timedelta(minutes=30)
    assert consent.recorded_by == counselor
    assert lead.activities.filter(kind=Activity.Kind.CONSENT).count() == 1
    assert AuditEvent.objects.filter(
        action="create", object_type="part2consent", object_id=str(consent.pk)
    ).exists()


def test_consent_form_page_shows_the_right_to_revoke(lead, maya):
    response = maya.get(f"/leads/{lead.pk}/consents/new/")

    html = response.content.decode()
    assert response.status_code == 200
    assert "I may revoke this consent in writing" in html
    assert "Ann Baker" not in html.split("<title>")[1].split("</title>")[0]


def test_consent_missing_elements_is_a_400_with_field_errors_and_nothing_written(
    lead, maya
):
    blank = dict.fromkeys(
        (
            "patient_name",
            "disclosing_party",
            "information_described",
            "recipients",
            "purpose",
            "expires_on",
            "signed_by_name",
            "signed_at",
            "signature_method",
        ),
        "",
    )

    response = maya.post(f"/leads/{lead.pk}/consents/new/", consent_post(**blank))

    assert response.status_code == 400
    form = response.context["form"]
    for name in (
        "patient_name",
        "disclosing_party",
        "information_described",
        "purpose",
        "signed_by_name",
        "signed_at",
        "signature_method",
    ):
        assert form.errors.get(name), name
    assert not Part2Consent.objects.exists()
    assert not lead.activities.filter(kind=Activity.Kind.CONSENT).exists()


def test_consent_without_recipients_or_expiry_is_refused_by_the_service(lead, maya):
    response = maya.post(
        f"/leads/{lead.pk}/consents/new/",
        consent_post(recipients="", expires_on="", expires_on_event=""),
    )

    assert response.status_code == 400
    form = response.context["form"]
    assert "Name to whom" in form.errors["recipients"][0]
    assert "expiry date or the event" in form.errors["expires_on"][0]
    assert not Part2Consent.objects.exists()


def test_someone_signing_for_the_patient_must_give_their_authority(lead, counselor):
    with pytest.raises(ValidationError) as refused:
        record(lead, counselor, signer_is_patient=False, signed_by_name="Rita Baker")

    assert "signer_authority" in errors_of(refused)
    consent = record(
        lead,
        counselor,
        signer_is_patient=False,
        signed_by_name="Rita Baker",
        signer_authority="Legal guardian",
    )
    assert consent.signer_authority == "Legal guardian"


def test_a_consent_cannot_be_signed_in_the_future_or_expire_before_signing(
    lead, counselor
):
    with pytest.raises(ValidationError) as future:
        record(lead, counselor, signed_at=NOON_NY + datetime.timedelta(hours=1))
    with pytest.raises(ValidationError) as backwards:
        record(
            lead,
            counselor,
            signed_at=NOON_NY - datetime.timedelta(days=10),
            expires_on=datetime.date(2026, 11, 1),
        )

    assert "future" in errors_of(future)["signed_at"][0]
    assert "before it was signed" in errors_of(backwards)["expires_on"][0]
    assert not Part2Consent.objects.exists()


def test_none_or_end_of_treatment_may_end_only_a_tpo_consent(lead, counselor):
    with pytest.raises(ValidationError) as refused:
        record(lead, counselor, expires_on=None, expires_on_event="none")

    assert "expires_on_event" in errors_of(refused)
    tpo = record(
        lead,
        counselor,
        recipients=TPO_RECIPIENTS,
        for_treatment_payment_operations=True,
        expires_on=None,
        expires_on_event="end of treatment",
    )
    assert part2_consent_active(tpo)


def test_a_partner_named_on_the_consent_is_its_recipient(lead, counselor, harbor):
    consent = record(lead, counselor, recipients="", partner=harbor)

    assert consent.recipients == "Harbor Recovery Center"
    assert part2_consent_for(lead=lead, partner=harbor) == consent


# --- Revoking, expiry, coverage -----------------------------------------------------


def test_revoking_keeps_the_consent_marked_revoked(lead, counselor, maya):
    consent = record(lead, counselor)

    response = maya.post(
        f"/leads/{lead.pk}/consents/{consent.pk}/revoke/",
        {"note": "Signed letter received today"},
        **HTMX,
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="card-part2"' in html
    assert "Revoked" in html
    consent.refresh_from_db()
    assert consent.revoked_at == NOON_NY
    assert consent.revoked_by == counselor
    assert consent.revocation_note == "Signed letter received today"
    assert part2_consent_for(lead=lead, recipient="Harbor Recovery Center") is None
    assert AuditEvent.objects.filter(
        action="update", object_type="part2consent", object_id=str(consent.pk)
    ).exists()


def test_revoking_without_a_note_is_a_400_and_changes_nothing(lead, counselor, maya):
    consent = record(lead, counselor)

    response = maya.post(
        f"/leads/{lead.pk}/consents/{consent.pk}/revoke/", {"note": ""}, **HTMX
    )

    assert response.status_code == 400
    assert "field-error" in response.content.decode()
    consent.refresh_from_db()
    assert consent.revoked_at is None


def test_a_consent_revoked_twice_is_refused(lead, counselor):
    consent = record(lead, counselor)
    part2_consent_revoke(consent=consent, by=counselor, note="Letter")

    with pytest.raises(ValidationError):
        part2_consent_revoke(consent=consent, by=counselor, note="Again")


def test_a_consent_lapses_after_its_expiry_date(lead, counselor):
    consent = record(lead, counselor, expires_on=datetime.date(2026, 12, 31))

    assert part2_consent_for(lead=lead, recipient="Harbor Recovery Center") == consent
    with time_machine.travel(datetime.datetime(2027, 1, 1, 9, 0, tzinfo=NEW_YORK)):
        assert not part2_consent_active(consent)
        assert part2_consent_for(lead=lead, recipient="Harbor Recovery Center") is None


def test_consent_covers_by_partner_by_name_or_as_tpo(lead, counselor, harbor, bayside):
    by_name = record(lead, counselor, recipients="HARBOR recovery center, Tampa")

    assert part2_consent_for(lead=lead, recipient="Harbor Recovery Center") == by_name
    assert part2_consent_for(lead=lead, partner=harbor) == by_name
    assert part2_consent_for(lead=lead, partner=bayside) is None
    tpo = record(
        lead,
        counselor,
        recipients=TPO_RECIPIENTS,
        for_treatment_payment_operations=True,
        expires_on=None,
        expires_on_event="none",
    )
    assert part2_consent_for(lead=lead, partner=bayside) == tpo
    # The consent naming the recipient wins over the general one.
    assert part2_consent_for(lead=lead, partner=harbor) == by_name


def test_a_disclosure_under_a_revoked_consent_is_refused(lead, counselor):
    consent = record(lead, counselor)
    part2_consent_revoke(consent=consent, by=counselor, note="Letter")

    with pytest.raises(ValidationError) as refused:
        disclosure_record(
            lead=lead,
            consent=consent,
            kind=Disclosure.Kind.INTAKE_PACKET,
            recipient="Harbor Recovery Center",
            purpose="Admission intake",
            information="Intake packet",
            format="pdf",
            by=counselor,
        )

    assert "revoked" in errors_of(refused)["consent"][0]
    assert not Disclosure.objects.exists()


# --- Exporting the intake packet -----------------------------------------------------


def export(client, lead, fmt="pdf", recipient="Harbor Recovery Center"):
    return client.post(
        f"/leads/{lead.pk}/intake-packet/",
        {"format": fmt, "recipient": recipient, "purpose": "Admission intake"},
    )


def test_export_without_consent_is_refused_and_writes_nothing(scheduled_lead, maya):
    response = export(maya, scheduled_lead)

    html = response.content.decode()
    assert response.status_code == 400
    assert "Content-Disposition" not in response
    assert "structured Part 2 consent on file" in html
    assert not Disclosure.objects.exists()
    assert not AuditEvent.objects.filter(action="export").exists()


def test_export_with_consent_downloads_a_pdf_and_records_the_disclosure(
    scheduled_lead, counselor, maya
):
    consent = record(scheduled_lead, counselor)

    response = export(maya, scheduled_lead)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["Cache-Control"] == "no-store"
    assert response.content.startswith(b"%PDF")
    disclosure = Disclosure.objects.get(lead=scheduled_lead)
    assert disclosure.kind == Disclosure.Kind.INTAKE_PACKET
    assert disclosure.consent == consent
    assert disclosure.recipient == "Harbor Recovery Center"
    assert disclosure.notice_text == REDISCLOSURE_NOTICE
    assert AuditEvent.objects.filter(
        action="export", lead_id=scheduled_lead.pk
    ).exists()


def test_export_as_json_is_a_fhir_bundle_carrying_the_notice(
    scheduled_lead, counselor, maya
):
    record(scheduled_lead, counselor)

    response = export(maya, scheduled_lead, fmt="json")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/fhir+json"
    bundle = response.json()
    assert bundle["resourceType"] == "Bundle"
    assert (
        "This record which has been disclosed to you"
        in (bundle["entry"][0]["resource"]["section"][0]["text"]["div"])
    )
    assert Disclosure.objects.get(lead=scheduled_lead).format == "json"


def test_export_to_a_recipient_the_consent_does_not_name_is_refused(
    scheduled_lead, counselor, maya
):
    record(scheduled_lead, counselor)

    response = export(maya, scheduled_lead, recipient="Bayside Clinic")

    assert response.status_code == 400
    assert not Disclosure.objects.exists()


def test_export_before_an_admission_is_scheduled_is_refused_with_the_reason(
    lead, counselor, maya
):
    record(lead, counselor)

    response = export(maya, lead)

    assert response.status_code == 400
    assert "admission is scheduled" in response.content.decode()
    assert not Disclosure.objects.exists()


# --- Referring out -------------------------------------------------------------------


def test_refer_out_needs_a_consent_covering_that_partner(
    lead, counselor, maya, harbor, bayside
):
    record(lead, counselor, recipients="", partner=bayside)

    response = maya.post(
        f"/leads/{lead.pk}/refer-out/",
        {"partner": harbor.pk, "reason": "Needs detox we do not offer"},
    )

    assert response.status_code == 400
    assert "structured Part 2 consent on file" in response.content.decode()
    lead.refresh_from_db()
    assert lead.stage == Stage.NEW
    assert not Referral.objects.exists()
    assert not Disclosure.objects.exists()


def test_refer_out_closes_the_lead_and_records_the_disclosure(
    lead, counselor, maya, harbor
):
    InsuranceVerification.objects.create(
        lead=lead,
        requested_by=counselor,
        status=InsuranceVerification.Status.VERIFIED,
        completed_at=NOON_NY,
        payer_name="Aetna",
        member_id=MEMBER_ID,
        coverage_active="yes",
        network_status="out",
    )
    consent = record(lead, counselor, recipients="", partner=harbor)

    response = maya.post(
        f"/leads/{lead.pk}/refer-out/",
        {"partner": harbor.pk, "reason": "Needs detox we do not offer"},
    )

    assert response.status_code == 302
    lead.refresh_from_db()
    assert lead.stage == Stage.REFERRED_OUT
    assert lead.referred_to == "Harbor Recovery Center"
    referral = Referral.objects.get(lead=lead)
    assert referral.partner == harbor
    disclosure = referral.disclosure
    assert disclosure.kind == Disclosure.Kind.REFERRAL
    assert disclosure.consent == consent
    assert "Ann Baker" in disclosure.information_disclosed
    assert "Aetna" in disclosure.information_disclosed
    assert MEMBER_ID not in disclosure.information_disclosed


def test_refer_out_page_says_which_partners_a_consent_covers(
    lead, counselor, maya, harbor, bayside
):
    record(lead, counselor, recipients="", partner=harbor)

    response = maya.get(f"/leads/{lead.pk}/refer-out/")

    html = response.content.decode()
    assert response.status_code == 200
    assert "Harbor Recovery Center (Tampa, FL): consent #" in html
    assert "Bayside Clinic (Miami, FL): no consent covers it" in html


def test_a_closed_lead_cannot_be_referred_out(lead, counselor, harbor):
    record(lead, counselor, recipients="", partner=harbor)
    lead_transition(lead=lead, to=Stage.LOST, by=counselor, reason="spam")

    with pytest.raises(ValidationError):
        lead_refer_out(lead=lead, partner=harbor, reason="x", by=counselor)

    assert not Disclosure.objects.exists()


# --- Accounting, card, access --------------------------------------------------------


def test_accounting_of_disclosures_lists_every_disclosure(
    scheduled_lead, counselor, maya
):
    record(scheduled_lead, counselor)
    export(maya, scheduled_lead)
    export(maya, scheduled_lead, fmt="json")

    response = maya.get(f"/leads/{scheduled_lead.pk}/disclosures/")

    html = response.content.decode()
    assert response.status_code == 200
    assert html.count("Intake packet export") == 2
    assert "Harbor Recovery Center" in html
    assert "Admission intake" in html
    assert "Maya Torres" in html
    assert "This record which has been disclosed to you" in html
    assert [d.format for d in disclosures_for(scheduled_lead)] == ["json", "pdf"]


def test_the_lead_page_shows_the_card_with_consents(lead, counselor, maya):
    record(lead, counselor)

    html = maya.get(f"/leads/{lead.pk}/").content.decode()

    assert 'id="card-part2"' in html
    assert "Consent #" in html
    assert "1 active consent" in html


def test_export_is_disabled_with_a_reason_when_no_consent_covers_it(
    scheduled_lead, maya
):
    html = maya.get(f"/leads/{scheduled_lead.pk}/").content.decode()

    assert "record the patient's signed consent" in html
    assert "disabled" in html.split('id="card-part2"')[1]


def test_the_card_takes_three_queries_at_most(
    scheduled_lead, counselor, django_assert_max_num_queries
):
    record(scheduled_lead, counselor)
    record(scheduled_lead, counselor, recipients="Bayside Clinic")
    request = RequestFactory().get("/")
    request.user = counselor
    lead = Lead.objects.get(pk=scheduled_lead.pk)

    with django_assert_max_num_queries(3):
        context = card_context(request=request, lead=lead)

    assert len(context["part2_consents"]) == 2
    assert context["part2_export_form"] is not None


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "consents/new/"),
        ("post", "consents/new/"),
        ("post", "consents/1/revoke/"),
        ("post", "intake-packet/"),
        ("get", "disclosures/"),
        ("get", "refer-out/"),
        ("post", "refer-out/"),
    ],
)
def test_another_teams_counselor_gets_404(
    lead, counselor, other_counselor, client, method, path
):
    record(lead, counselor)
    client.force_login(other_counselor)

    response = getattr(client, method)(f"/leads/{lead.pk}/{path}")

    assert response.status_code == 404


# --- No money anywhere ---------------------------------------------------------------

MONEY_WORDS = ("commission", "fee", "bounty", "payment", "payout", "kickback")
# HIPAA's "treatment, payment and health care operations": the consent's scope, not
# money changing hands.
NOT_MONEY = {"for_treatment_payment_operations"}


def test_no_admissions_model_has_a_field_for_paying_for_referrals():
    models = [
        model
        for model in apps.get_app_config("leads").get_models()
        if model.__module__ == "leads.admissions.models"
    ]

    assert {model.__name__ for model in models} >= {
        "Part2Consent",
        "Disclosure",
        "Referral",
        "PartnerFacility",
        "Admission",
    }
    for model in models:
        for field in model._meta.get_fields():
            if field.name in NOT_MONEY:
                continue
            assert not any(word in field.name.lower() for word in MONEY_WORDS), (
                f"{model.__name__}.{field.name}"
            )
