"""The pipeline: which moves a lead may make, and what every move leaves behind."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError

from crm.models import AuditEvent
from leads.models import OPEN_STAGES, Activity, LostReason, Stage, StageChange
from leads.selectors import lead_stage_stays, lead_time_in_stages
from leads.services import FORWARD_AND_BACK, allowed_next_stages, lead_transition
from tests.factories import make_lead

pytestmark = pytest.mark.django_db

CREATED_AT = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
MOVE_AT = CREATED_AT + timedelta(days=1)

# How a lead gets to each stage along the pipeline, one allowed move at a time.
PATH_TO: dict[str, list[str]] = {
    Stage.NEW: [],
    Stage.ATTEMPTING_CONTACT: [Stage.ATTEMPTING_CONTACT],
    Stage.CONTACTED: [Stage.ATTEMPTING_CONTACT, Stage.CONTACTED],
    Stage.ASSESSMENT: [Stage.CONTACTED, Stage.ASSESSMENT],
    Stage.INSURANCE_VERIFICATION: [
        Stage.CONTACTED,
        Stage.ASSESSMENT,
        Stage.INSURANCE_VERIFICATION,
    ],
    Stage.CLINICAL_REVIEW: [
        Stage.CONTACTED,
        Stage.ASSESSMENT,
        Stage.INSURANCE_VERIFICATION,
        Stage.CLINICAL_REVIEW,
    ],
    Stage.ADMISSION_SCHEDULED: [
        Stage.CONTACTED,
        Stage.ASSESSMENT,
        Stage.CLINICAL_REVIEW,
        Stage.ADMISSION_SCHEDULED,
    ],
    Stage.ADMITTED: [
        Stage.CONTACTED,
        Stage.ASSESSMENT,
        Stage.CLINICAL_REVIEW,
        Stage.ADMISSION_SCHEDULED,
        Stage.ADMITTED,
    ],
}

# The pipeline as DESIGN.md draws it: the forward path, plus the documented steps
# back (pre-screen redone, benefits re-verified, admission postponed for review).
ALLOWED_MOVES: list[tuple[str, str]] = [
    (Stage.NEW, Stage.ATTEMPTING_CONTACT),
    (Stage.NEW, Stage.CONTACTED),
    (Stage.ATTEMPTING_CONTACT, Stage.CONTACTED),
    (Stage.CONTACTED, Stage.ASSESSMENT),
    (Stage.CONTACTED, Stage.INSURANCE_VERIFICATION),
    (Stage.ASSESSMENT, Stage.INSURANCE_VERIFICATION),
    (Stage.ASSESSMENT, Stage.CLINICAL_REVIEW),
    (Stage.INSURANCE_VERIFICATION, Stage.CLINICAL_REVIEW),
    (Stage.INSURANCE_VERIFICATION, Stage.ASSESSMENT),
    (Stage.INSURANCE_VERIFICATION, Stage.ADMISSION_SCHEDULED),
    (Stage.CLINICAL_REVIEW, Stage.ADMISSION_SCHEDULED),
    (Stage.CLINICAL_REVIEW, Stage.INSURANCE_VERIFICATION),
    (Stage.ADMISSION_SCHEDULED, Stage.ADMITTED),
    (Stage.ADMISSION_SCHEDULED, Stage.CLINICAL_REVIEW),
]


def _closing_kwargs(to: str) -> dict[str, str]:
    """What a closing move needs, so a refusal can only be about the move itself."""
    if to == Stage.LOST:
        return {"reason": LostReason.NOT_READY}
    if to == Stage.REFERRED_OUT:
        return {"referred_to": "Harbor Detox", "reason": "Needs medical detox"}
    return {}


@pytest.fixture
def lead_in(team_a, counselor):
    """Return a function making a lead of team_a that has walked to `stage`."""

    def make(stage: str, *, lost_from: str = Stage.CONTACTED):
        lead = make_lead(team=team_a, owner=counselor, at=CREATED_AT)
        at = CREATED_AT
        if stage in (Stage.LOST, Stage.REFERRED_OUT):
            steps = [*PATH_TO[lost_from], stage]
        else:
            steps = PATH_TO[stage]
        for step in steps:
            at += timedelta(minutes=10)
            lead = lead_transition(
                lead=lead, to=step, by=counselor, at=at, **_closing_kwargs(step)
            )
        assert lead.stage == stage
        return lead

    return make


def _assert_refused(lead, *, to: str, by, field: str = "to", **kwargs) -> None:
    """Refuse the move with an error on `field`, and leave every record as it was."""
    stage_before = lead.stage
    changes_before = StageChange.objects.filter(lead=lead).count()
    activities_before = Activity.objects.filter(lead=lead).count()
    audits_before = AuditEvent.objects.filter(lead_id=lead.pk).count()

    with pytest.raises(ValidationError) as refusal:
        lead_transition(lead=lead, to=to, by=by, at=MOVE_AT, **kwargs)

    assert field in refusal.value.message_dict
    lead.refresh_from_db()
    assert lead.stage == stage_before
    assert lead.stage_changed_at != MOVE_AT
    assert StageChange.objects.filter(lead=lead).count() == changes_before
    assert Activity.objects.filter(lead=lead).count() == activities_before
    assert AuditEvent.objects.filter(lead_id=lead.pk).count() == audits_before


def test_pipeline_table_holds_exactly_the_designed_moves():
    table = {(src, dst) for src, targets in FORWARD_AND_BACK.items() for dst in targets}

    assert table == set(ALLOWED_MOVES)


@pytest.mark.parametrize("stage", OPEN_STAGES)
def test_open_lead_is_offered_its_next_stages_and_both_closings(stage, lead_in):
    lead = lead_in(stage)

    offered = allowed_next_stages(lead)

    expected = {dst for src, dst in ALLOWED_MOVES if src == stage}
    assert set(offered) == expected | {Stage.LOST, Stage.REFERRED_OUT}


@pytest.mark.parametrize(("from_stage", "to_stage"), ALLOWED_MOVES)
def test_allowed_move_is_recorded_with_who_when_and_why(
    from_stage, to_stage, lead_in, teammate
):
    lead = lead_in(from_stage)
    changes_before = lead.stage_changes.count()

    lead_transition(
        lead=lead, to=to_stage, by=teammate, reason="Caller confirmed", at=MOVE_AT
    )

    lead.refresh_from_db()
    assert lead.stage == to_stage
    assert lead.stage_changed_at == MOVE_AT
    assert lead.stage_changes.count() == changes_before + 1
    change = lead.stage_changes.last()
    assert change.from_stage == from_stage
    assert change.to_stage == to_stage
    assert change.by == teammate
    assert change.at == MOVE_AT
    assert change.reason == "Caller confirmed"
    activity = lead.activities.filter(kind=Activity.Kind.STAGE_CHANGE).first()
    assert activity.actor == teammate
    assert activity.at == MOVE_AT
    assert activity.data["from"] == from_stage
    assert activity.data["to"] == to_stage
    assert Stage(to_stage).label in activity.summary
    assert activity.body == "Caller confirmed"


@pytest.mark.parametrize("from_stage", OPEN_STAGES)
def test_any_open_lead_can_be_closed_as_lost_with_a_reason(
    from_stage, lead_in, counselor
):
    lead = lead_in(from_stage)

    lead_transition(
        lead=lead,
        to=Stage.LOST,
        by=counselor,
        reason=LostReason.CHOSE_OTHER_PROVIDER,
        note="Went with a program closer to home.",
        at=MOVE_AT,
    )

    lead.refresh_from_db()
    assert lead.stage == Stage.LOST
    assert lead.lost_reason == LostReason.CHOSE_OTHER_PROVIDER
    assert lead.stage_before_close == from_stage
    assert lead.closed_reason_note == "Went with a program closer to home."
    change = lead.stage_changes.last()
    assert (change.from_stage, change.to_stage) == (from_stage, Stage.LOST)
    assert change.lost_reason == LostReason.CHOSE_OTHER_PROVIDER
    assert change.reason == "Went with a program closer to home."
    activity = lead.activities.filter(kind=Activity.Kind.STAGE_CHANGE).first()
    assert LostReason.CHOSE_OTHER_PROVIDER.label in activity.summary


@pytest.mark.parametrize("from_stage", OPEN_STAGES)
def test_any_open_lead_can_be_referred_out_to_a_named_program(
    from_stage, lead_in, supervisor
):
    lead = lead_in(from_stage)

    lead_transition(
        lead=lead,
        to=Stage.REFERRED_OUT,
        by=supervisor,
        referred_to="St. Vincent Medical Detox",
        reason="Needs medically managed withdrawal",
        at=MOVE_AT,
    )

    lead.refresh_from_db()
    assert lead.stage == Stage.REFERRED_OUT
    assert lead.referred_to == "St. Vincent Medical Detox"
    assert lead.closed_reason_note == "Needs medically managed withdrawal"
    assert lead.lost_reason == ""
    change = lead.stage_changes.last()
    assert (change.from_stage, change.to_stage, change.by) == (
        from_stage,
        Stage.REFERRED_OUT,
        supervisor,
    )
    assert "Needs medically managed withdrawal" in change.reason
    assert "St. Vincent Medical Detox" in change.reason


@pytest.mark.parametrize(
    ("from_stage", "to_stage"),
    [
        (Stage.NEW, Stage.ADMITTED),
        (Stage.NEW, Stage.ASSESSMENT),
        (Stage.NEW, Stage.NEW),
        (Stage.ATTEMPTING_CONTACT, Stage.INSURANCE_VERIFICATION),
        (Stage.ATTEMPTING_CONTACT, Stage.NEW),
        (Stage.CONTACTED, Stage.NEW),
        (Stage.CONTACTED, Stage.ADMITTED),
        (Stage.ASSESSMENT, Stage.ADMISSION_SCHEDULED),
        (Stage.CLINICAL_REVIEW, Stage.ADMITTED),
        (Stage.ADMISSION_SCHEDULED, Stage.NEW),
    ],
)
def test_move_outside_the_pipeline_is_refused_and_changes_nothing(
    from_stage, to_stage, lead_in, counselor
):
    lead = lead_in(from_stage)

    _assert_refused(lead, to=to_stage, by=counselor)


@pytest.mark.parametrize("to_stage", Stage.values)
def test_admitted_lead_cannot_move_anywhere(to_stage, lead_in, supervisor):
    lead = lead_in(Stage.ADMITTED)

    assert allowed_next_stages(lead) == []
    _assert_refused(lead, to=to_stage, by=supervisor, **_closing_kwargs(to_stage))


@pytest.mark.parametrize("to_stage", Stage.values)
def test_referred_out_lead_cannot_move_anywhere(to_stage, lead_in, supervisor):
    lead = lead_in(Stage.REFERRED_OUT, lost_from=Stage.ASSESSMENT)

    assert allowed_next_stages(lead) == []
    _assert_refused(lead, to=to_stage, by=supervisor, **_closing_kwargs(to_stage))


@pytest.mark.parametrize(
    "to_stage", [stage for stage in Stage.values if stage != Stage.ASSESSMENT]
)
def test_lost_lead_reopens_only_to_the_stage_it_was_lost_from(
    to_stage, lead_in, counselor
):
    lead = lead_in(Stage.LOST, lost_from=Stage.ASSESSMENT)

    assert allowed_next_stages(lead) == [Stage.ASSESSMENT]
    _assert_refused(lead, to=to_stage, by=counselor, **_closing_kwargs(to_stage))


@pytest.mark.parametrize("reason", ["", "   "])
def test_lost_without_reason_is_refused(reason, lead_in, counselor):
    lead = lead_in(Stage.CONTACTED)

    _assert_refused(lead, to=Stage.LOST, by=counselor, field="reason", reason=reason)


@pytest.mark.parametrize("reason", ["moved away", "Unreachable / went cold", "SPAM"])
def test_lost_with_a_reason_outside_the_list_is_refused(reason, lead_in, counselor):
    lead = lead_in(Stage.CONTACTED)

    _assert_refused(lead, to=Stage.LOST, by=counselor, field="reason", reason=reason)


@pytest.mark.parametrize(
    ("referred_to", "reason", "missing"),
    [
        ("", "Needs medical detox", {"referred_to"}),
        ("Harbor Detox", "", {"reason"}),
        ("  ", "  ", {"referred_to", "reason"}),
    ],
)
def test_referred_out_needs_both_the_program_and_the_reason(
    referred_to, reason, missing, lead_in, counselor
):
    lead = lead_in(Stage.ASSESSMENT)

    with pytest.raises(ValidationError) as refusal:
        lead_transition(
            lead=lead,
            to=Stage.REFERRED_OUT,
            by=counselor,
            referred_to=referred_to,
            reason=reason,
        )

    assert set(refusal.value.message_dict) == missing
    lead.refresh_from_db()
    assert lead.stage == Stage.ASSESSMENT
    assert lead.referred_to == ""
    assert not lead.stage_changes.filter(to_stage=Stage.REFERRED_OUT).exists()


def test_reopening_returns_to_the_stage_it_was_lost_from_and_clears_the_reason(
    lead_in, counselor
):
    lead = lead_in(Stage.LOST, lost_from=Stage.INSURANCE_VERIFICATION)
    assert lead.lost_reason == LostReason.NOT_READY

    lead_transition(
        lead=lead,
        to=Stage.INSURANCE_VERIFICATION,
        by=counselor,
        reason="Called back, ready now",
        at=MOVE_AT,
    )

    lead.refresh_from_db()
    assert lead.stage == Stage.INSURANCE_VERIFICATION
    assert lead.is_open
    assert lead.lost_reason == ""
    assert lead.stage_before_close == ""
    assert lead.closed_reason_note == ""
    change = lead.stage_changes.last()
    assert (change.from_stage, change.to_stage) == (
        Stage.LOST,
        Stage.INSURANCE_VERIFICATION,
    )
    assert change.lost_reason == ""
    activity = lead.activities.filter(kind=Activity.Kind.STAGE_CHANGE).first()
    assert activity.summary.startswith("Reopened")


def test_first_response_is_stamped_when_the_lead_leaves_new(lead_in, counselor):
    lead = lead_in(Stage.NEW)
    assert lead.first_response_at is None
    first_call = CREATED_AT + timedelta(minutes=4)

    lead_transition(lead=lead, to=Stage.ATTEMPTING_CONTACT, by=counselor, at=first_call)
    lead_transition(lead=lead, to=Stage.CONTACTED, by=counselor, at=MOVE_AT)

    lead.refresh_from_db()
    assert lead.first_response_at == first_call


@pytest.mark.parametrize("to_stage", ["discharged", "", "NEW"])
def test_unknown_stage_is_a_to_field_error(to_stage, lead_in, counselor):
    lead = lead_in(Stage.NEW)

    _assert_refused(lead, to=to_stage, by=counselor)


def test_time_in_stages_adds_up_every_stay_including_after_a_reopen(team_a, counselor):
    lead = make_lead(team=team_a, owner=counselor, at=CREATED_AT)
    hour = timedelta(hours=1)
    lead_transition(
        lead=lead,
        to=Stage.ATTEMPTING_CONTACT,
        by=counselor,
        at=CREATED_AT + timedelta(minutes=5),
    )
    lead_transition(lead=lead, to=Stage.CONTACTED, by=counselor, at=CREATED_AT + hour)
    lead_transition(
        lead=lead,
        to=Stage.LOST,
        by=counselor,
        reason=LostReason.NOT_READY,
        at=CREATED_AT + 3 * hour,
    )
    lead_transition(
        lead=lead, to=Stage.CONTACTED, by=counselor, at=CREATED_AT + 24 * hour
    )

    totals = lead_time_in_stages(lead=lead, now=CREATED_AT + 26 * hour)

    assert totals == {
        Stage.NEW: 5 * 60,
        Stage.ATTEMPTING_CONTACT: 55 * 60,
        Stage.CONTACTED: (2 + 2) * 3600,
        Stage.LOST: 21 * 3600,
    }


def test_closed_lead_stops_counting_time_in_its_final_stage(lead_in):
    lead = lead_in(Stage.ADMITTED)

    totals = lead_time_in_stages(lead=lead, now=CREATED_AT + timedelta(days=30))

    assert Stage.ADMITTED not in totals
    # Five moves ten minutes apart: fifty minutes from inquiry to admission.
    assert sum(totals.values()) == 50 * 60


def test_stage_stays_list_each_stay_oldest_first_with_the_current_one_open(
    team_a, counselor, django_assert_max_num_queries
):
    lead = make_lead(team=team_a, owner=counselor, at=CREATED_AT)
    contacted_at = CREATED_AT + timedelta(minutes=3)
    lead_transition(lead=lead, to=Stage.CONTACTED, by=counselor, at=contacted_at)
    now = CREATED_AT + timedelta(hours=2)

    with django_assert_max_num_queries(1):
        stays = lead_stage_stays(lead=lead, now=now)

    assert [
        (stay.stage, stay.entered_at, stay.left_at, stay.duration) for stay in stays
    ] == [
        (Stage.NEW, CREATED_AT, contacted_at, timedelta(minutes=3)),
        (Stage.CONTACTED, contacted_at, None, timedelta(minutes=117)),
    ]
