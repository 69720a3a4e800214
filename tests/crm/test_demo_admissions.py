"""`seed_demo`'s second half of the funnel: programs, partner facilities, the
verifier, and the pre-screens, VOBs, admissions and consents of the leads that got
that far, consistent with each lead's stage history."""

from io import StringIO

import pytest
from django.core.management import call_command

from crm.models import Team, User
from leads.models import (
    Activity,
    Admission,
    InsuranceVerification,
    Lead,
    Part2Consent,
    PartnerFacility,
    PreScreen,
    Program,
    Stage,
    StageChange,
)

pytestmark = pytest.mark.django_db

PASSWORD = "demo-password-for-tests"
LEAD_COUNT = 60


@pytest.fixture
def seeded() -> str:
    out = StringIO()
    call_command(
        "seed_demo", "--password", PASSWORD, "--leads", str(LEAD_COUNT), stdout=out
    )
    return out.getvalue()


def _reached(stage: str) -> set[int]:
    return set(
        StageChange.objects.filter(to_stage=stage).values_list("lead_id", flat=True)
    )


def _counts() -> dict[str, int]:
    return {
        "programs": Program.objects.count(),
        "partners": PartnerFacility.objects.count(),
        "prescreens": PreScreen.objects.count(),
        "verifications": InsuranceVerification.objects.count(),
        "admissions": Admission.objects.count(),
        "consents": Part2Consent.objects.count(),
    }


def test_the_verifier_programs_and_partners_are_ready_to_use(seeded, client):
    verifier = User.objects.get(username="verifier1")
    programs = list(Program.objects.prefetch_related("payers"))
    client.force_login(User.objects.get(username="supervisor1"))
    board = client.get("/dashboard/").context["board"]

    assert verifier.role == User.Role.VERIFIER
    assert not verifier.is_staff
    assert verifier.check_password(PASSWORD)
    assert set(verifier.teams.values_list("slug", flat=True)) == {
        team.slug for team in Team.objects.all()
    }
    assert "verifier1    Insurance verifier" in seeded
    assert 4 <= len(programs) <= 6
    for program in programs:
        assert program.payers.exists()
        assert program.levels_of_care
        assert program.open_beds <= program.capacity
    levels = {level for program in programs for level in program.levels_of_care}
    assert levels == {"detox", "residential", "php", "iop", "outpatient"}
    assert PartnerFacility.objects.count() == 3
    # The supervisor's dashboard has VOBs to show.
    assert board.vob.overall.completed > 0
    assert board.vob.overall.median_seconds > 0
    assert board.vob.conversion.verified > 0


def test_admissions_records_follow_each_leads_stage_history(seeded):
    reached = _reached(Stage.INSURANCE_VERIFICATION)
    vobs = InsuranceVerification.objects.all()

    assert reached
    assert set(vobs.values_list("lead_id", flat=True)) == reached
    assert vobs.filter(is_current=True).count() == len(reached)
    statuses = set(vobs.values_list("status", flat=True))
    assert {"verified", "unable"} <= statuses
    for vob in vobs.exclude(completed_at=None):
        assert vob.requested_at < vob.completed_at
        assert vob.verifier.username == "verifier1"
        # The result came before the lead moved on.
        later = StageChange.objects.filter(lead=vob.lead_id, at__gt=vob.requested_at)
        first_move = later.order_by("at").first()
        if vob.is_current and first_move:
            assert vob.completed_at <= first_move.at
    for vob in vobs.filter(status="verified"):
        assert vob.benefits.count() == 5
        assert [event.status for event in vob.events.all()] == [
            "requested",
            "in_progress",
            "verified",
        ]
    admitted = Lead.objects.filter(stage=Stage.ADMITTED)
    scheduled = Lead.objects.filter(stage=Stage.ADMISSION_SCHEDULED)
    assert admitted.exists()
    for lead in admitted:
        admission = lead.admissions.get()
        assert admission.status == Admission.Status.ADMITTED
        assert admission.admitted_at == lead.stage_changes.last().at
        assert admission.level_of_care in admission.program.levels_of_care
        consent = lead.part2_consents.get()
        assert consent.for_treatment_payment_operations
        assert consent.expires_on_event == "end of treatment"
    for lead in scheduled:
        assert lead.admissions.get().status == Admission.Status.SCHEDULED
    assert not Admission.objects.exclude(
        lead_id__in=_reached(Stage.ADMISSION_SCHEDULED)
    ).exists()
    first = PreScreen.objects.filter(version=1)
    assert set(first.values_list("lead_id", flat=True)) == _reached(Stage.ASSESSMENT)
    for prescreen in PreScreen.objects.filter(version=2):
        assert (
            prescreen.created_at > prescreen.lead.prescreens.get(version=1).created_at
        )
    assert Activity.objects.filter(kind=Activity.Kind.PRESCREEN).count() == (
        PreScreen.objects.count()
    )


def test_seeding_again_adds_no_admissions_records(seeded):
    before = _counts()

    call_command("seed_demo", "--password", PASSWORD, "--leads", "5", stdout=StringIO())

    assert _counts() == before
