"""Verification of benefits: request, queue, work, result, and what it protects."""

import datetime
import re
from pathlib import Path

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import connection

from crm.models import AuditEvent, User
from leads.admissions.verification import (
    verification_complete,
    verification_request,
    verification_start,
)
from leads.models import (
    Activity,
    Authorization,
    InsuranceCardImage,
    InsuranceVerification,
    Payer,
    Stage,
    VerificationEvent,
)
from leads.services import lead_transition
from notifications.models import Alert, AlertPreference

from ..factories import UserFactory, make_lead

UTC = datetime.UTC
T0 = datetime.datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
MEMBER_ID = "XQZ884412907"
Status = InsuranceVerification.Status


@pytest.fixture(autouse=True)
def _frozen():
    with time_machine.travel(T0, tick=False):
        yield


@pytest.fixture
def verifier(team_a):
    user = UserFactory(username="vera", first_name="Vera", role=User.Role.VERIFIER)
    team_a.members.add(user)
    return user


@pytest.fixture
def aetna(db):
    return Payer.objects.get(name="Aetna")


@pytest.fixture
def lead(team_a, counselor):
    lead = make_lead(
        team=team_a,
        owner=counselor,
        first_name="Ann",
        last_name="Baker",
        state="NY",
        insurance_payer="Aetna PPO",
        insurance_member_id=MEMBER_ID,
        insurance_group_number="G-100",
        date_of_birth=datetime.date(1990, 4, 2),
    )
    return lead_transition(lead=lead, to=Stage.CONTACTED, by=counselor)


def request_vob(lead, by, **data):
    return verification_request(lead=lead, by=by, data=data)


def verified_data(**overrides):
    data = {
        "method": InsuranceVerification.Method.PORTAL,
        "coverage_active": "yes",
        "network_status": "in",
        "deductible_individual_in_network": 1500,
        "deductible_individual_in_network_remaining": 1200,
    }
    data.update(overrides)
    return data


# --- Requesting ----------------------------------------------------------------------


def test_requesting_a_vob_moves_the_lead_and_takes_the_card_from_intake(
    lead, counselor, aetna
):
    vob = request_vob(lead, counselor, payer=aetna, request_note="Wants IOP")

    lead.refresh_from_db()
    assert lead.stage == Stage.INSURANCE_VERIFICATION
    assert vob.status == Status.REQUESTED
    assert vob.is_current
    assert vob.member_id == MEMBER_ID
    assert vob.group_number == "G-100"
    assert vob.patient_date_of_birth == datetime.date(1990, 4, 2)
    assert vob.requested_by == counselor
    assert list(vob.events.values_list("status", "by")) == [
        (Status.REQUESTED, counselor.pk)
    ]
    assert lead.activities.filter(
        kind=Activity.Kind.VERIFICATION, summary="VOB requested: Aetna"
    ).exists()


def test_a_new_lead_passes_through_contacted_on_the_way(team_a, counselor, aetna):
    lead = make_lead(team=team_a, owner=counselor)

    request_vob(lead, counselor, payer=aetna, member_id="M1")

    moves = list(
        lead.stage_changes.exclude(from_stage="").values_list("from_stage", "to_stage")
    )
    assert moves == [
        (Stage.NEW, Stage.CONTACTED),
        (Stage.CONTACTED, Stage.INSURANCE_VERIFICATION),
    ]


def test_a_second_request_becomes_current_and_keeps_the_first(lead, counselor, aetna):
    first = request_vob(lead, counselor, payer=aetna)
    second = request_vob(lead, counselor, payer_name="Local Health Plan")

    first.refresh_from_db()
    assert not first.is_current
    assert second.is_current
    assert lead.verifications.count() == 2


def test_request_without_a_payer_is_refused_and_writes_nothing(team_a, counselor):
    lead = make_lead(team=team_a, owner=counselor)
    lead = lead_transition(lead=lead, to=Stage.CONTACTED, by=counselor)

    with pytest.raises(ValidationError) as error:
        request_vob(lead, counselor, member_id="M1")

    assert "payer" in error.value.message_dict
    assert not InsuranceVerification.objects.exists()
    lead.refresh_from_db()
    assert lead.stage == Stage.CONTACTED


def test_request_page_bad_dates_answer_400_with_field_errors(
    client, counselor, lead, aetna
):
    client.force_login(counselor)

    response = client.post(
        f"/leads/{lead.pk}/vob/request/",
        {
            "payer": aetna.pk,
            "plan_type": "ppo",
            "subscriber_relationship": "self",
            "policy_effective_on": "2026-06-01",
            "policy_terminates_on": "2026-01-01",
        },
    )

    assert response.status_code == 400
    assert "The policy cannot end before it starts." in response.content.decode()
    assert not InsuranceVerification.objects.exists()


