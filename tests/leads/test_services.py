"""Lead services: creation, edits, assignment, notes, touches, and who sees what."""

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.http import Http404

from crm.models import AuditEvent
from leads import selectors
from leads.models import Activity, Channel, Lead, Stage, StageChange, Touch
from leads.services import (
    NOTE_MAX_LENGTH,
    lead_add_note,
    lead_assign,
    lead_create,
    lead_edit,
    lead_enter_manually,
    lead_transition,
    lead_update,
    touch_record,
)
from tests.factories import LeadSourceFactory, make_lead, next_phone

pytestmark = pytest.mark.django_db

CREATED_AT = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


def _row_counts() -> dict[str, int]:
    return {
        "leads": Lead.objects.count(),
        "touches": Touch.objects.count(),
        "stage_changes": StageChange.objects.count(),
        "activities": Activity.objects.count(),
        "audit": AuditEvent.objects.count(),
    }


# --- lead_create --------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "time_zone"),
    [
        ("CA", "America/Los_Angeles"),
        ("FL", "America/New_York"),
        ("AZ", "America/Phoenix"),
        ("TX", "America/Chicago"),
    ],
)
def test_new_lead_gets_the_time_zone_of_its_state(state, time_zone, team_a):
    lead = make_lead(team=team_a, state=state)

    lead.refresh_from_db()
    assert lead.time_zone == time_zone


def test_time_zone_given_at_intake_is_kept_over_the_state_default(team_a):
    # West Texas (El Paso) keeps Mountain time.
    lead = make_lead(team=team_a, state="TX", time_zone="America/Denver")

    lead.refresh_from_db()
    assert lead.time_zone == "America/Denver"


def test_lead_without_phone_or_email_is_a_phone_error_and_writes_nothing(
    team_a, counselor
):
    before = _row_counts()

    with pytest.raises(ValidationError) as refusal:
        lead_create(
            by=counselor,
            channel=Channel.WEB_FORM,
            team=team_a,
            first_name="Casey",
            phone="",
            email="",
        )

    assert "phone" in refusal.value.message_dict
    assert _row_counts() == before


def test_lead_with_only_an_email_is_accepted(team_a):
    lead = make_lead(team=team_a, phone="", email="casey@example.org")

    assert Lead.objects.filter(pk=lead.pk, email="casey@example.org").exists()


def test_new_lead_starts_its_first_and_last_touch_timeline_and_stage_history(
    team_a, counselor
):
    source = LeadSourceFactory(name="IOP page form", slug="iop-page-form")

    lead = lead_create(
        by=counselor,
        channel=Channel.WEB_FORM,
        team=team_a,
        attribution={"source": source, "utm_source": "google", "gclid": "abc123"},
        touch_summary="Asked about evening IOP",
        at=CREATED_AT,
        first_name="Casey",
        phone=next_phone(),
    )

    lead.refresh_from_db()
    assert lead.stage == Stage.NEW
    assert lead.created_at == CREATED_AT
    assert lead.first_touch is not None
    assert lead.first_touch == lead.last_touch
    touch = lead.first_touch
    assert touch.channel == Channel.WEB_FORM
    assert touch.occurred_at == CREATED_AT
    assert touch.summary == "Asked about evening IOP"
    assert (touch.source, touch.utm_source, touch.gclid) == (source, "google", "abc123")
    assert (lead.source, lead.utm_source, lead.gclid) == (source, "google", "abc123")
    created = lead.activities.get(kind=Activity.Kind.CREATED)
    assert created.actor == counselor
    assert created.at == CREATED_AT
    assert "IOP page form" in created.summary
    change = lead.stage_changes.get()
    assert (change.from_stage, change.to_stage, change.by) == ("", Stage.NEW, counselor)
    assert AuditEvent.objects.filter(
        action="create", lead_id=lead.pk, actor=counselor
    ).exists()


