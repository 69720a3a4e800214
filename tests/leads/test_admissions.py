"""Admissions: scheduling a lead into a program, and admitted, no-show or cancelled.

The clock is frozen on a Tuesday at noon in New York; admissions are set for
Thursday morning, and tests travel there to record what happened.
"""

import datetime
import re
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import ValidationError

from crm.models import AuditEvent
from leads.admissions.admission import (
    admission_admit,
    admission_cancel,
    admission_no_show,
    admission_reschedule,
    admission_schedule,
)
from leads.admissions.ui.admission import card_context
from leads.models import (
    Activity,
    Admission,
    CallBack,
    CallDisposition,
    Lead,
    LevelOfCare,
    Program,
    Stage,
)
from leads.services import lead_transition
from leads.services.followup import lead_call_log
from notifications.models import Alert

from ..factories import make_lead

pytestmark = pytest.mark.django_db

NEW_YORK = ZoneInfo("America/New_York")
CHICAGO = ZoneInfo("America/Chicago")
NOON_TUESDAY = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=NEW_YORK)
THURSDAY_10 = datetime.datetime(2026, 12, 3, 10, 0, tzinfo=NEW_YORK)
HTMX = {"HTTP_HX_REQUEST": "true"}


def reloaded(response, client, lead) -> str:
    """A carried-out action reloads the whole lead page: what it then shows."""
    assert response.status_code == 204
    assert response["HX-Redirect"] == f"/leads/{lead.pk}/#card-admission"
    return client.get(f"/leads/{lead.pk}/").content.decode()


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOON_TUESDAY, tick=False) as traveller:
        yield traveller


def to_stage(lead: Lead, by, *stages: str) -> Lead:
    for stage in stages:
        lead = lead_transition(lead=lead, to=stage, by=by)
    return lead


@pytest.fixture
def lead(team_a, counselor):
    made = make_lead(
        team=team_a,
        owner=counselor,
        state="NY",
        level_of_care=LevelOfCare.RESIDENTIAL,
    )
    return to_stage(
        made, counselor, Stage.CONTACTED, Stage.ASSESSMENT, Stage.CLINICAL_REVIEW
    )


@pytest.fixture
def harbor():
    return Program.objects.create(
        name="Harbor House",
        facility_name="Harbor campus",
        city="Austin",
        state="TX",
        levels_of_care=["detox", "residential"],
        capacity=20,
        open_beds=5,
    )


@pytest.fixture
def maya(client, counselor):
    client.force_login(counselor)
    return client


def schedule(lead, program, by, **overrides) -> Admission:
    kwargs = {
        "lead": lead,
        "program": program,
        "level_of_care": "residential",
        "scheduled_for": THURSDAY_10,
        "travel_arranged": True,
        "travel_notes": "Mom drives",
        "by": by,
    }
    kwargs.update(overrides)
    return admission_schedule(**kwargs)


def page(lead) -> str:
    return f"/leads/{lead.pk}/"


def form_data(program, **overrides) -> dict:
    data = {
        "program": program.pk,
        "level_of_care": "residential",
        "scheduled_for": "2026-12-03T10:00",
        "travel_arranged": "on",
        "travel_notes": "Mom drives",
    }
    data.update(overrides)
    return data


def field_errors(html: str) -> str:
    return " ".join(re.findall(r'class="field-error"[^>]*>(.*?)</p>', html, re.S))


def admission_activities(lead) -> list[Activity]:
    return list(Activity.objects.filter(lead=lead, kind=Activity.Kind.ADMISSION))


# --- Scheduling ----------------------------------------------------------------------


def test_scheduling_moves_the_lead_and_sets_a_call_the_day_before(
    lead, harbor, counselor
):
    admission = schedule(lead, harbor, counselor)

    lead.refresh_from_db()
    assert lead.stage == Stage.ADMISSION_SCHEDULED
    assert admission.status == Admission.Status.SCHEDULED
    assert admission.status_changed_by == counselor
    (reminder,) = CallBack.objects.filter(lead=lead, reason=CallBack.Reason.SCHEDULED)
    assert reminder.due_at == THURSDAY_10 - datetime.timedelta(days=1)
    assert reminder.owner == counselor
    (activity,) = admission_activities(lead)
    assert activity.summary.startswith("Admission scheduled at Harbor House")
    assert AuditEvent.objects.filter(
        action="create", object_type="admission", object_id=str(admission.pk)
    ).exists()


