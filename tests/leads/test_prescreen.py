"""The pre-screen: filled in on the call, saved as versions, acted on for the lead."""

import datetime
import re
import threading
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import RequestFactory

from crm.models import AuditEvent
from leads.admissions.prescreen import (
    PRESCREEN_FIELDS,
    prescreen_changes,
    prescreen_current,
    prescreen_history,
    prescreen_save,
)
from leads.admissions.ui.prescreen import SECTIONS, card_context
from leads.models import (
    Activity,
    AsamLevel,
    Lead,
    LevelOfCare,
    PreScreen,
    Priority,
    Urgency,
)
from notifications.models import Alert

from ..factories import make_lead

NEW_YORK = ZoneInfo("America/New_York")
NOON_NY = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=NEW_YORK)
SAFE = {"suicidal_thoughts": "no", "overdose_last_30_days": "no"}


@pytest.fixture(autouse=True)
def _noon_in_new_york():
    with time_machine.travel(NOON_NY, tick=False):
        yield


@pytest.fixture
def lead(team_a, counselor):
    return make_lead(team=team_a, owner=counselor, first_name="Ann", state="NY")


@pytest.fixture
def maya(client, counselor):
    client.force_login(counselor)
    return client


def url(lead, version: int | None = None) -> str:
    if version is None:
        return f"/leads/{lead.pk}/prescreen/"
    return f"/leads/{lead.pk}/prescreen/v{version}/"


def answers(**overrides) -> dict[str, str]:
    """A complete post of the form, as a browser sends it."""
    data = {
        "patient_is": "caller",
        "patient_name": "Ann Baker",
        "patient_age": "34",
        "patient_gender": "female",
        "withdrawal_risk": "moderate",
        "detox_needed": "no",
        "withdrawal_history": "",
        "co_occurring_mental_health": "yes",
        "mental_health_notes": "Anxiety, sees a therapist.",
        "medications": "Sertraline 50 mg",
        "suicidal_thoughts": "no",
        "overdose_last_30_days": "no",
        "safety_notes": "",
        "legal_issues": "unknown",
        "legal_notes": "",
        "asam_intoxication_withdrawal": "2",
        "asam_biomedical": "1",
        "asam_emotional_behavioral": "2",
        "asam_readiness_to_change": "1",
        "asam_relapse_potential": "3",
        "asam_recovery_environment": "2",
        "level_of_care_indicated": AsamLevel.LEVEL_2_1,
        "readiness": "preparation",
        "notes": "Works days; evenings IOP suits her.",
        "substance_1": "Alcohol",
        "route_1": "oral",
        "frequency_1": "daily",
        "amount_1": "a fifth",
        "last_use_1": "2026-11-30",
    }
    for row in range(2, 5):
        for key in ("substance", "route", "frequency", "amount", "last_use"):
            data[f"{key}_{row}"] = ""
    data.update(overrides)
    return data


def post(client, lead, **overrides):
    return client.post(url(lead), answers(**overrides))


# --- Versions -------------------------------------------------------------------------


def test_each_save_is_a_new_version_with_who_and_when(lead, counselor, teammate):
    first = prescreen_save(lead=lead, by=counselor, data={"patient_age": 34})
    with time_machine.travel(NOON_NY + datetime.timedelta(minutes=20), tick=False):
        second = prescreen_save(lead=lead, by=teammate, data={"patient_age": 35})

    assert (first.version, first.created_by, first.created_at) == (
        1,
        counselor,
        NOON_NY,
    )
    assert (second.version, second.created_by) == (2, teammate)
    assert second.created_at == NOON_NY + datetime.timedelta(minutes=20)
    assert [(row.version, row.by) for row in prescreen_history(lead)] == [
        (2, teammate),
        (1, counselor),
    ]


def test_saving_again_leaves_older_versions_as_they_were(lead, counselor):
    prescreen_save(
        lead=lead,
        by=counselor,
        data={"notes": "First call.", "asam_biomedical": 1},
    )

    prescreen_save(lead=lead, by=counselor, data={"notes": "Second call."})

    first, second = PreScreen.objects.filter(lead=lead).order_by("version")
    assert (first.notes, first.asam_biomedical) == ("First call.", 1)
    # An answer left out is carried over from the version before.
    assert (second.notes, second.asam_biomedical) == ("Second call.", 1)