def test_new_lead_with_an_owner_records_the_assignment(team_a, counselor):
    lead = make_lead(team=team_a, owner=counselor)

    assert lead.owner == counselor
    assignment = lead.activities.get(kind=Activity.Kind.ASSIGNMENT)
    assert assignment.data["owner"] == counselor.pk


def test_owner_outside_the_team_is_refused_and_nothing_is_written(
    team_a, other_counselor
):
    before = _row_counts()

    with pytest.raises(ValidationError) as refusal:
        make_lead(team=team_a, owner=other_counselor)

    assert "owner" in refusal.value.message_dict
    assert _row_counts() == before


def test_owner_without_a_team_is_refused(counselor):
    with pytest.raises(ValidationError) as refusal:
        make_lead(team=None, owner=counselor)

    assert "team" in refusal.value.message_dict
    assert not Lead.objects.exists()


def test_inactive_owner_is_refused(team_a, teammate):
    teammate.is_active = False
    teammate.save()

    with pytest.raises(ValidationError) as refusal:
        make_lead(team=team_a, owner=teammate)

    assert "owner" in refusal.value.message_dict
    assert not Lead.objects.exists()


# --- lead_update --------------------------------------------------------------


def test_update_records_changed_field_names_but_never_their_values(team_a, counselor):
    lead = make_lead(team=team_a, owner=counselor, insurance_member_id="W000000001")

    lead_update(
        lead=lead,
        by=counselor,
        data={
            "first_name": "Jordan",
            "insurance_member_id": "W987654321",
            "date_of_birth": date(1988, 7, 14),
        },
    )

    lead.refresh_from_db()
    assert lead.first_name == "Jordan"
    assert lead.insurance_member_id == "W987654321"
    names = ["date_of_birth", "first_name", "insurance_member_id"]
    activity = lead.activities.get(kind=Activity.Kind.UPDATE)
    assert activity.actor == counselor
    assert activity.data == {"fields": names}
    event = AuditEvent.objects.get(action="update", lead_id=lead.pk)
    assert event.actor == counselor
    assert event.fields == names
    trail = json.dumps(
        [activity.summary, activity.body, activity.data, event.fields, event.detail]
    )
    for value in ("Jordan", "W987654321", "W000000001", "1988", "Casey"):
        assert value not in trail


def test_changing_state_moves_the_time_zone_along(team_a, counselor):
    lead = make_lead(team=team_a, state="FL")

    lead_update(lead=lead, by=counselor, data={"state": "CA"})

    lead.refresh_from_db()
    assert lead.time_zone == "America/Los_Angeles"
    event = AuditEvent.objects.get(action="update", lead_id=lead.pk)
    assert event.fields == ["state", "time_zone"]


@pytest.mark.parametrize("field", ["stage", "owner", "lost_reason", "favourite_color"])
def test_update_of_a_field_not_editable_here_is_a_field_error(field, team_a, counselor):
    lead = make_lead(team=team_a, owner=counselor)
    before = _row_counts()

    with pytest.raises(ValidationError) as refusal:
        lead_update(lead=lead, by=counselor, data={field: "x", "first_name": "Jo"})

    assert field in refusal.value.message_dict
    lead.refresh_from_db()
    assert lead.first_name == "Casey"
    assert _row_counts() == before


def test_update_that_changes_nothing_writes_nothing(team_a, counselor):
    lead = make_lead(team=team_a, owner=counselor, state="FL")
    lead.refresh_from_db()
    updated_at = lead.updated_at
    before = _row_counts()

    lead_update(
        lead=lead,
        by=counselor,
        data={"first_name": "Casey", "state": "FL", "phone": str(lead.phone)},
    )

    assert _row_counts() == before
    lead.refresh_from_db()
    assert lead.updated_at == updated_at


def test_update_removing_the_only_way_to_reach_the_lead_is_refused(team_a, counselor):
    lead = make_lead(team=team_a, owner=counselor)
    phone = lead.phone

    with pytest.raises(ValidationError) as refusal:
        lead_update(lead=lead, by=counselor, data={"phone": ""})

    assert "phone" in refusal.value.message_dict
    lead.refresh_from_db()
    assert lead.phone == phone