def test_request_page_creates_the_vob_and_returns_to_the_lead(
    client, counselor, lead, aetna
):
    client.force_login(counselor)

    response = client.post(
        f"/leads/{lead.pk}/vob/request/",
        {"payer": aetna.pk, "plan_type": "ppo", "subscriber_relationship": "self"},
    )

    assert response.status_code == 302
    assert response["Location"] == f"/leads/{lead.pk}/#card-verification"
    page = client.get(f"/leads/{lead.pk}/").content.decode()
    assert "Insurance verification" in page
    assert "Requested" in page
    # The member id is masked on the lead page.
    assert MEMBER_ID not in page
    assert "•••• " + MEMBER_ID[-4:] in page


def test_another_teams_counselor_cannot_request_or_open(
    client, other_counselor, lead, counselor, aetna
):
    vob = request_vob(lead, counselor, payer=aetna)
    client.force_login(other_counselor)

    assert client.get(f"/leads/{lead.pk}/vob/request/").status_code == 404
    assert client.get(f"/vob/{vob.pk}/").status_code == 404
    assert client.post(f"/vob/{vob.pk}/start/").status_code == 404
    vob.refresh_from_db()
    assert vob.status == Status.REQUESTED


# --- The queue and working a VOB -----------------------------------------------------


def test_queue_lists_waiting_vobs_oldest_first_with_their_age(
    client, verifier, counselor, team_a, aetna
):
    leads = []
    for minutes_ago in (10, 45, 5):
        with time_machine.travel(
            T0 - datetime.timedelta(minutes=minutes_ago), tick=False
        ):
            lead = make_lead(team=team_a, owner=counselor)
            request_vob(lead, counselor, payer=aetna)
            leads.append(lead)
    client.force_login(verifier)

    html = client.get("/vob/").content.decode()

    order = [int(pk) for pk in re.findall(r'id="vob-(\d+)"', html)]
    ages = [InsuranceVerification.objects.get(pk=pk).requested_at for pk in order]
    assert ages == sorted(ages)
    assert len(order) == 3
    assert "45 min" in html
    assert "1 past 30 min" in html


def test_two_verifiers_cannot_both_start_one_vob(lead, counselor, verifier, team_a):
    other = UserFactory(username="otto", role=User.Role.VERIFIER)
    team_a.members.add(other)
    vob = request_vob(lead, counselor, payer_name="Aetna")

    verification_start(verification=vob, by=verifier)
    with pytest.raises(ValidationError) as error:
        verification_start(verification=vob, by=other)

    assert "already working" in str(error.value)
    vob.refresh_from_db()
    assert vob.verifier == verifier


def test_completing_records_turnaround_and_tells_the_owner(
    lead, counselor, verifier, aetna
):
    vob = request_vob(lead, counselor, payer=aetna)
    with time_machine.travel(T0 + datetime.timedelta(minutes=5), tick=False):
        verification_start(verification=vob, by=verifier)
    with time_machine.travel(T0 + datetime.timedelta(minutes=22), tick=False):
        done = verification_complete(
            verification=vob,
            by=verifier,
            outcome=Status.VERIFIED,
            data=verified_data(),
            benefits={
                "iop": {"covered": "yes", "prior_auth_required": "no"},
                "residential": {
                    "covered": "yes",
                    "prior_auth_required": "yes",
                    "day_limit": 30,
                },
            },
        )

    assert done.status == Status.VERIFIED
    assert done.completed_at - done.requested_at == datetime.timedelta(minutes=22)
    assert list(done.events.values_list("status", flat=True)) == [
        Status.REQUESTED,
        Status.IN_PROGRESS,
        Status.VERIFIED,
    ]
    assert done.benefits.get(level_of_care="residential").day_limit == 30
    alert = Alert.objects.get(user=counselor, kind=AlertPreference.Kind.VOB_COMPLETED)
    assert alert.kind == AlertPreference.Kind.VOB_COMPLETED
    assert "22 min" in alert.text
    assert "Ann" not in alert.text
    activity = lead.activities.filter(kind=Activity.Kind.VERIFICATION).first()
    assert activity.summary == "VOB verified: Aetna, in network (turnaround 22 min)"