def test_an_admission_less_than_a_day_away_gets_no_reminder_call(
    lead, harbor, counselor
):
    schedule(lead, harbor, counselor, scheduled_for=NOON_TUESDAY.replace(hour=18))

    assert not CallBack.objects.filter(
        lead=lead, reason=CallBack.Reason.SCHEDULED
    ).exists()


def test_scheduling_from_insurance_verification_is_allowed(team_a, counselor, harbor):
    verifying = to_stage(
        make_lead(team=team_a, owner=counselor, level_of_care="residential"),
        counselor,
        Stage.CONTACTED,
        Stage.INSURANCE_VERIFICATION,
    )

    schedule(verifying, harbor, counselor)

    verifying.refresh_from_db()
    assert verifying.stage == Stage.ADMISSION_SCHEDULED


def test_scheduling_before_the_pre_screen_and_vob_says_to_complete_them_first(
    team_a, counselor, harbor
):
    early = to_stage(make_lead(team=team_a, owner=counselor), counselor, "contacted")

    with pytest.raises(ValidationError) as refused:
        schedule(early, harbor, counselor)

    assert "complete the pre-screen and the insurance verification first" in str(
        refused.value.message_dict["stage"]
    )
    assert not Admission.objects.exists()


def test_a_closed_lead_cannot_be_scheduled(lead, harbor, counselor):
    lead = lead_transition(
        lead=lead, to=Stage.LOST, by=counselor, reason="chose_other_provider"
    )

    with pytest.raises(ValidationError) as refused:
        schedule(lead, harbor, counselor)

    assert "lead" in refused.value.message_dict


def test_an_inactive_program_or_a_level_it_lacks_is_refused(lead, harbor, counselor):
    with pytest.raises(ValidationError) as refused:
        schedule(lead, harbor, counselor, level_of_care="iop")
    assert refused.value.message_dict["level_of_care"] == [
        "Harbor House does not offer Intensive outpatient (IOP)."
    ]

    Program.objects.filter(pk=harbor.pk).update(is_active=False)
    with pytest.raises(ValidationError) as refused:
        schedule(lead, harbor, counselor)
    assert refused.value.message_dict["program"] == [
        "Harbor House no longer takes admissions."
    ]
    assert not Admission.objects.exists()


def test_the_schedule_form_posts_with_htmx_and_answers_the_card(lead, harbor, maya):
    response = maya.post(page(lead) + "admission/", form_data(harbor), **HTMX)

    html = reloaded(response, maya, lead)
    assert 'id="card-admission"' in html
    assert "Thu Dec 3 10:00 EST" in html
    assert "Admitted" in html
    assert "Admission scheduled" in html
    admission = Admission.objects.get(lead=lead)
    assert admission.scheduled_for == THURSDAY_10
    assert admission.travel_arranged


def test_the_time_is_typed_in_the_leads_zone_and_shown_in_both(
    team_a, counselor, harbor, maya
):
    chicago = to_stage(
        make_lead(team=team_a, owner=counselor, state="IL", level_of_care="detox"),
        counselor,
        Stage.CONTACTED,
        Stage.INSURANCE_VERIFICATION,
    )

    response = maya.post(
        page(chicago) + "admission/",
        form_data(harbor, level_of_care="detox"),
        **HTMX,
    )

    html = reloaded(response, maya, chicago)
    admission = Admission.objects.get(lead=chicago)
    assert admission.scheduled_for == datetime.datetime(
        2026, 12, 3, 10, 0, tzinfo=CHICAGO
    )
    assert "Thu Dec 3 10:00 CST (11:00 EST here)" in html


def test_a_past_time_is_a_400_with_the_field_error_and_writes_nothing(
    lead, harbor, maya
):
    response = maya.post(
        page(lead) + "admission/",
        form_data(harbor, scheduled_for="2026-11-30T10:00"),
        **HTMX,
    )

    assert response.status_code == 400
    assert "This time has passed" in field_errors(response.content.decode())
    assert not Admission.objects.exists()
    assert not admission_activities(lead)
    lead.refresh_from_db()
    assert lead.stage == Stage.CLINICAL_REVIEW