def test_update_with_a_bad_choice_is_a_field_error_and_writes_nothing(
    team_a, counselor
):
    lead = make_lead(team=team_a, owner=counselor)
    before = _row_counts()

    with pytest.raises(ValidationError) as refusal:
        lead_update(lead=lead, by=counselor, data={"level_of_care": "spa-retreat"})

    assert "level_of_care" in refusal.value.message_dict
    assert _row_counts() == before


# --- lead_assign --------------------------------------------------------------


def test_counselor_takes_an_unowned_lead_of_their_team(team_a, counselor):
    lead = make_lead(team=team_a)

    lead_assign(lead=lead, owner=counselor, by=counselor)

    lead.refresh_from_db()
    assert lead.owner == counselor
    assignment = lead.activities.get(kind=Activity.Kind.ASSIGNMENT)
    assert assignment.actor == counselor
    assert str(counselor) in assignment.summary
    event = AuditEvent.objects.get(action="update", lead_id=lead.pk)
    assert event.fields == ["owner"]


def test_counselor_cannot_hand_an_unowned_lead_to_a_teammate(
    team_a, counselor, teammate
):
    lead = make_lead(team=team_a)

    with pytest.raises(ValidationError) as refusal:
        lead_assign(lead=lead, owner=teammate, by=counselor)

    assert "owner" in refusal.value.message_dict
    lead.refresh_from_db()
    assert lead.owner is None


def test_counselor_cannot_take_a_teammates_lead(team_a, counselor, teammate):
    lead = make_lead(team=team_a, owner=teammate)
    before = _row_counts()

    with pytest.raises(ValidationError) as refusal:
        lead_assign(lead=lead, owner=counselor, by=counselor)

    assert "owner" in refusal.value.message_dict
    lead.refresh_from_db()
    assert lead.owner == teammate
    assert _row_counts() == before


def test_counselor_cannot_move_a_lead_to_another_team(
    team_a, team_b, counselor, other_counselor
):
    lead = make_lead(team=team_a)

    with pytest.raises(ValidationError) as refusal:
        lead_assign(lead=lead, owner=None, team=team_b, by=counselor)

    assert "owner" in refusal.value.message_dict
    lead.refresh_from_db()
    assert lead.team == team_a


def test_counselor_cannot_take_an_unowned_lead_of_another_team(team_b, counselor):
    lead = make_lead(team=team_b)

    with pytest.raises(ValidationError) as refusal:
        lead_assign(lead=lead, owner=counselor, by=counselor)

    assert "owner" in refusal.value.message_dict
    lead.refresh_from_db()
    assert lead.owner is None


def test_supervisor_reassigns_a_lead_within_the_team(
    team_a, counselor, teammate, supervisor
):
    lead = make_lead(team=team_a, owner=teammate)

    lead_assign(lead=lead, owner=counselor, by=supervisor)

    lead.refresh_from_db()
    assert lead.owner == counselor
    assignment = lead.activities.filter(kind=Activity.Kind.ASSIGNMENT).first()
    assert assignment.actor == supervisor
    assert assignment.data["owner"] == counselor.pk


def test_supervisor_returns_a_lead_to_the_team_queue(team_a, teammate, supervisor):
    lead = make_lead(team=team_a, owner=teammate)

    lead_assign(lead=lead, owner=None, by=supervisor)

    lead.refresh_from_db()
    assert lead.owner is None
    assignment = lead.activities.filter(kind=Activity.Kind.ASSIGNMENT).first()
    assert "queue" in assignment.summary