@pytest.mark.parametrize(
    ("outcome", "data", "field"),
    [
        (Status.VERIFIED, {"coverage_active": "yes"}, "method"),
        (Status.VERIFIED, {"method": "portal"}, "coverage_active"),
        (
            Status.VERIFIED,
            {"method": "phone", "coverage_active": "yes", "payer_rep_name": "Lee"},
            "call_reference",
        ),
        (Status.DENIED, {"method": "portal", "coverage_active": "no"}, "result_notes"),
        (Status.UNABLE, {"method": "phone"}, "result_notes"),
        (
            Status.VERIFIED,
            verified_data(deductible_individual_in_network_remaining=9000),
            "deductible_individual_in_network_remaining",
        ),
        (
            Status.VERIFIED,
            verified_data(coinsurance_in_network_percent=120),
            "coinsurance_in_network_percent",
        ),
    ],
)
def test_an_incomplete_result_is_refused_and_the_vob_stays_open(
    lead, counselor, verifier, outcome, data, field
):
    vob = request_vob(lead, counselor, payer_name="Aetna")

    with pytest.raises(ValidationError) as error:
        verification_complete(verification=vob, by=verifier, outcome=outcome, data=data)

    assert field in error.value.message_dict
    vob.refresh_from_db()
    assert vob.status == Status.REQUESTED
    assert vob.completed_at is None
    assert not VerificationEvent.objects.exclude(status=Status.REQUESTED).exists()


def test_a_done_vob_cannot_be_completed_again(lead, counselor, verifier):
    vob = request_vob(lead, counselor, payer_name="Aetna")
    verification_complete(
        verification=vob,
        by=verifier,
        outcome=Status.DENIED,
        data={"method": "portal", "result_notes": "Terminated 2026-10-31"},
    )

    with pytest.raises(ValidationError):
        verification_complete(
            verification=vob, by=verifier, outcome=Status.VERIFIED, data=verified_data()
        )


def test_work_page_completes_a_vob_from_the_form(client, lead, counselor, verifier):
    vob = request_vob(lead, counselor, payer_name="Aetna")
    client.force_login(verifier)
    form = {
        "action": "verified",
        "payer_name": "Aetna",
        "plan_type": "ppo",
        "subscriber_relationship": "self",
        "method": "phone",
        "payer_rep_name": "Lee",
        "call_reference": "REF-123",
        "coverage_active": "yes",
        "network_status": "out",
        "not_a_guarantee": "on",
        "deductible_individual_out_of_network": "5000",
        "deductible_individual_out_of_network_remaining": "5000",
    }
    for level in ("detox", "residential", "php", "iop", "outpatient"):
        form.update(
            {
                f"{level}-covered": "unknown",
                f"{level}-prior_auth_required": "unknown",
                f"{level}-in_network": "unknown",
            }
        )
    form["residential-covered"] = "yes"
    form["residential-prior_auth_required"] = "yes"

    response = client.post(f"/vob/{vob.pk}/", form)

    assert response.status_code == 302
    vob.refresh_from_db()
    assert vob.status == Status.VERIFIED
    assert vob.network_status == "out"
    assert vob.call_reference == "REF-123"
    assert list(vob.benefits.values_list("level_of_care", flat=True)) == ["residential"]
    page = client.get(f"/vob/{vob.pk}/").content.decode()
    assert "$5,000.00" in page


def test_work_page_bad_amount_answers_400_and_changes_nothing(
    client, lead, counselor, verifier
):
    vob = request_vob(lead, counselor, payer_name="Aetna")
    client.force_login(verifier)

    response = client.post(
        f"/vob/{vob.pk}/",
        {
            "action": "save",
            "payer_name": "Aetna",
            "plan_type": "ppo",
            "subscriber_relationship": "self",
            "coverage_active": "yes",
            "network_status": "in",
            "copay_in_network": "-20",
            "iop-covered": "maybe",
        },
    )

    assert response.status_code == 400
    html = response.content.decode()
    assert "Amounts cannot be negative." in html or "copay" in html.lower()
    vob.refresh_from_db()
    assert vob.copay_in_network is None
    assert vob.coverage_active == "unknown"
    assert not vob.benefits.exists()


# --- What it protects ----------------------------------------------------------------


def test_member_id_and_birth_date_are_encrypted_at_rest(lead, counselor):
    vob = request_vob(lead, counselor, payer_name="Aetna", secondary_member_id="SEC-55")

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT member_id, patient_date_of_birth, secondary_member_id "
            "FROM leads_insuranceverification WHERE id = %s",
            [vob.pk],
        )
        member_id, birth_date, secondary = cursor.fetchone()

    assert MEMBER_ID not in member_id
    assert member_id.startswith("fernet:")
    assert "1990" not in birth_date
    assert "SEC-55" not in secondary
    vob.refresh_from_db()
    assert vob.member_id == MEMBER_ID


def test_the_audit_trail_names_fields_never_their_values(lead, counselor, verifier):
    vob = request_vob(lead, counselor, payer_name="Aetna")
    verification_complete(
        verification=vob, by=verifier, outcome=Status.VERIFIED, data=verified_data()
    )

    rows = AuditEvent.objects.filter(object_type="insuranceverification")
    assert rows.count() == 2
    for row in rows:
        assert MEMBER_ID not in repr((row.fields, row.detail))
    created = rows.get(action="create")
    assert "member_id" in created.fields