def test_an_inactive_program_is_not_offered_and_a_post_for_it_is_a_400(
    lead, harbor, maya
):
    Program.objects.filter(pk=harbor.pk).update(is_active=False)

    response = maya.post(page(lead) + "admission/", form_data(harbor), **HTMX)

    assert response.status_code == 400
    assert "Select a valid choice" in field_errors(response.content.decode())
    assert not Admission.objects.exists()


def test_a_second_admission_is_a_400_while_one_is_scheduled(
    lead, harbor, counselor, maya
):
    schedule(lead, harbor, counselor)

    response = maya.post(
        page(lead) + "admission/",
        form_data(harbor, scheduled_for="2026-12-04T10:00"),
        **HTMX,
    )

    assert response.status_code == 400
    assert Admission.objects.filter(lead=lead).count() == 1
    with pytest.raises(ValidationError) as refused:
        schedule(lead, harbor, counselor, scheduled_for=THURSDAY_10.replace(day=4))
    assert "already has an admission scheduled" in str(
        refused.value.message_dict["program"]
    )


def test_without_htmx_a_success_redirects_and_a_refusal_shows_the_card(
    lead, harbor, maya
):
    bad = maya.post(
        page(lead) + "admission/",
        form_data(harbor, scheduled_for="soon"),
    )
    assert bad.status_code == 400
    assert f"Lead #{lead.pk} admission" in bad.content.decode()
    assert "Enter a date and time" in field_errors(bad.content.decode())

    good = maya.post(page(lead) + "admission/", form_data(harbor))
    assert good.status_code == 302
    assert good["Location"] == page(lead) + "#card-admission"


# --- Rescheduling --------------------------------------------------------------------


def test_rescheduling_moves_the_reminder_call_too(lead, harbor, counselor, maya):
    admission = schedule(lead, harbor, counselor)

    response = maya.post(
        page(lead) + f"admission/{admission.pk}/reschedule/",
        {
            "scheduled_for": "2026-12-05T09:00",
            "travel_notes": "Flight AA 12",
        },
        **HTMX,
    )

    reloaded(response, maya, lead)
    admission.refresh_from_db()
    assert admission.scheduled_for == datetime.datetime(
        2026, 12, 5, 9, 0, tzinfo=NEW_YORK
    )
    assert not admission.travel_arranged
    assert admission.travel_notes == "Flight AA 12"
    reminders = CallBack.objects.filter(lead=lead, reason=CallBack.Reason.SCHEDULED)
    assert sorted((c.status, c.due_at) for c in reminders) == [
        (CallBack.Status.CANCELLED, THURSDAY_10 - datetime.timedelta(days=1)),
        (
            CallBack.Status.PENDING,
            datetime.datetime(2026, 12, 4, 9, 0, tzinfo=NEW_YORK),
        ),
    ]


def test_only_a_scheduled_admission_can_be_rescheduled(lead, harbor, counselor):
    admission = schedule(lead, harbor, counselor)
    admission_cancel(admission=admission, by=counselor, reason="Changed their mind")

    with pytest.raises(ValidationError) as refused:
        admission_reschedule(
            admission=admission,
            scheduled_for=THURSDAY_10,
            travel_arranged=True,
            by=counselor,
        )

    assert "status" in refused.value.message_dict


# --- Admitted ------------------------------------------------------------------------


def test_admitting_moves_the_lead_to_admitted_and_takes_a_bed(
    lead, harbor, counselor, maya, clock
):
    admission = schedule(lead, harbor, counselor)
    clock.move_to(THURSDAY_10)
    maya.force_login(counselor)

    response = maya.post(page(lead) + f"admission/{admission.pk}/admit/", **HTMX)

    reloaded(response, maya, lead)
    admission.refresh_from_db()
    assert admission.status == Admission.Status.ADMITTED
    assert admission.admitted_at == THURSDAY_10
    assert admission.status_changed_by == counselor
    lead.refresh_from_db()
    assert lead.stage == Stage.ADMITTED
    harbor.refresh_from_db()
    assert harbor.open_beds == 4
    # The lead is closed: the reminder call is no longer owed.
    assert not CallBack.objects.open().filter(lead=lead).exists()
    assert "Admitted to Harbor House" in admission_activities(lead)[0].summary