def test_supervisor_moves_a_lead_to_another_team_and_owner(
    team_a, team_b, teammate, other_counselor, supervisor
):
    lead = make_lead(team=team_a, owner=teammate)

    lead_assign(lead=lead, owner=other_counselor, team=team_b, by=supervisor)

    lead.refresh_from_db()
    assert (lead.team, lead.owner) == (team_b, other_counselor)
    event = AuditEvent.objects.get(action="update", lead_id=lead.pk)
    assert event.fields == ["owner", "team"]


def test_owner_outside_the_lead_team_is_refused_even_for_a_supervisor(
    team_a, teammate, other_counselor, supervisor
):
    lead = make_lead(team=team_a, owner=teammate)

    with pytest.raises(ValidationError) as refusal:
        lead_assign(lead=lead, owner=other_counselor, by=supervisor)

    assert "owner" in refusal.value.message_dict
    lead.refresh_from_db()
    assert lead.owner == teammate


def test_assigning_the_current_owner_again_writes_nothing(team_a, teammate, supervisor):
    lead = make_lead(team=team_a, owner=teammate)
    before = _row_counts()

    lead_assign(lead=lead, owner=teammate, by=supervisor)

    assert _row_counts() == before


# --- lead_edit ----------------------------------------------------------------


def test_refused_reassignment_leaves_the_detail_changes_unwritten(
    team_a, counselor, teammate
):
    lead = make_lead(team=team_a, owner=teammate)
    before = _row_counts()

    with pytest.raises(ValidationError) as refusal:
        lead_edit(
            lead=lead,
            by=counselor,
            data={"first_name": "Jordan", "city": "Tampa", "owner": counselor},
        )

    assert "owner" in refusal.value.message_dict
    lead.refresh_from_db()
    assert (lead.first_name, lead.city, lead.owner) == ("Casey", "", teammate)
    assert _row_counts() == before


def test_edit_with_details_and_a_new_owner_applies_both(
    team_a, counselor, teammate, supervisor
):
    lead = make_lead(team=team_a, owner=teammate)

    lead_edit(lead=lead, by=supervisor, data={"city": "Tampa", "owner": counselor})

    lead.refresh_from_db()
    assert (lead.city, lead.owner) == ("Tampa", counselor)


def test_counselor_edit_that_keeps_their_own_ownership_is_not_a_reassignment(
    team_a, counselor
):
    # A full edit form sends the owner field back unchanged.
    lead = make_lead(team=team_a, owner=counselor)

    lead_edit(
        lead=lead,
        by=counselor,
        data={"city": "Tampa", "owner": counselor, "team": team_a},
    )

    lead.refresh_from_db()
    assert (lead.city, lead.owner, lead.team) == ("Tampa", counselor, team_a)


# --- lead_add_note ------------------------------------------------------------


def test_note_goes_on_the_timeline_with_its_first_line_as_summary(team_a, counselor):
    lead = make_lead(team=team_a, owner=counselor, at=CREATED_AT)
    noted_at = CREATED_AT + timedelta(hours=1)

    note = lead_add_note(
        lead=lead,
        by=counselor,
        body="  Left voicemail.\nWill try after 5pm.  ",
        at=noted_at,
    )

    assert note.kind == Activity.Kind.NOTE
    assert note.summary == "Left voicemail."
    assert note.body == "Left voicemail.\nWill try after 5pm."
    assert list(selectors.lead_notes(lead=lead)) == [note]
    lead.refresh_from_db()
    assert lead.last_activity_at == noted_at


@pytest.mark.parametrize("body", ["", "   \n\t "])
def test_blank_note_is_refused(body, team_a, counselor):
    lead = make_lead(team=team_a, owner=counselor)

    with pytest.raises(ValidationError) as refusal:
        lead_add_note(lead=lead, by=counselor, body=body)

    assert "body" in refusal.value.message_dict
    assert not lead.activities.filter(kind=Activity.Kind.NOTE).exists()


def test_overlong_note_is_refused(team_a, counselor):
    lead = make_lead(team=team_a, owner=counselor)

    with pytest.raises(ValidationError) as refusal:
        lead_add_note(lead=lead, by=counselor, body="x" * (NOTE_MAX_LENGTH + 1))

    assert "body" in refusal.value.message_dict
    assert not lead.activities.filter(kind=Activity.Kind.NOTE).exists()