def test_a_save_from_a_stale_page_still_takes_the_next_version(lead, counselor):
    stale = Lead.objects.get(pk=lead.pk)
    prescreen_save(lead=lead, by=counselor, data={"notes": "one"})

    later = prescreen_save(lead=stale, by=counselor, data={"notes": "two"})

    assert later.version == 2
    assert prescreen_current(lead).notes == "two"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_saves_at_the_same_moment_each_get_their_own_version(team_a, counselor):
    lead = make_lead(team=team_a, owner=counselor)
    count = 4
    barrier = threading.Barrier(count)
    errors: list[Exception] = []

    def save(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            prescreen_save(lead=lead, by=counselor, data={"notes": f"save {i}"})
        except Exception as exc:  # reported by the main thread below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=save, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    versions = PreScreen.objects.filter(lead=lead).values_list("version", flat=True)
    assert sorted(versions) == [1, 2, 3, 4]


# --- The form page --------------------------------------------------------------------


def test_saving_the_form_goes_back_to_the_lead_card_and_says_so(maya, lead, counselor):
    response = post(maya, lead)

    assert response.status_code == 302
    assert response["Location"] == f"/leads/{lead.pk}/#card-prescreen"
    saved = prescreen_current(lead)
    assert saved.version == 1
    assert saved.created_by == counselor
    assert saved.substances == [
        {
            "substance": "alcohol",
            "route": "oral",
            "frequency": "daily",
            "amount": "a fifth",
            "last_use": "2026-11-30",
        }
    ]
    assert saved.last_use_on == datetime.date(2026, 11, 30)
    assert saved.asam_relapse_potential == 3
    page = maya.get(response["Location"]).content.decode()
    assert "Pre-screen saved as version 1." in page


def test_a_substance_not_on_the_list_is_kept_as_typed(maya, lead):
    post(maya, lead, substance_2="Xanax bars", route_2="oral", last_use_2="")

    rows = prescreen_current(lead).substances
    assert [row["substance"] for row in rows] == ["alcohol", "Xanax bars"]


def test_asam_score_five_is_refused_and_nothing_is_written(maya, lead):
    response = post(maya, lead, asam_biomedical="5")

    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="prescreen_asam_biomedical_error"' in html
    assert re.search(r'name="asam_biomedical"[^>]*aria-invalid="true"', html)
    assert not PreScreen.objects.filter(lead=lead).exists()
    assert not Activity.objects.filter(lead=lead, kind=Activity.Kind.PRESCREEN).exists()


def test_the_service_refuses_a_score_out_of_range_on_its_field(lead, counselor):
    with pytest.raises(ValidationError) as refused:
        prescreen_save(lead=lead, by=counselor, data={"asam_biomedical": 5})

    assert "asam_biomedical" in refused.value.message_dict
    assert not PreScreen.objects.filter(lead=lead).exists()


def test_the_service_reports_every_wrong_answer_at_once(lead, counselor):
    with pytest.raises(ValidationError) as refused:
        prescreen_save(
            lead=lead,
            by=counselor,
            data={
                "asam_biomedical": 7,
                "substances": [{"substance": "alcohol", "route": "by mouth"}],
            },
        )

    assert set(refused.value.message_dict) == {"asam_biomedical", "substances"}
    assert refused.value.message_dict["substances"] == [
        "Substance 1: choose a route from the list."
    ]


def test_a_last_use_in_the_future_is_refused(maya, lead):
    response = post(maya, lead, last_use_1="2026-12-05")

    assert response.status_code == 400
    assert "Last use cannot be in the future." in response.content.decode()
    assert not PreScreen.objects.filter(lead=lead).exists()


def test_a_substance_row_without_a_substance_is_refused(maya, lead):
    response = post(maya, lead, frequency_2="weekends")

    assert response.status_code == 400
    assert "Name the substance, or clear this row." in response.content.decode()


def test_the_form_is_filled_from_the_current_version(maya, lead, counselor):
    prescreen_save(
        lead=lead,
        by=counselor,
        data={
            "patient_name": "Jo Baker",
            "asam_recovery_environment": 3,
            "substances": [{"substance": "fentanyl", "route": "smoked"}],
        },
    )

    html = maya.get(url(lead)).content.decode()

    assert 'value="Jo Baker"' in html
    assert re.search(
        r'name="asam_recovery_environment".*?<option value="3" selected', html, re.S
    )
    assert 'value="Fentanyl"' in html
    assert "Save as version 2" in html


def test_the_crisis_script_is_on_the_form_beside_the_safety_questions(maya, lead):
    html = maya.get(url(lead)).content.decode()

    assert 'id="prescreen-crisis"' in html
    assert "988" in html
    assert "911" in html
    assert "crm/prescreen.js" in html


def test_every_form_input_has_a_label(maya, lead):
    html = maya.get(url(lead)).content.decode()

    ids = re.findall(r'<(?:input|select|textarea)[^>]*\sid="([^"]+)"', html)
    assert len(ids) > 40
    for input_id in ids:
        assert f'for="{input_id}"' in html, input_id


def test_the_page_title_names_the_lead_by_number_only(maya, lead):
    html = maya.get(url(lead)).content.decode()

    title = re.search(r"<title>(.*?)</title>", html, re.S).group(1)
    assert f"Lead #{lead.pk}" in title
    assert "Ann" not in title


# --- What the pre-screen does to the lead ---------------------------------------------


def test_safety_yes_makes_the_lead_a_crisis_and_alerts_the_supervisor(
    maya, lead, supervisor
):
    response = post(maya, lead, suicidal_thoughts="yes")

    assert response.status_code == 302
    lead.refresh_from_db()
    assert lead.urgency == Urgency.CRISIS
    assert lead.priority == Priority.URGENT
    alert = Alert.objects.get(user=supervisor, lead=lead)
    assert f"Lead #{lead.pk}" in alert.text
    page = maya.get(response["Location"]).content.decode()
    assert 'id="crisis-title"' in page
    assert "988 Suicide &amp; Crisis Lifeline" in page
    assert "badge-danger" in page


def test_a_recent_overdose_counts_as_a_safety_yes(lead, counselor, supervisor):
    saved = prescreen_save(
        lead=lead, by=counselor, data={"overdose_last_30_days": "yes"}
    )

    lead.refresh_from_db()
    assert saved.safety_flagged
    assert lead.urgency == Urgency.CRISIS
    assert Alert.objects.filter(user=supervisor, lead=lead).count() == 1


def test_the_same_yes_saved_again_does_not_alert_again(lead, counselor, supervisor):
    prescreen_save(lead=lead, by=counselor, data={"suicidal_thoughts": "yes"})

    prescreen_save(lead=lead, by=counselor, data={"notes": "Called back."})

    assert Alert.objects.filter(user=supervisor, lead=lead).count() == 1


def test_a_later_no_does_not_stand_the_crisis_down(lead, counselor):
    prescreen_save(lead=lead, by=counselor, data={"suicidal_thoughts": "yes"})

    prescreen_save(lead=lead, by=counselor, data=SAFE)

    lead.refresh_from_db()
    assert lead.urgency == Urgency.CRISIS


def test_no_safety_yes_leaves_urgency_and_alerts_alone(maya, lead, supervisor):
    post(maya, lead)

    lead.refresh_from_db()
    assert lead.urgency == Urgency.ROUTINE
    assert not Alert.objects.filter(user=supervisor).exists()


@pytest.mark.parametrize(
    ("indicated", "detox", "level"),
    [
        (AsamLevel.LEVEL_2_1, "no", LevelOfCare.IOP),
        (AsamLevel.LEVEL_3_5, "unknown", LevelOfCare.RESIDENTIAL),
        (AsamLevel.LEVEL_2_5, "yes", LevelOfCare.DETOX),
        ("", "yes", LevelOfCare.DETOX),
        # Medically monitored residential manages withdrawal on site.
        (AsamLevel.LEVEL_3_7, "yes", LevelOfCare.RESIDENTIAL),
    ],
)
def test_the_level_indicated_becomes_the_leads_level_of_care(
    lead, counselor, indicated, detox, level
):
    prescreen_save(
        lead=lead,
        by=counselor,
        data={"level_of_care_indicated": indicated, "detox_needed": detox},
    )

    lead.refresh_from_db()
    assert lead.level_of_care == level


def test_no_level_indicated_leaves_the_leads_level_alone(lead, counselor):
    Lead.objects.filter(pk=lead.pk).update(level_of_care=LevelOfCare.PHP)

    prescreen_save(lead=lead, by=counselor, data={"notes": "Still deciding."})

    lead.refresh_from_db()
    assert lead.level_of_care == LevelOfCare.PHP


def test_the_timeline_says_the_version_and_level_and_nothing_clinical(maya, lead):
    post(maya, lead)

    line = Activity.objects.get(lead=lead, kind=Activity.Kind.PRESCREEN)
    assert line.summary == (
        "Pre-screen saved (version 1); level of care indicated: "
        "2.1 Intensive outpatient (9–19 h/week)"
    )
    assert line.body == ""
    assert "alcohol" not in str(line.data).lower()


def test_the_audit_names_changed_answers_never_their_values(maya, lead, counselor):
    post(maya, lead)
    post(maya, lead, medications="Sertraline 100 mg", asam_relapse_potential="4")

    created = AuditEvent.objects.filter(object_type="prescreen", action="create")
    first, second = created.order_by("at", "id")
    assert "medications" in first.fields
    assert sorted(second.fields) == ["asam_relapse_potential", "medications"]
    for event in AuditEvent.objects.filter(lead_id=lead.pk):
        written = f"{event.detail} {event.fields}".lower()
        for value in ("sertraline", "alcohol", "a fifth", "anxiety", "iop"):
            assert value not in written


# --- Access ---------------------------------------------------------------------------


def test_another_teams_counselor_gets_404_and_writes_nothing(
    client, lead, counselor, other_counselor
):
    prescreen_save(lead=lead, by=counselor, data={"notes": "v1"})
    client.force_login(other_counselor)

    assert client.get(url(lead)).status_code == 404
    assert client.post(url(lead), answers()).status_code == 404
    assert client.get(url(lead, 1)).status_code == 404
    assert PreScreen.objects.filter(lead=lead).count() == 1


def test_a_version_that_does_not_exist_is_404(maya, lead, counselor):
    prescreen_save(lead=lead, by=counselor, data={})

    assert maya.get(url(lead, 2)).status_code == 404


# --- The card and older versions ------------------------------------------------------


def test_the_card_shows_the_current_version(maya, lead, counselor, teammate):
    prescreen_save(lead=lead, by=counselor, data={"notes": "v1"})
    prescreen_save(
        lead=lead,
        by=teammate,
        data={
            "level_of_care_indicated": AsamLevel.LEVEL_3_5,
            "asam_relapse_potential": 4,
            "detox_needed": "yes",
            "readiness": "action",
        },
    )

    html = maya.get(f"/leads/{lead.pk}/").content.decode()
    card = re.search(
        r'<section class="card"\s+id="card-prescreen".*?</section>', html, re.S
    )
    card = card.group(0)

    assert "Version 2 by Jordan Reyes" in card
    assert "ASAM 3.5 Clinically managed high-intensity residential" in card
    assert "Relapse risk</abbr> <strong>4</strong>" in card
    assert "Ready now" in card
    assert "Update pre-screen" in card
    assert f'href="/leads/{lead.pk}/prescreen/v1/"' in card
    assert "<details>" in card


def test_a_lead_with_no_pre_screen_offers_to_fill_it_in(maya, lead):
    html = maya.get(f"/leads/{lead.pk}/").content.decode()

    assert "Fill in pre-screen" in html
    assert f'href="/leads/{lead.pk}/prescreen/"' in html


def test_the_card_reads_at_most_three_queries(
    lead, counselor, django_assert_max_num_queries
):
    for n in range(3):
        prescreen_save(lead=lead, by=counselor, data={"notes": f"v{n}"})
    request = RequestFactory().get("/")
    request.user = counselor

    with django_assert_max_num_queries(3):
        context = card_context(request=request, lead=lead)
        [row.by.get_full_name() for row in context["prescreen_history"]]
        str(context["prescreen_current"].created_by)

    assert context["prescreen_current"].version == 3


def test_an_older_version_shows_what_changed_and_is_audited(maya, lead, counselor):
    prescreen_save(lead=lead, by=counselor, data={"withdrawal_risk": "mild"})
    prescreen_save(lead=lead, by=counselor, data={"withdrawal_risk": "severe"})
    prescreen_save(lead=lead, by=counselor, data={"notes": "v3"})

    response = maya.get(url(lead, 2))

    html = response.content.decode()
    assert response.status_code == 200
    assert "Changed since version 1" in html
    changes = re.search(r"<tbody>.*?</tbody>", html, re.S).group(0)
    assert "Withdrawal risk" in changes
    assert "Mild" in changes
    assert "Severe (seizures, DTs history)" in changes
    assert "v3" not in html
    viewed = AuditEvent.objects.get(object_type="prescreen", action="view")
    assert viewed.object_id == str(prescreen_current(lead).pk - 1)
    assert viewed.detail == "version 2"


def test_changes_list_labels_with_old_and_new_answers(lead, counselor):
    older = prescreen_save(lead=lead, by=counselor, data={"asam_biomedical": 1})
    newer = prescreen_save(
        lead=lead,
        by=counselor,
        data={"asam_biomedical": 3, "substances": [{"substance": "kratom"}]},
    )

    assert prescreen_changes(older, newer) == [
        ("Substances", "—", "Kratom"),
        ("ASAM 2: Biomedical conditions and complications", "1 – mild", "3 – serious"),
    ]


def test_the_read_only_page_shows_every_answer():
    shown = [name for _, names in SECTIONS for name in names]

    assert sorted(shown) == sorted(PRESCREEN_FIELDS)