def test_admitting_into_a_full_program_leaves_its_beds_at_zero(lead, harbor, counselor):
    admission = schedule(lead, harbor, counselor)
    Program.objects.filter(pk=harbor.pk).update(open_beds=0)

    admission_admit(admission=admission, by=counselor)

    harbor.refresh_from_db()
    assert harbor.open_beds == 0


def test_an_admission_cannot_be_admitted_twice(lead, harbor, counselor, maya):
    admission = schedule(lead, harbor, counselor)
    admission_admit(admission=admission, by=counselor)

    response = maya.post(page(lead) + f"admission/{admission.pk}/admit/", **HTMX)

    assert response.status_code == 400
    assert "already admitted" in response.content.decode()
    harbor.refresh_from_db()
    assert harbor.open_beds == 4


# --- No-show -------------------------------------------------------------------------


def test_a_no_show_sends_the_lead_back_to_review_and_restarts_follow_up(
    lead, harbor, counselor, supervisor, client, clock
):
    admission = schedule(lead, harbor, counselor)
    clock.move_to(THURSDAY_10 + datetime.timedelta(hours=2))
    client.force_login(supervisor)

    response = client.post(
        page(lead) + f"admission/{admission.pk}/no-show/",
        {"note": "Phone off since last night"},
        **HTMX,
    )

    reloaded(response, client, lead)
    admission.refresh_from_db()
    assert admission.status == Admission.Status.NO_SHOW
    assert admission.status_changed_by == supervisor
    lead.refresh_from_db()
    assert lead.stage == Stage.CLINICAL_REVIEW
    assert lead.cadence_attempt == 1
    (attempt,) = CallBack.objects.open().filter(lead=lead)
    assert attempt.reason == CallBack.Reason.CADENCE
    assert attempt.attempt == 1
    # The default cadence's first attempt: five minutes on.
    assert attempt.due_at == THURSDAY_10 + datetime.timedelta(hours=2, minutes=5)
    assert attempt.owner == lead.owner
    alert = Alert.objects.get(user=lead.owner, kind="callback_due")
    assert f"Lead #{lead.pk}" in alert.text
    assert "Harbor" not in alert.text


def test_after_a_no_show_an_unanswered_call_goes_on_to_attempt_two(
    lead, harbor, counselor, clock
):
    admission = schedule(lead, harbor, counselor)
    clock.move_to(THURSDAY_10 + datetime.timedelta(hours=2))
    admission_no_show(admission=admission, by=counselor)
    clock.move_to(THURSDAY_10 + datetime.timedelta(hours=2, minutes=5))

    logged = lead_call_log(
        lead=lead, by=counselor, disposition=CallDisposition.NO_ANSWER
    )

    assert logged.next_callback.reason == CallBack.Reason.CADENCE
    assert logged.next_callback.attempt == 2


def test_a_no_show_cannot_be_recorded_before_the_arrival_time(
    lead, harbor, counselor, maya
):
    admission = schedule(lead, harbor, counselor)

    response = maya.post(page(lead) + f"admission/{admission.pk}/no-show/", **HTMX)

    assert response.status_code == 400
    assert "cancel it with the reason" in response.content.decode()
    admission.refresh_from_db()
    assert admission.status == Admission.Status.SCHEDULED


# --- Cancelled -----------------------------------------------------------------------


def test_cancelling_needs_a_reason_and_writes_nothing_without_one(
    lead, harbor, counselor, maya
):
    admission = schedule(lead, harbor, counselor)
    activities_before = Activity.objects.filter(lead=lead).count()

    response = maya.post(
        page(lead) + f"admission/{admission.pk}/cancel/",
        {"reason": "  "},
        **HTMX,
    )

    assert response.status_code == 400
    assert "This field is required." in field_errors(response.content.decode())
    admission.refresh_from_db()
    assert admission.status == Admission.Status.SCHEDULED
    assert Activity.objects.filter(lead=lead).count() == activities_before
    with pytest.raises(ValidationError) as refused:
        admission_cancel(admission=admission, by=counselor, reason="")
    assert "reason" in refused.value.message_dict