def test_note_of_exactly_the_limit_is_kept(team_a, counselor):
    lead = make_lead(team=team_a, owner=counselor)

    note = lead_add_note(lead=lead, by=counselor, body="x" * NOTE_MAX_LENGTH)

    assert len(Activity.objects.get(pk=note.pk).body) == NOTE_MAX_LENGTH


# --- touch_record -------------------------------------------------------------


def test_repeat_inquiry_becomes_the_last_touch_and_keeps_the_first(team_a, counselor):
    lead = make_lead(team=team_a, owner=counselor, at=CREATED_AT)
    first_touch = lead.first_touch
    called_at = CREATED_AT + timedelta(days=2)

    touch = touch_record(
        lead=lead,
        channel=Channel.PHONE,
        attribution={"tracking_number": "+18885550142"},
        summary="Called the main number",
        at=called_at,
    )

    lead.refresh_from_db()
    assert lead.last_touch == touch
    assert lead.first_touch == first_touch
    assert str(lead.last_touch.tracking_number) == "+18885550142"
    assert lead.last_activity_at == called_at
    activity = lead.activities.get(kind=Activity.Kind.TOUCH)
    assert activity.data["touch"] == touch.pk


def test_touch_older_than_the_last_one_does_not_replace_it(team_a, counselor):
    lead = make_lead(team=team_a, owner=counselor, at=CREATED_AT)
    newest = touch_record(
        lead=lead, channel=Channel.SMS, at=CREATED_AT + timedelta(days=2)
    )
    lead.refresh_from_db()

    touch_record(lead=lead, channel=Channel.CHAT, at=CREATED_AT + timedelta(days=1))

    lead.refresh_from_db()
    assert lead.last_touch == newest
    assert lead.touches.count() == 3


# --- lead_enter_manually ------------------------------------------------------


def test_counselor_entry_goes_to_their_only_team_and_is_theirs(team_a, counselor):
    lead = lead_enter_manually(
        by=counselor, first_name="Riley", phone=next_phone(), message="Walk-in"
    ).lead

    lead.refresh_from_db()
    assert (lead.team, lead.owner) == (team_a, counselor)
    assert lead.first_touch.channel == Channel.MANUAL
    assert lead.first_touch.summary == "Walk-in"


def test_counselor_entry_may_name_a_teammate_as_owner(team_a, counselor, teammate):
    lead = lead_enter_manually(
        by=counselor, owner=teammate, first_name="Riley", phone=next_phone()
    ).lead

    assert (lead.team, lead.owner) == (team_a, teammate)


def test_counselor_in_two_teams_must_choose_the_team(team_a, team_b, counselor):
    team_b.members.add(counselor)

    with pytest.raises(ValidationError) as refusal:
        lead_enter_manually(by=counselor, first_name="Riley", phone=next_phone())

    assert "team" in refusal.value.message_dict
    assert not Lead.objects.exists()


def test_counselor_in_two_teams_who_chooses_one_gets_the_lead(
    team_a, team_b, counselor
):
    team_b.members.add(counselor)

    lead = lead_enter_manually(
        by=counselor, team=team_b, first_name="Riley", phone=next_phone()
    ).lead

    assert (lead.team, lead.owner) == (team_b, counselor)


def test_admin_entry_is_left_unassigned_in_the_chosen_team(team_b, admin_user):
    lead = lead_enter_manually(
        by=admin_user, team=team_b, first_name="Riley", phone=next_phone()
    ).lead

    assert (lead.team, lead.owner) == (team_b, None)


# --- visibility ---------------------------------------------------------------


@pytest.fixture
def leads_everywhere(team_a, team_b):
    return {
        "a": make_lead(team=team_a, first_name="Ana"),
        "b": make_lead(team=team_b, first_name="Ben"),
        "none": make_lead(team=None, first_name="Nia"),
    }


