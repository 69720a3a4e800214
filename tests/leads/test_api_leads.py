"""The lead API: who sees which leads, what may be written, lists, and the audit."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crm.models import AuditEvent
from leads import services
from leads.models import Activity, Lead, LevelOfCare, Stage
from leads.serializers import LeadListSerializer

from ..factories import LeadSourceFactory, make_lead

LEADS_URL = "/api/v1/leads/"
# The caller's teams, the count, the page with owner/team/source joined, and one
# insert of the audit rows for the whole page.
LIST_QUERIES = 4


def detail_url(lead: Lead) -> str:
    return f"{LEADS_URL}{lead.pk}/"


def result_ids(response) -> set[int]:
    return {row["id"] for row in response.data["results"]}


def move(lead: Lead, *stages: str) -> Lead:
    for stage in stages:
        lead = services.lead_transition(lead=lead, to=stage, by=None)
    return lead


# --- Team scoping ----------------------------------------------------------------


@pytest.fixture
def foreign_lead(team_b, other_counselor):
    return make_lead(team=team_b, owner=other_counselor, first_name="Remy")


@pytest.mark.parametrize(
    ("method", "suffix", "payload"),
    [
        ("get", "", None),
        ("patch", "", {"city": "Tampa"}),
        ("post", "transition/", {"to": "attempting_contact"}),
        ("get", "notes/", None),
        ("post", "notes/", {"body": "Called, no answer."}),
        ("get", "timeline/", None),
    ],
)
def test_counselor_gets_404_not_403_for_another_teams_lead(
    counselor, foreign_lead, client_for, method, suffix, payload
):
    # Given a lead of a team the counselor does not work in
    client = client_for(counselor)

    # When they reach for it in any way
    url = f"{detail_url(foreign_lead)}{suffix}"
    if payload is None:
        response = getattr(client, method)(url)
    else:
        response = getattr(client, method)(url, payload, format="json")

    # Then the API does not even admit the lead exists, and nothing changed
    assert response.status_code == 404
    foreign_lead.refresh_from_db()
    assert foreign_lead.city == ""
    assert foreign_lead.stage == Stage.NEW
    assert not foreign_lead.activities.filter(kind=Activity.Kind.NOTE).exists()
    assert not AuditEvent.objects.filter(
        lead_id=foreign_lead.pk, actor=counselor
    ).exists()


def test_counselor_list_shows_only_their_teams_leads(
    counselor, teammate, foreign_lead, team_a, client_for
):
    own = make_lead(team=team_a, owner=counselor)
    teammates = make_lead(team=team_a, owner=teammate)

    response = client_for(counselor).get(LEADS_URL)

    assert response.status_code == 200
    assert response.data["count"] == 2
    assert result_ids(response) == {own.pk, teammates.pk}


def test_supervisor_sees_the_team_they_supervise_and_no_other(
    supervisor, counselor, foreign_lead, team_a, client_for
):
    supervised = make_lead(team=team_a, owner=counselor)
    client = client_for(supervisor)

    listed = client.get(LEADS_URL)

    assert result_ids(listed) == {supervised.pk}
    assert client.get(detail_url(supervised)).status_code == 200
    assert client.get(detail_url(foreign_lead)).status_code == 404


def test_admin_sees_every_teams_leads(
    admin_user, counselor, foreign_lead, team_a, client_for
):
    ours = make_lead(team=team_a, owner=counselor)
    queue = make_lead(team=None)
    client = client_for(admin_user)

    listed = client.get(LEADS_URL)

    assert result_ids(listed) == {ours.pk, foreign_lead.pk, queue.pk}
    assert client.get(detail_url(foreign_lead)).status_code == 200


def test_unauthenticated_caller_gets_401_and_no_lead_data(api_client, foreign_lead):
    listed = api_client.get(LEADS_URL)
    detail = api_client.get(detail_url(foreign_lead))
    created = api_client.post(
        LEADS_URL, {"first_name": "Ann", "phone": "3055550177"}, format="json"
    )

    assert listed.status_code == 401
    assert detail.status_code == 401
    assert created.status_code == 401
    assert "results" not in listed.data
    assert Lead.objects.count() == 1


def test_leads_cannot_be_deleted(counselor, team_a, client_for):
    lead = make_lead(team=team_a, owner=counselor)

    response = client_for(counselor).delete(detail_url(lead))

    assert response.status_code == 405
    assert Lead.objects.filter(pk=lead.pk).exists()


# --- Create ----------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["(305) 555-0177", "305.555.0177", "+1 305 555 0177"])
def test_phone_typed_any_way_is_stored_and_returned_as_e164(
    counselor, client_for, typed
):
    response = client_for(counselor).post(
        LEADS_URL, {"first_name": "Ann", "phone": typed}, format="json"
    )

    assert response.status_code == 201, response.data
    assert response.data["phone"] == "+13055550177"
    lead = Lead.objects.get(pk=response.data["id"])
    assert str(lead.phone) == "+13055550177"


def test_bad_phone_is_a_field_error_and_writes_no_lead(counselor, client_for):
    response = client_for(counselor).post(
        LEADS_URL, {"first_name": "Ann", "phone": "12345"}, format="json"
    )

    assert response.status_code == 400
    assert "phone" in response.data["errors"]
    assert not Lead.objects.exists()
    assert not AuditEvent.objects.filter(action="create").exists()


def test_unknown_field_is_refused_by_name(counselor, client_for):
    response = client_for(counselor).post(
        LEADS_URL,
        {"first_name": "Ann", "phone": "3055550177", "favourite_color": "teal"},
        format="json",
    )

    assert response.status_code == 400
    assert list(response.data["errors"]) == ["favourite_color"]
    assert not Lead.objects.exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("level_of_care", "spa_weekend"),
        ("substances", ["alcohol", "chocolate"]),
        ("substances", "alcohol"),
    ],
)
def test_unknown_clinical_choice_is_a_field_error(counselor, client_for, field, value):
    response = client_for(counselor).post(
        LEADS_URL,
        {"first_name": "Ann", "phone": "3055550177", field: value},
        format="json",
    )

    assert response.status_code == 400
    assert field in response.data["errors"]
    assert not Lead.objects.exists()


def test_date_of_birth_in_the_future_is_refused(counselor, client_for):
    tomorrow = timezone.localdate() + datetime.timedelta(days=1)

    response = client_for(counselor).post(
        LEADS_URL,
        {"first_name": "Ann", "phone": "3055550177", "date_of_birth": str(tomorrow)},
        format="json",
    )

    assert response.status_code == 400
    assert "date_of_birth" in response.data["errors"]
    assert not Lead.objects.exists()


def test_counselors_new_lead_is_theirs_in_their_team(counselor, team_a, client_for):
    response = client_for(counselor).post(
        LEADS_URL,
        {
            "first_name": "Ann",
            "last_name": "Lee",
            "phone": "3055550177",
            "level_of_care": LevelOfCare.IOP,
            "substances": ["alcohol", "benzodiazepines"],
            "date_of_birth": "1990-04-02",
        },
        format="json",
    )

    assert response.status_code == 201, response.data
    assert response.data["owner"]["id"] == counselor.pk
    assert response.data["team"]["slug"] == team_a.slug
    assert response.data["stage"] == Stage.NEW
    assert response.data["level_of_care"] == "iop"
    assert response.data["substances"] == ["alcohol", "benzodiazepines"]
    assert response.data["date_of_birth"] == "1990-04-02"
    lead = Lead.objects.get(pk=response.data["id"])
    assert (lead.owner, lead.team) == (counselor, team_a)


def test_counselor_cannot_file_a_lead_into_another_team(counselor, team_b, client_for):
    response = client_for(counselor).post(
        LEADS_URL,
        {"first_name": "Ann", "phone": "3055550177", "team": team_b.pk},
        format="json",
    )

    assert response.status_code == 400
    assert "team" in response.data["errors"]
    assert not Lead.objects.exists()


# --- Update ----------------------------------------------------------------------


def test_patch_changes_details_and_the_answer_shows_them(counselor, team_a, client_for):
    lead = make_lead(team=team_a, owner=counselor)

    response = client_for(counselor).patch(
        detail_url(lead),
        {"city": "Hialeah", "urgency": "urgent", "insurance_payer": "Aetna"},
        format="json",
    )

    assert response.status_code == 200, response.data
    assert response.data["city"] == "Hialeah"
    assert response.data["urgency"] == "urgent"
    assert response.data["insurance_payer"] == "Aetna"
    lead.refresh_from_db()
    assert (lead.city, lead.urgency, lead.insurance_payer) == (
        "Hialeah",
        "urgent",
        "Aetna",
    )


def test_stage_cannot_be_patched_around_the_pipeline(counselor, team_a, client_for):
    lead = make_lead(team=team_a, owner=counselor)

    response = client_for(counselor).patch(
        detail_url(lead), {"stage": "admitted"}, format="json"
    )

    assert response.status_code == 400
    assert "stage" in response.data["errors"]
    lead.refresh_from_db()
    assert lead.stage == Stage.NEW


def test_counselor_cannot_take_a_teammates_lead_and_nothing_else_changes(
    counselor, teammate, team_a, client_for
):
    lead = make_lead(team=team_a, owner=teammate, city="Miami")

    response = client_for(counselor).patch(
        detail_url(lead), {"owner": counselor.pk, "city": "Tampa"}, format="json"
    )

    assert response.status_code == 400
    assert "owner" in response.data["errors"]
    lead.refresh_from_db()
    assert lead.owner == teammate
    assert lead.city == "Miami"
    assert not lead.activities.filter(kind=Activity.Kind.UPDATE).exists()
    assert not AuditEvent.objects.filter(lead_id=lead.pk, action="update").exists()


def test_supervisor_reassigns_a_lead_within_the_team(
    supervisor, counselor, teammate, team_a, client_for
):
    lead = make_lead(team=team_a, owner=teammate)

    response = client_for(supervisor).patch(
        detail_url(lead), {"owner": counselor.pk}, format="json"
    )

    assert response.status_code == 200, response.data
    assert response.data["owner"]["id"] == counselor.pk
    lead.refresh_from_db()
    assert lead.owner == counselor
    assert lead.activities.filter(kind=Activity.Kind.ASSIGNMENT).count() == 2


# --- List filters ----------------------------------------------------------------


@pytest.fixture
def listing(team_a, team_b, counselor, other_counselor):
    """Leads spread over stages, teams, sources, days and contact details."""
    google = LeadSourceFactory(slug="google-ads", name="Google Ads")
    now = timezone.now()
    leads = {
        "new": make_lead(
            team=team_a,
            owner=counselor,
            first_name="Alexis",
            last_name="Moreno",
            phone="+13055550177",
            at=now - datetime.timedelta(days=10),
        ),
        "attempting": move(
            make_lead(
                team=team_a,
                owner=counselor,
                first_name="Brook",
                email="brook.hale@example.net",
                attribution={"source": google},
                at=now - datetime.timedelta(days=5),
            ),
            Stage.ATTEMPTING_CONTACT,
        ),
        "contacted": move(
            make_lead(
                team=team_a,
                owner=counselor,
                first_name="Cory",
                attribution={"source": google},
                at=now - datetime.timedelta(days=1),
            ),
            Stage.CONTACTED,
        ),
        "other_team": make_lead(
            team=team_b,
            owner=other_counselor,
            first_name="Drew",
            attribution={"source": google},
            at=now - datetime.timedelta(days=5),
        ),
    }
    leads["now"] = now
    return leads


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"stage": "new"}, {"new"}),
        ({"stage": ["attempting_contact", "contacted"]}, {"attempting", "contacted"}),
        ({"source": "google-ads"}, {"attempting", "contacted"}),
        ({"search": "alexis"}, {"new"}),
        ({"search": "Alexis Moreno"}, {"new"}),
        ({"search": "305-555-0177"}, {"new"}),
        ({"search": "(305) 555-0177"}, {"new"}),
        ({"search": "brook.hale@example.net"}, {"attempting"}),
        ({"is_open": "true"}, {"new", "attempting", "contacted"}),
    ],
)
def test_counselor_filter_returns_exactly_the_matching_leads(
    counselor, listing, client_for, params, expected
):
    response = client_for(counselor).get(LEADS_URL, params)

    assert response.status_code == 200, response.data
    assert result_ids(response) == {listing[name].pk for name in expected}


def test_team_filter_narrows_an_admins_list(admin_user, listing, team_b, client_for):
    response = client_for(admin_user).get(LEADS_URL, {"team": team_b.pk})

    assert response.status_code == 200
    assert result_ids(response) == {listing["other_team"].pk}


def test_created_range_returns_leads_inside_it(counselor, listing, client_for):
    now = listing["now"]

    response = client_for(counselor).get(
        LEADS_URL,
        {
            "created_after": (now - datetime.timedelta(days=7)).isoformat(),
            "created_before": (now - datetime.timedelta(days=2)).isoformat(),
        },
    )

    assert response.status_code == 200, response.data
    assert result_ids(response) == {listing["attempting"].pk}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"stage": "bogus"}, "stage"),
        ({"created_after": "notadate"}, "created_after"),
        ({"level_of_care": "spa"}, "level_of_care"),
    ],
)
def test_bad_filter_value_is_a_field_error(
    counselor, listing, client_for, params, field
):
    response = client_for(counselor).get(LEADS_URL, params)

    assert response.status_code == 400
    assert field in response.data["errors"]


def test_list_rows_leave_out_date_of_birth_and_member_id(counselor, team_a, client_for):
    make_lead(
        team=team_a,
        owner=counselor,
        date_of_birth=datetime.date(1988, 3, 14),
        insurance_member_id="XJH123456789",
    )

    response = client_for(counselor).get(LEADS_URL)

    row = response.data["results"][0]
    assert "date_of_birth" not in row
    assert "insurance_member_id" not in row
    assert "XJH123456789" not in response.content.decode()
    assert "1988-03-14" not in response.content.decode()


def test_list_query_count_does_not_grow_with_the_number_of_leads(
    counselor, teammate, team_a, client_for, django_assert_max_num_queries
):
    client = client_for(counselor)
    source = LeadSourceFactory(slug="bing", name="Bing")

    def leads_listed(count: int) -> int:
        while Lead.objects.count() < count:
            make_lead(
                team=team_a,
                owner=counselor if Lead.objects.count() % 2 else teammate,
                attribution={"source": source},
            )
        with django_assert_max_num_queries(LIST_QUERIES) as captured:
            response = client.get(LEADS_URL)
        assert len(response.data["results"]) == count
        return len(captured)

    assert leads_listed(3) == leads_listed(20)


def test_list_rows_match_the_generic_rendering_field_for_field(
    counselor, team_a, client_for
):
    # The list builds its rows by hand for speed; they must say exactly what DRF's
    # own rendering of the same serializer says, with and without related rows.
    source = LeadSourceFactory(slug="google-ads", name="Google Ads")
    counselor.first_name, counselor.last_name = "Jordan", "Reyes"
    counselor.save()
    make_lead(
        team=team_a,
        owner=counselor,
        email="casey@example.org",
        state="FL",
        level_of_care=LevelOfCare.IOP,
        attribution={"source": source, "campaign": "iop-fl"},
    )
    make_lead(team=team_a, owner=None, phone="", email="anon@example.org")
    Lead.objects.update(first_response_at=timezone.now())

    response = client_for(counselor).get(LEADS_URL)

    rows = {row["id"]: row for row in response.json()["results"]}
    assert len(rows) == 2
    for lead in Lead.objects.select_related("owner", "team", "source"):
        expected = LeadListSerializer().to_representation_generic(lead)
        assert rows[lead.pk] == {
            name: value if not isinstance(value, dict) else dict(value)
            for name, value in expected.items()
        }


def test_list_query_reads_neither_distinct_nor_encrypted_columns(
    counselor, team_a, client_for
):
    # DISTINCT over the whole team's leads cost more than the page itself at 100,000
    # leads; encrypted intake answers are never shown in the list.
    make_lead(team=team_a, owner=counselor, level_of_care=LevelOfCare.IOP)
    with CaptureQueriesContext(connection) as captured:
        response = client_for(counselor).get(
            LEADS_URL, {"stage": ["new", "attempting_contact"], "level_of_care": "iop"}
        )

    assert len(response.data["results"]) == 1
    page_query = next(
        q["sql"] for q in captured.captured_queries if "LIMIT" in q["sql"].upper()
    )
    assert "DISTINCT" not in page_query.upper()
    assert "date_of_birth" not in page_query
    assert "insurance_member_id" not in page_query


# --- Audit -----------------------------------------------------------------------


def test_reading_a_lead_writes_one_view_row(counselor, team_a, client_for):
    lead = make_lead(team=team_a, owner=counselor)

    client_for(counselor).get(detail_url(lead))

    views = AuditEvent.objects.filter(action="view", lead_id=lead.pk)
    assert views.count() == 1
    assert views.get().actor == counselor
    assert views.get().channel == "api"


def test_listing_writes_one_list_row_per_lead_shown(
    counselor, team_a, foreign_lead, client_for
):
    shown = [make_lead(team=team_a, owner=counselor) for _ in range(3)]

    client_for(counselor).get(LEADS_URL, {"page_size": 2})

    rows = AuditEvent.objects.filter(action="list", actor=counselor)
    newest_two = sorted(lead.pk for lead in shown)[-2:]
    assert sorted(rows.values_list("lead_id", flat=True)) == newest_two
    for row in rows:
        assert row.object_type == "lead"
        assert row.object_id == str(row.lead_id)
        assert row.actor_username == counselor.username
        assert row.channel == "api"
        assert row.ip_address == "127.0.0.1"
        assert row.fields == []
        assert abs(timezone.now() - row.at) < datetime.timedelta(minutes=1)


def test_patch_writes_an_update_row_naming_the_changed_fields(
    counselor, team_a, client_for
):
    lead = make_lead(team=team_a, owner=counselor, city="Miami")

    client_for(counselor).patch(
        detail_url(lead),
        {"city": "Tampa", "insurance_member_id": "ABC987", "first_name": "Casey"},
        format="json",
    )

    update = AuditEvent.objects.get(action="update", lead_id=lead.pk)
    assert update.actor == counselor
    assert update.fields == ["city", "insurance_member_id"]
    # Only names go to the trail, never the values.
    assert "ABC987" not in str(update.fields) + update.detail


def test_transition_writes_an_update_row(counselor, team_a, client_for):
    lead = make_lead(team=team_a, owner=counselor)

    client_for(counselor).post(
        f"{detail_url(lead)}transition/", {"to": "attempting_contact"}, format="json"
    )

    update = AuditEvent.objects.get(action="update", lead_id=lead.pk)
    assert update.actor == counselor
    assert update.fields == ["stage"]