def test_card_photos_are_encrypted_and_shown_only_to_the_team(
    client, lead, counselor, other_counselor
):
    vob = request_vob(lead, counselor, payer_name="Aetna")
    client.force_login(counselor)
    photo = b"\x89PNG\r\n\x1a\n" + b"card-front-pixels" * 10
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = client.post(
        f"/vob/{vob.pk}/card/",
        {
            "side": "front",
            "image": SimpleUploadedFile("front.png", photo, content_type="image/png"),
        },
    )

    assert response.status_code == 302
    image = InsuranceCardImage.objects.get()
    assert b"card-front-pixels" not in bytes(image.encrypted_image)
    shown = client.get(f"/vob/card-image/{image.pk}/")
    assert shown.status_code == 200
    assert shown.content == photo
    assert "no-store" in shown["Cache-Control"]
    assert AuditEvent.objects.filter(
        object_type="insurancecardimage", action="view"
    ).exists()
    client.force_login(other_counselor)
    assert client.get(f"/vob/card-image/{image.pk}/").status_code == 404


def test_a_card_photo_that_is_not_an_image_is_refused(client, lead, counselor):
    vob = request_vob(lead, counselor, payer_name="Aetna")
    client.force_login(counselor)
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = client.post(
        f"/vob/{vob.pk}/card/",
        {
            "side": "back",
            "image": SimpleUploadedFile(
                "card.exe", b"MZ...", content_type="application/octet-stream"
            ),
        },
    )

    assert response.status_code == 400
    assert "Upload a JPEG, PNG, WebP or HEIC photo" in response.content.decode()
    assert not InsuranceCardImage.objects.exists()


def test_an_authorization_is_its_own_record_and_checks_its_dates(
    client, lead, counselor
):
    vob = request_vob(lead, counselor, payer_name="Aetna")
    client.force_login(counselor)
    bad = {
        "auth_number": "A-77",
        "level_of_care": "residential",
        "starts_on": "2026-12-05",
        "ends_on": "2026-12-01",
        "unit_type": "days",
    }

    response = client.post(f"/vob/{vob.pk}/authorizations/", bad)

    assert response.status_code == 400
    assert not Authorization.objects.exists()
    good = {**bad, "ends_on": "2026-12-19", "units_authorized": "14"}
    assert client.post(f"/vob/{vob.pk}/authorizations/", good).status_code == 302
    auth = Authorization.objects.get()
    assert (auth.lead, auth.verification, auth.units_authorized) == (lead, vob, 14)
    page = client.get(f"/leads/{lead.pk}/").content.decode()
    assert "#A-77" in page


def test_a_verifier_lands_on_the_vob_queue(client, verifier):
    client.force_login(verifier)

    response = client.get("/")

    assert response.status_code == 302
    assert response["Location"] == "/vob/"


# --- Electronic eligibility from the work page ----------------------------------------

X12_FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "x12"


@pytest.fixture
def clearinghouse_outbox(settings):
    from leads.admissions import clearinghouse

    settings.CLEARINGHOUSE_BACKEND = "locmem"
    clearinghouse.reset()
    yield clearinghouse
    clearinghouse.reset()


def test_the_work_page_sends_a_270_and_reads_the_answer(
    client, lead, counselor, verifier, aetna, clearinghouse_outbox
):
    vob = request_vob(lead, counselor, payer=aetna, subscriber_name="Ann Baker")
    client.force_login(verifier)

    sent = client.post(f"/vob/{vob.pk}/eligibility/send/", follow=True)

    assert "Eligibility inquiry sent" in sent.content.decode()
    (inquiry,) = clearinghouse_outbox.outbox
    vob.refresh_from_db()
    assert vob.eligibility_trace
    assert "*60054~" in inquiry.text or "60054" in inquiry.text
    waiting = client.post(f"/vob/{vob.pk}/eligibility/poll/", follow=True)
    assert "No answer from the clearinghouse yet" in waiting.content.decode()

    answer = (X12_FIXTURES / "active_in_network.271").read_text()
    read = client.post(f"/vob/{vob.pk}/eligibility/response/", {"response": answer})

    assert read.status_code == 302
    vob.refresh_from_db()
    assert vob.coverage_active == "yes"
    assert vob.method == InsuranceVerification.Method.ELECTRONIC
    # Read in, not decided: the verifier still completes it.
    assert vob.status == Status.REQUESTED


def test_a_malformed_271_is_refused_and_changes_nothing(
    client, lead, counselor, verifier, clearinghouse_outbox
):
    vob = request_vob(lead, counselor, payer_name="Aetna")
    client.force_login(verifier)

    response = client.post(
        f"/vob/{vob.pk}/eligibility/response/", {"response": "this is not X12"}
    )

    assert response.status_code == 400
    assert "X12" in response.content.decode()
    vob.refresh_from_db()
    assert vob.coverage_active == "unknown"
    assert vob.eligibility_response == ""