def test_cancelling_sends_the_lead_back_to_review_and_drops_the_reminder(
    lead, harbor, counselor, maya
):
    admission = schedule(lead, harbor, counselor)

    response = maya.post(
        page(lead) + f"admission/{admission.pk}/cancel/",
        {"reason": "Chose a program closer to home"},
        **HTMX,
    )

    html = reloaded(response, maya, lead)
    admission.refresh_from_db()
    assert admission.status == Admission.Status.CANCELLED
    assert admission.cancel_reason == "Chose a program closer to home"
    lead.refresh_from_db()
    assert lead.stage == Stage.CLINICAL_REVIEW
    assert not CallBack.objects.open().filter(lead=lead).exists()
    assert "Chose a program closer to home" in html
    assert "Schedule admission" in html


# --- Access --------------------------------------------------------------------------


def test_another_teams_counselor_gets_a_404_for_the_card_actions(
    lead, harbor, counselor, other_counselor, client
):
    admission = schedule(lead, harbor, counselor)
    client.force_login(other_counselor)
    base = page(lead) + "admission/"

    assert client.post(base, form_data(harbor)).status_code == 404
    for action in ("admit/", "no-show/", "cancel/", "reschedule/"):
        response = client.post(f"{base}{admission.pk}/{action}", {})
        assert response.status_code == 404, action
    admission.refresh_from_db()
    assert admission.status == Admission.Status.SCHEDULED


def test_an_admission_of_another_lead_is_a_404(lead, harbor, counselor, team_a, maya):
    other = to_stage(
        make_lead(team=team_a, owner=counselor, level_of_care="residential"),
        counselor,
        Stage.CONTACTED,
        Stage.INSURANCE_VERIFICATION,
    )
    admission = schedule(other, harbor, counselor)

    response = maya.post(page(lead) + f"admission/{admission.pk}/admit/")

    assert response.status_code == 404


# --- The card ------------------------------------------------------------------------


def test_the_card_shows_the_top_matches_and_the_schedule_form(lead, harbor, maya):
    Program.objects.create(
        name="Bayside IOP",
        facility_name="Bayside",
        city="Tampa",
        state="FL",
        levels_of_care=["iop"],
        capacity=10,
        open_beds=3,
    )

    response = maya.get(page(lead))

    html = response.content.decode()
    card = html[html.index('id="card-admission"') :]
    assert response.status_code == 200
    assert "Harbor House" in card
    assert "Offers Residential" in card
    assert "No Residential" in card
    assert "Schedule admission" in card
    assert f"/programs/?lead={lead.pk}" in card


def test_the_card_shows_a_scheduled_admission_with_its_actions_and_history(
    lead, harbor, counselor, maya
):
    first = schedule(lead, harbor, counselor)
    admission_cancel(admission=first, by=counselor, reason="Family emergency")
    schedule(lead, harbor, counselor, scheduled_for=THURSDAY_10.replace(day=10))

    response = maya.get(page(lead))

    html = response.content.decode()
    card = html[html.index('id="card-admission"') :]
    assert "Thu Dec 10 10:00 EST" in card
    assert "Mom drives" in card
    for button in ("Admitted", "No-show", "Cancel the admission", "Reschedule"):
        assert button in card
    assert "Earlier admissions (1)" in card
    assert "Family emergency" in card


def test_early_in_the_funnel_the_card_explains_why_it_cannot_schedule_yet(
    team_a, counselor, harbor, maya
):
    early = make_lead(team=team_a, owner=counselor)

    html = maya.get(page(early)).content.decode()

    assert "complete the pre-screen and the insurance verification first" in html


@pytest.mark.parametrize("scheduled", [False, True])
def test_the_card_reads_at_most_three_queries(
    lead, harbor, counselor, rf, django_assert_max_num_queries, scheduled
):
    for n in range(5):
        Program.objects.create(
            name=f"Program {n}",
            facility_name="Campus",
            city="Austin",
            state="TX",
            levels_of_care=["residential"],
            capacity=5,
            open_beds=n,
        )
    if scheduled:
        admission = schedule(lead, harbor, counselor)
        admission_cancel(admission=admission, by=counselor, reason="Moved")
        schedule(lead, harbor, counselor)
    request = rf.get(page(lead))
    request.user = counselor

    with django_assert_max_num_queries(3):
        context = card_context(request=request, lead=lead)

    assert context["admission_current"] is not None or context["admission_matches"]