def test_counselor_sees_their_team_leads_only(leads_everywhere, counselor):
    visible = set(Lead.objects.visible_to(counselor))

    assert visible == {leads_everywhere["a"]}


def test_supervisor_sees_the_teams_they_supervise(leads_everywhere, supervisor):
    visible = set(Lead.objects.visible_to(supervisor))

    assert visible == {leads_everywhere["a"]}


def test_supervisor_of_both_teams_sees_both(leads_everywhere, supervisor, team_b):
    team_b.supervisors.add(supervisor)

    visible = set(Lead.objects.visible_to(supervisor))

    assert visible == {leads_everywhere["a"], leads_everywhere["b"]}


def test_admin_sees_every_lead(leads_everywhere, admin_user):
    visible = set(Lead.objects.visible_to(admin_user))

    assert visible == set(leads_everywhere.values())


def test_deactivated_counselor_sees_nothing(leads_everywhere, counselor):
    counselor.is_active = False
    counselor.save()

    assert not Lead.objects.visible_to(counselor).exists()


def test_counselor_opening_another_teams_lead_gets_404(leads_everywhere, counselor):
    with pytest.raises(Http404):
        selectors.lead_get_for(user=counselor, lead_id=leads_everywhere["b"].pk)


def test_lead_without_a_team_is_hidden_from_counselors(leads_everywhere, counselor):
    with pytest.raises(Http404):
        selectors.lead_get_for(user=counselor, lead_id=leads_everywhere["none"].pk)


def test_counselor_opens_their_team_lead_with_its_touches(
    leads_everywhere, counselor, django_assert_max_num_queries
):
    with django_assert_max_num_queries(2):
        lead = selectors.lead_get_for(user=counselor, lead_id=leads_everywhere["a"].pk)
        shown = (lead.team.name, lead.first_touch.channel, lead.last_touch.channel)

    assert lead == leads_everywhere["a"]
    assert shown == ("Outpatient", Channel.WEB_FORM, Channel.WEB_FORM)


def test_admin_opens_any_lead(leads_everywhere, admin_user):
    lead = selectors.lead_get_for(user=admin_user, lead_id=leads_everywhere["b"].pk)

    assert lead == leads_everywhere["b"]


def test_lead_list_shows_owner_team_and_source_in_constant_queries(
    team_a, counselor, teammate, django_assert_max_num_queries
):
    source = LeadSourceFactory(name="Google Ads", slug="google-ads")
    for owner in (counselor, teammate, None, counselor, teammate):
        make_lead(team=team_a, owner=owner, attribution={"source": source})

    with django_assert_max_num_queries(2):
        rows = [
            (lead.owner and lead.owner.username, lead.team.slug, lead.source.name)
            for lead in selectors.lead_list_for(counselor)
        ]

    assert len(rows) == 5
    assert {row[0] for row in rows} == {"maya", "jordan", None}


def test_timeline_lists_events_newest_first_with_their_actors(
    team_a, counselor, teammate, supervisor, django_assert_max_num_queries
):
    lead = make_lead(team=team_a, owner=counselor, by=counselor, at=CREATED_AT)
    lead_add_note(
        lead=lead, by=teammate, body="Mum called", at=CREATED_AT + timedelta(hours=1)
    )
    lead_transition(
        lead=lead,
        to=Stage.CONTACTED,
        by=supervisor,
        at=CREATED_AT + timedelta(hours=2),
    )

    with django_assert_max_num_queries(1):
        rows = [
            (activity.kind, activity.actor.username)
            for activity in selectors.lead_timeline(lead=lead)
        ]

    assert rows == [
        (Activity.Kind.STAGE_CHANGE, "dana"),
        (Activity.Kind.NOTE, "jordan"),
        (Activity.Kind.ASSIGNMENT, "maya"),
        (Activity.Kind.CREATED, "maya"),
    ]
