"""The supervisor dashboard: live tiles, funnel, speed to lead, VOB turnaround and
conversion, leaderboard, attribution, CSV exports, and who may see what.

The clock is frozen on a Monday afternoon in New York (the center's time zone), so
"today" and "the last 30 days" are fixed.
"""

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from crm.dashboard import selectors
from crm.models import AuditEvent, User
from leads.models import (
    Admission,
    InsuranceVerification,
    Lead,
    LevelOfCare,
    LostReason,
    Program,
    Stage,
    StageChange,
)
from leads.services import lead_transition
from leads.services.followup import lead_record_response
from telephony.models import Call, TrackingNumber
from tests.factories import LeadSourceFactory, TeamFactory, UserFactory, make_lead

pytestmark = pytest.mark.django_db

# 15:00 in New York.
NOW = datetime(2026, 11, 30, 20, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def travel():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def board_client(client, supervisor):
    client.force_login(supervisor)
    return client


def walk(lead: Lead, *stages: str, by: User | None = None, reason: str = "") -> Lead:
    for stage in stages:
        lead = lead_transition(
            lead=lead,
            to=stage,
            by=by,
            reason=reason if stage == Stage.LOST else "",
        )
    return lead


def call(**fields) -> Call:
    fields.setdefault("direction", Call.Direction.INBOUND)
    fields.setdefault("status", Call.Status.COMPLETED)
    return Call.objects.create(**fields)


# --- Access ------------------------------------------------------------------------


def test_a_counselor_is_refused_the_dashboard(client, counselor):
    client.force_login(counselor)

    for url in ("/dashboard/", "/dashboard/tiles/", "/dashboard/export/funnel.csv"):
        assert client.get(url).status_code == 403


def test_signed_out_visitors_are_sent_to_sign_in(client, db):
    response = client.get("/dashboard/")

    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_a_supervisor_sees_only_their_teams(
    board_client, team_a, team_b, counselor, other_counselor
):
    make_lead(team=team_a, owner=counselor)
    make_lead(team=team_b, owner=other_counselor)
    make_lead(team=team_b)

    response = board_client.get("/dashboard/")

    assert response.status_code == 200
    board = response.context["board"]
    assert board.funnel.inquiries == 1
    assert board.tiles.waiting_unassigned == 0
    assert [row.name for row in board.leaderboard] == ["Maya Torres"]
    assert "Sam Okafor" not in response.content.decode()


def test_a_supervisor_cannot_ask_for_another_team(board_client, team_b):
    response = board_client.get("/dashboard/", {"team": team_b.slug})

    assert response.status_code == 400
    assert "team" in response.context["form"].errors


def test_an_admin_sees_every_team(client, admin_user, team_a, team_b, counselor):
    make_lead(team=team_a, owner=counselor)
    make_lead(team=team_b)
    client.force_login(admin_user)

    board = client.get("/dashboard/").context["board"]

    assert board.funnel.inquiries == 2
    assert board.tiles.waiting_unassigned == 1


# --- Filters -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "last week"}, "since"),
        ({"until": "2026-02-31"}, "until"),
        ({"since": "2026-11-30", "until": "2026-11-01"}, "until"),
        ({"since": "2024-01-01", "until": "2026-11-30"}, "since"),
        ({"level_of_care": "spa"}, "level_of_care"),
        ({"source": "no-such-source"}, "source"),
    ],
)
def test_a_bad_filter_is_answered_400_with_the_field_error(board_client, params, field):
    response = board_client.get("/dashboard/", params)

    assert response.status_code == 400
    assert field in response.context["form"].errors
    assert "board" not in response.context
    assert b"error-summary" in response.content


def test_the_default_range_is_the_last_30_days_in_the_center_time_zone(
    board_client, team_a, counselor
):
    # 00:30 on Nov 1 in New York is inside; 23:30 on Oct 31 is not.
    make_lead(team=team_a, at=datetime(2026, 11, 1, 4, 30, tzinfo=UTC))
    make_lead(team=team_a, at=datetime(2026, 11, 1, 3, 30, tzinfo=UTC))

    board = board_client.get("/dashboard/").context["board"]

    assert (board.filters.since.isoformat(), board.filters.until.isoformat()) == (
        "2026-11-01",
        "2026-11-30",
    )
    assert board.funnel.inquiries == 1


# --- Live tiles --------------------------------------------------------------------


def test_tiles_count_what_is_happening_now(
    board_client, team_a, team_b, counselor, teammate, other_counselor
):
    overdue = NOW - timedelta(minutes=3)
    waiting = make_lead(team=team_a, sla_due_at=overdue)  # unassigned and breached
    make_lead(team=team_a, owner=counselor, sla_due_at=overdue)  # breached
    answered = make_lead(team=team_a, owner=counselor, sla_due_at=overdue)
    lead_record_response(lead=answered, by=counselor, at=NOW - timedelta(minutes=4))
    make_lead(team=team_a, sla_due_at=NOW + timedelta(minutes=2))  # waiting, in time
    closed = make_lead(team=team_a, sla_due_at=overdue)
    walk(closed, Stage.LOST, reason=LostReason.SPAM)
    make_lead(team=team_b, sla_due_at=overdue)  # another team's
    User.objects.filter(pk=teammate.pk).update(presence=User.Presence.BUSY)
    User.objects.filter(pk=other_counselor.pk).update(presence=User.Presence.AWAY)
    call(status=Call.Status.RINGING, lead=waiting)
    call(status=Call.Status.IN_PROGRESS, counselor=teammate)
    call(status=Call.Status.IN_PROGRESS, counselor=other_counselor)
    call(status=Call.Status.COMPLETED, counselor=counselor)
    number = TrackingNumber.objects.create(
        number="+13055550100", name="IOP", team=team_a
    )
    call(status=Call.Status.NO_ANSWER, tracking_number=number, missed_at=NOW)
    call(
        status=Call.Status.NO_ANSWER, lead=waiting, missed_at=NOW - timedelta(hours=14)
    )
    call(
        status=Call.Status.NO_ANSWER, lead=waiting, missed_at=NOW - timedelta(hours=16)
    )

    response = board_client.get("/dashboard/tiles/")

    assert response.status_code == 200
    tiles = response.context["tiles"]
    assert tiles.waiting_unassigned == 2
    assert tiles.sla_breaches == 2
    assert tiles.presence == {"available": 1, "busy": 1}
    assert tiles.calls_in_progress == 2
    # 14 hours ago is 01:00 today in New York; 16 hours ago was yesterday.
    assert tiles.missed_calls_today == 2
    html = response.content.decode()
    assert html.count('class="tile alarm"') == 2


def test_the_page_polls_its_tiles_in_the_background(board_client, team_a):
    response = board_client.get("/dashboard/", {"campaign": "spring"})

    html = response.content.decode()
    assert "data-background-refresh" in html
    assert 'hx-trigger="every 10s"' in html
    assert 'hx-get="/dashboard/tiles/?' in html
    assert "campaign=spring" in html


# --- Funnel ------------------------------------------------------------------------


@pytest.fixture
def histories(team_a, team_b, counselor, teammate, other_counselor):
    """Four leads of team A with known journeys, one of team B, one too old."""
    google = LeadSourceFactory(name="Google Ads", slug="google-ads")
    partner = LeadSourceFactory(name="Partner", slug="partner")
    admitted = make_lead(
        team=team_a,
        owner=counselor,
        attribution={"source": google, "campaign": "iop-spring"},
        level_of_care=LevelOfCare.IOP,
    )
    walk(
        admitted,
        Stage.CONTACTED,
        Stage.ASSESSMENT,
        Stage.INSURANCE_VERIFICATION,
        Stage.CLINICAL_REVIEW,
        Stage.ADMISSION_SCHEDULED,
        Stage.ADMITTED,
        by=counselor,
    )
    self_pay = make_lead(
        team=team_a,
        owner=teammate,
        attribution={"source": google, "campaign": "iop-spring"},
        level_of_care=LevelOfCare.RESIDENTIAL,
    )
    walk(
        self_pay,
        Stage.ATTEMPTING_CONTACT,
        Stage.CONTACTED,
        Stage.ASSESSMENT,
        Stage.CLINICAL_REVIEW,
        by=teammate,
    )
    walk(self_pay, Stage.LOST, by=teammate, reason=LostReason.CLINICAL_MISMATCH)
    unreachable = make_lead(
        team=team_a, owner=counselor, attribution={"source": partner}
    )
    walk(unreachable, Stage.ATTEMPTING_CONTACT, by=counselor)
    walk(unreachable, Stage.LOST, by=counselor, reason=LostReason.UNREACHABLE)
    make_lead(team=team_a, attribution={"source": partner})
    other_team = make_lead(team=team_b, owner=other_counselor)
    walk(other_team, Stage.CONTACTED, by=other_counselor)
    make_lead(team=team_a, at=NOW - timedelta(days=45))
    return {"google": google, "partner": partner}


def funnel_counts(board) -> dict[str, int]:
    return {step.stage: step.leads for step in board.funnel.steps}


def test_the_funnel_counts_how_far_the_leads_got(board_client, histories):
    board = board_client.get("/dashboard/").context["board"]

    assert funnel_counts(board) == {
        "new": 4,
        # The admitted lead skipped attempting contact, the self-pay one skipped
        # insurance verification: both got further, so both count.
        "attempting_contact": 3,
        "contacted": 2,
        "assessment": 2,
        "insurance_verification": 2,
        "clinical_review": 2,
        "admission_scheduled": 1,
        "admitted": 1,
    }
    steps = {step.stage: step for step in board.funnel.steps}
    assert steps["new"].from_previous is None
    assert steps["attempting_contact"].from_previous == pytest.approx(0.75)
    assert steps["contacted"].from_previous == pytest.approx(2 / 3)
    assert steps["admission_scheduled"].from_previous == pytest.approx(0.5)
    assert board.funnel.inquiry_to_admission == pytest.approx(0.25)
    assert (board.funnel.admitted, board.funnel.lost, board.funnel.open) == (1, 2, 1)
    # Ties keep the order of the reasons' list.
    assert [(reason, n) for reason, _, n in board.funnel.lost_by_reason] == [
        ("unreachable", 1),
        ("clinical_mismatch", 1),
    ]
    assert "25.0%" in board_client.get("/dashboard/").content.decode()


def test_a_lead_that_moved_back_keeps_the_furthest_stage_it_reached(
    board_client, team_a, counselor
):
    lead = make_lead(team=team_a, owner=counselor)
    walk(
        lead,
        Stage.CONTACTED,
        Stage.ASSESSMENT,
        Stage.INSURANCE_VERIFICATION,
        Stage.CLINICAL_REVIEW,
        Stage.ADMISSION_SCHEDULED,
        # Postponed for review, benefits checked again, then lost.
        Stage.CLINICAL_REVIEW,
        Stage.INSURANCE_VERIFICATION,
        by=counselor,
    )
    walk(lead, Stage.LOST, by=counselor, reason=LostReason.NO_USABLE_COVERAGE)
    back_only = make_lead(team=team_a, owner=counselor)
    walk(
        back_only,
        Stage.CONTACTED,
        Stage.ASSESSMENT,
        Stage.INSURANCE_VERIFICATION,
        Stage.ASSESSMENT,
        by=counselor,
    )

    counts = funnel_counts(board_client.get("/dashboard/").context["board"])

    assert counts["insurance_verification"] == 2
    assert counts["clinical_review"] == 1
    assert counts["admission_scheduled"] == 1
    assert counts["admitted"] == 0


def test_the_funnel_index_holds_every_move_back_down_the_pipeline():
    index = next(
        index
        for index in StageChange._meta.indexes
        if index.name == "stagechange_backward"
    )
    indexed = {
        (dict(arm.children)["from_stage"], dict(arm.children)["to_stage"])
        for arm in index.condition.children
    }

    assert indexed == set(selectors.BACKWARD_MOVES)
    assert len(indexed) == 3


def test_the_funnel_follows_the_source_and_level_of_care_filters(
    board_client, histories
):
    by_source = board_client.get("/dashboard/", {"source": "google-ads"})
    by_level = board_client.get("/dashboard/", {"level_of_care": "iop"})
    by_campaign = board_client.get("/dashboard/", {"campaign": "iop-spring"})

    assert funnel_counts(by_source.context["board"]) == {
        "new": 2,
        "attempting_contact": 2,
        "contacted": 2,
        "assessment": 2,
        "insurance_verification": 2,
        "clinical_review": 2,
        "admission_scheduled": 1,
        "admitted": 1,
    }
    assert by_source.context["board"].funnel.inquiry_to_admission == 0.5
    assert funnel_counts(by_level.context["board"])["admitted"] == 1
    assert by_level.context["board"].funnel.inquiries == 1
    assert by_campaign.context["board"].funnel.inquiries == 2


def test_the_funnel_follows_the_team_filter(client, admin_user, histories, team_b):
    client.force_login(admin_user)

    everyone = client.get("/dashboard/").context["board"]
    team = client.get("/dashboard/", {"team": team_b.slug}).context["board"]

    assert everyone.funnel.inquiries == 5
    assert funnel_counts(team) == {
        "new": 1,
        "attempting_contact": 1,
        "contacted": 1,
        "assessment": 0,
        "insurance_verification": 0,
        "clinical_review": 0,
        "admission_scheduled": 0,
        "admitted": 0,
    }


def test_the_funnel_chart_gets_its_data_and_a_text_alternative(board_client, histories):
    html = board_client.get("/dashboard/").content.decode()

    assert 'id="dashboard-data"' in html
    assert html.count('role="img"') == 4
    assert 'aria-label="Leads that got at least this far: New 4,' in html
    assert "vendor/chart-4.6.1.umd.min.js" in html
    assert "crm/dashboard.js" in html


# --- Speed to lead -----------------------------------------------------------------


@pytest.fixture
def responses(team_a, counselor, teammate):
    """Leads answered after 1, 3, 10 and 20 minutes, and one never answered."""
    for minutes, by in ((1, counselor), (3, teammate), (10, counselor), (20, teammate)):
        lead = make_lead(team=team_a, owner=by)
        lead_record_response(lead=lead, by=by, at=NOW + timedelta(minutes=minutes))
    make_lead(team=team_a)
    # A lead that arrived at 09:00 in New York, answered after 30 seconds.
    early = make_lead(team=team_a, owner=counselor, at=NOW - timedelta(hours=6))
    lead_record_response(
        lead=early, by=counselor, at=early.created_at + timedelta(seconds=30)
    )


def test_speed_to_lead_median_p90_and_share_within_5_minutes(board_client, responses):
    speed = board_client.get("/dashboard/").context["board"].speed

    # 30 s, 1, 3, 10, 20 minutes: median 3 minutes; p90 interpolates 10 → 20 min.
    assert (speed.overall.leads, speed.overall.responded) == (6, 5)
    assert speed.overall.waiting == 1
    assert speed.overall.median_seconds == pytest.approx(180)
    assert speed.overall.p90_seconds == pytest.approx(600 + 0.6 * 600)
    assert speed.overall.within_target == 3
    assert speed.overall.within_target_share == pytest.approx(0.6)


def test_speed_to_lead_by_counselor_and_by_hour(board_client, responses):
    speed = board_client.get("/dashboard/").context["board"].speed

    by_counselor = {row.name: row.figures for row in speed.by_counselor}
    assert by_counselor["Maya Torres"].median_seconds == pytest.approx(60)
    assert by_counselor["Maya Torres"].responded == 3
    assert by_counselor["Jordan Reyes"].median_seconds == pytest.approx(690)
    assert by_counselor["Jordan Reyes"].p90_seconds == pytest.approx(180 + 0.9 * 1020)
    assert [row.name for row in speed.by_counselor] == ["Maya Torres", "Jordan Reyes"]
    by_hour = {row.hour: row.figures for row in speed.by_hour}
    assert len(by_hour) == 24
    assert (by_hour[15].leads, by_hour[15].responded) == (5, 4)
    assert by_hour[15].median_seconds == pytest.approx(390)
    assert by_hour[9].median_seconds == pytest.approx(30)
    assert by_hour[3].leads == 0
    assert by_hour[3].median_seconds is None


def test_percentiles_read_off_counts_match_percentile_cont():
    histogram = [(10.0, 1), (20.0, 2), (40.0, 1)]  # 10, 20, 20, 40

    assert selectors._percentile_of_histogram(histogram, 0.5) == 20
    assert selectors._percentile_of_histogram(histogram, 0.9) == pytest.approx(34)
    assert selectors._percentile_of_histogram([(7.0, 1)], 0.9) == 7


# --- Leaderboard -------------------------------------------------------------------


def test_the_leaderboard_counts_each_counselors_work(
    board_client, histories, counselor, teammate, team_a
):
    lead = Lead.objects.filter(owner=counselor).first()
    call(counselor=counselor, lead=lead, talk_seconds=120, started_at=NOW)
    call(counselor=counselor, talk_seconds=60, started_at=NOW - timedelta(days=2))
    call(counselor=counselor, talk_seconds=999, started_at=NOW - timedelta(days=40))
    call(counselor=teammate, status=Call.Status.NO_ANSWER, started_at=NOW)

    board = board_client.get("/dashboard/").context["board"]

    rows = {row.name: row for row in board.leaderboard}
    maya, jordan = rows["Maya Torres"], rows["Jordan Reyes"]
    assert (maya.leads_handled, maya.calls, maya.talk_seconds) == (2, 2, 180)
    assert (maya.contacts, maya.vobs, maya.admissions) == (1, 1, 1)
    assert (jordan.leads_handled, jordan.calls, jordan.talk_seconds) == (1, 1, 0)
    assert (jordan.contacts, jordan.vobs, jordan.admissions) == (1, 0, 0)
    assert [row.name for row in board.leaderboard] == ["Maya Torres", "Jordan Reyes"]
    assert "3m 00s" in board_client.get("/dashboard/").content.decode()


def test_the_leaderboard_follows_the_source_filter(board_client, histories):
    board = board_client.get("/dashboard/", {"source": "partner"}).context["board"]

    maya = next(row for row in board.leaderboard if row.name == "Maya Torres")
    assert (maya.leads_handled, maya.contacts, maya.admissions) == (1, 0, 0)


# --- Attribution -------------------------------------------------------------------


def test_attribution_by_source_campaign_page_and_number(board_client, team_a):
    google = LeadSourceFactory(name="Google Ads", slug="google-ads")
    TrackingNumber.objects.create(number="+13055550100", name="IOP billboard")
    page = "https://example.org/iop"
    for admitted in (True, False, False):
        lead = make_lead(
            team=team_a,
            attribution={
                "source": google,
                "campaign": "iop-spring",
                "landing_page": page,
                "tracking_number": "+13055550100",
            },
        )
        if admitted:
            Lead.objects.filter(pk=lead.pk).update(stage=Stage.ADMITTED)
    make_lead(team=team_a)

    tables = {
        table.key: table
        for table in board_client.get("/dashboard/").context["board"].attribution
    }

    def rows(key):
        return [
            (row.label, row.leads, row.admissions, row.conversion)
            for row in tables[key].rows
        ]

    assert rows("sources") == [
        ("Google Ads", 3, 1, pytest.approx(1 / 3)),
        ("No source", 1, 0, 0),
    ]
    assert rows("campaigns")[0] == ("iop-spring", 3, 1, pytest.approx(1 / 3))
    assert rows("landing-pages")[0][:2] == (page, 3)
    assert rows("tracking-numbers") == [
        ("IOP billboard (+13055550100)", 3, 1, pytest.approx(1 / 3)),
        ("No tracking number", 1, 0, 0),
    ]


def test_attribution_folds_the_long_tail_into_one_row(
    board_client, team_a, monkeypatch
):
    monkeypatch.setattr(selectors, "ATTRIBUTION_TOP_ROWS", 2)
    for campaign, count in (("a", 3), ("b", 2), ("c", 1), ("d", 1)):
        for _ in range(count):
            make_lead(team=team_a, attribution={"campaign": campaign})

    table = next(
        t
        for t in board_client.get("/dashboard/").context["board"].attribution
        if t.key == "campaigns"
    )

    assert [(row.label, row.leads, row.is_rest) for row in table.rows] == [
        ("a", 3, False),
        ("b", 2, False),
        ("All others", 2, True),
    ]


# --- CSV exports -------------------------------------------------------------------


def read_csv(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode())))


def test_export_of_the_funnel_is_csv_and_audited(board_client, histories, supervisor):
    response = board_client.get(
        "/dashboard/export/funnel.csv", {"source": "google-ads"}
    )

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert (
        response["Content-Disposition"]
        == 'attachment; filename="funnel-2026-11-01-2026-11-30.csv"'
    )
    table = read_csv(response)
    assert table[0] == [
        "Stage",
        "Leads",
        "Conversion from previous",
        "Share of inquiries",
    ]
    assert table[1] == ["New", "2", "", "1.0000"]
    assert table[-1] == ["Admitted", "1", "1.0000", "0.5000"]
    event = AuditEvent.objects.get(action="export")
    assert (event.actor, event.object_type, event.object_id) == (
        supervisor,
        "report",
        "funnel",
    )
    assert event.detail == "since=2026-11-01 until=2026-11-30 source=google-ads"


@pytest.mark.parametrize(
    "table",
    [
        "lost-reasons",
        "speed-by-counselor",
        "speed-by-hour",
        "vob-turnaround",
        "vob-turnaround-times",
        "vob-conversion",
        "leaderboard",
        "sources",
        "campaigns",
        "landing-pages",
        "tracking-numbers",
    ],
)
def test_every_table_exports(board_client, histories, table):
    response = board_client.get(f"/dashboard/export/{table}.csv")

    assert response.status_code == 200
    assert len(read_csv(response)) >= 2
    assert AuditEvent.objects.filter(action="export", object_id=table).exists()


def test_an_unknown_table_is_404_and_a_bad_filter_400(board_client):
    assert board_client.get("/dashboard/export/patients.csv").status_code == 404
    response = board_client.get("/dashboard/export/funnel.csv", {"since": "x"})
    assert response.status_code == 400
    assert not AuditEvent.objects.filter(action="export").exists()


def test_exported_cells_cannot_run_as_spreadsheet_formulas(board_client, team_a):
    for campaign in ('=HYPERLINK("http://evil.example","x")', "+1+1", "-2", "@SUM(A1)"):
        make_lead(team=team_a, attribution={"campaign": campaign})

    response = board_client.get("/dashboard/export/campaigns.csv")

    labels = {row[0] for row in read_csv(response)[1:]}
    assert labels == {
        '\'=HYPERLINK("http://evil.example","x")',
        "'+1+1",
        "'-2",
        "'@SUM(A1)",
    }


# --- Insurance verification (VOB) ----------------------------------------------------


@pytest.fixture
def program(db):
    return Program.objects.create(
        name="Palm Harbor IOP",
        facility_name="Palm Harbor Recovery Center",
        city="Clearwater",
        state="FL",
        levels_of_care=["iop"],
        capacity=20,
        open_beds=4,
    )


def vob(
    lead: Lead,
    *,
    requested_at: datetime,
    minutes: float | None = None,
    status: str = InsuranceVerification.Status.VERIFIED,
    by: User | None = None,
) -> InsuranceVerification:
    """A VOB requested at `requested_at` and, unless waiting, done `minutes` later."""
    if minutes is None:
        status = InsuranceVerification.Status.REQUESTED
    lead.verifications.update(is_current=False)
    return InsuranceVerification.objects.create(
        lead=lead,
        status=status,
        requested_at=requested_at,
        requested_by=by or lead.owner,
        completed_at=None
        if minutes is None
        else requested_at + timedelta(minutes=minutes),
    )


def admission(
    lead: Lead,
    program: Program,
    *,
    status: str = Admission.Status.ADMITTED,
    by: User | None = None,
    at: datetime = NOW,
) -> Admission:
    by = by or lead.owner
    return Admission.objects.create(
        lead=lead,
        program=program,
        level_of_care="iop",
        scheduled_for=at,
        status=status,
        admitted_at=at if status == Admission.Status.ADMITTED else None,
        status_changed_by=by,
        created_by=by,
    )


def lead_of_the_range(team, owner, **details) -> Lead:
    """A lead that came in this morning, before its VOBs were asked for."""
    return make_lead(team=team, owner=owner, at=NOW - timedelta(hours=8), **details)


@pytest.fixture
def turnarounds(team_a, team_b, counselor, other_counselor):
    """The range's leads' VOBs returned after 10, 20, 90 (verified), 40 (denied) and
    25 minutes (unable), one still waiting; a VOB of a lead of last month (not
    one of the range's); one of team B."""
    requested = NOW - timedelta(hours=5)
    done = InsuranceVerification.Status
    for minutes, status in (
        (10, done.VERIFIED),
        (20, done.VERIFIED),
        (90, done.VERIFIED),
        (40, done.DENIED),
        (25, done.UNABLE),
    ):
        vob(
            lead_of_the_range(team_a, counselor),
            requested_at=requested,
            minutes=minutes,
            status=status,
        )
    vob(lead_of_the_range(team_a, counselor), requested_at=NOW - timedelta(hours=1))
    last_month = make_lead(team=team_a, owner=counselor, at=NOW - timedelta(days=40))
    vob(last_month, requested_at=NOW - timedelta(days=2), minutes=15)
    vob(lead_of_the_range(team_b, other_counselor), requested_at=requested, minutes=5)


def test_vob_turnaround_median_p90_and_share_within_30_minutes(
    board_client, turnarounds
):
    report = board_client.get("/dashboard/").context["board"].vob

    # 10, 20, 25, 40, 90 minutes: median 25; p90 interpolates 40 → 90 minutes.
    overall = report.overall
    assert (overall.requested, overall.completed, overall.waiting) == (6, 5, 1)
    assert overall.median_seconds == pytest.approx(25 * 60)
    assert overall.p90_seconds == pytest.approx((40 + 0.6 * 50) * 60)
    assert overall.within_target == 3
    assert overall.within_target_share == pytest.approx(0.6)


def test_vob_turnaround_by_outcome_and_by_band(board_client, turnarounds):
    report = board_client.get("/dashboard/").context["board"].vob

    outcomes = {row.status: row.figures for row in report.by_outcome}
    assert list(outcomes) == ["verified", "denied", "unable"]
    verified = outcomes["verified"]
    assert verified.completed == 3
    assert verified.median_seconds == pytest.approx(20 * 60)
    assert verified.p90_seconds == pytest.approx((20 + 0.8 * 70) * 60)
    assert verified.within_target_share == pytest.approx(2 / 3)
    assert (outcomes["denied"].completed, outcomes["denied"].within_target) == (1, 0)
    assert outcomes["unable"].median_seconds == pytest.approx(25 * 60)
    bands = {band.label: (band.vobs, band.within_target) for band in report.bands}
    assert bands["15 min or less"] == (1, True)
    assert bands["15–30 min"] == (2, True)
    assert bands["30–60 min"] == (1, False)
    assert bands["1–2 h"] == (1, False)
    assert bands["Over a day"] == (0, False)


def test_the_vob_section_renders_with_its_chart(board_client, turnarounds):
    response = board_client.get("/dashboard/")

    html = response.content.decode()
    assert 'id="vob-heading"' in html
    assert 'aria-label="Completed VOBs by turnaround: 15 min or less: 1;' in html
    assert "25m 00s" in html
    assert "60.0%" in html
    charts = response.context["charts"]
    assert charts["vob_bands"]["vobs"][:4] == [1, 2, 1, 1]
    assert charts["vob_bands"]["within_target"][:3] == [True, True, False]


def test_vob_to_admission_conversion(
    board_client, team_a, counselor, teammate, program
):
    today = NOW - timedelta(hours=3)
    admitted = lead_of_the_range(team_a, counselor)
    vob(admitted, requested_at=today, minutes=20)
    admission(admitted, program)
    moved = lead_of_the_range(team_a, counselor)  # admitted by a stage move
    vob(moved, requested_at=today, minutes=20)
    Lead.objects.filter(pk=moved.pk).update(stage=Stage.ADMITTED)
    scheduled = lead_of_the_range(team_a, teammate)
    vob(scheduled, requested_at=today, minutes=45)
    admission(scheduled, program, status=Admission.Status.SCHEDULED)
    # Verified twice: one lead.
    rechecked = make_lead(team=team_a, owner=teammate, at=NOW - timedelta(days=4))
    vob(rechecked, requested_at=today - timedelta(days=3), minutes=30)
    vob(rechecked, requested_at=today, minutes=30)
    denied = lead_of_the_range(team_a, teammate)  # denied, admitted self-pay
    vob(denied, requested_at=today, minutes=15, status="denied")
    admission(denied, program)
    no_show = lead_of_the_range(team_a, teammate)
    vob(no_show, requested_at=today, minutes=15)
    admission(no_show, program, status=Admission.Status.NO_SHOW)
    lead_of_the_range(team_a, teammate)  # no VOB
    old = make_lead(team=team_a, owner=teammate, at=NOW - timedelta(days=50))
    # A lead of an earlier month: not one of the range's.
    vob(old, requested_at=NOW - timedelta(days=2), minutes=30)
    admission(old, program)

    conversion = board_client.get("/dashboard/").context["board"].vob.conversion

    assert conversion.leads == 7
    assert conversion.leads_with_vob == 6
    assert conversion.lead_to_vob == pytest.approx(6 / 7)
    assert (conversion.verified, conversion.admitted, conversion.scheduled) == (
        5,
        2,
        1,
    )
    assert conversion.vob_to_admit == pytest.approx(0.4)


def test_vob_figures_follow_the_filters(
    client, admin_user, team_a, team_b, counselor, other_counselor
):
    google = LeadSourceFactory(name="Google Ads", slug="google-ads")
    requested = NOW - timedelta(hours=2)
    vob(
        lead_of_the_range(
            team_a,
            counselor,
            attribution={"source": google, "campaign": "detox"},
            level_of_care=LevelOfCare.DETOX,
        ),
        requested_at=requested,
        minutes=10,
    )
    vob(lead_of_the_range(team_a, counselor), requested_at=requested, minutes=50)
    vob(
        lead_of_the_range(team_b, other_counselor),
        requested_at=requested,
        minutes=70,
    )
    client.force_login(admin_user)

    def overall(**params):
        return client.get("/dashboard/", params).context["board"].vob.overall

    assert overall().completed == 3
    assert overall(team=team_b.slug).median_seconds == pytest.approx(70 * 60)
    assert overall(team=team_a.slug).completed == 2
    by_source = overall(source="google-ads")
    assert (by_source.completed, by_source.within_target) == (1, 1)
    assert overall(campaign="detox").completed == 1
    assert overall(level_of_care="detox").median_seconds == pytest.approx(600)
    assert overall(since="2026-11-01", until="2026-11-29").requested == 0


def test_the_vobs_waiting_tile_shows_the_oldest_wait(
    board_client, team_a, team_b, counselor, other_counselor
):
    vob(
        make_lead(team=team_a, owner=counselor),
        requested_at=NOW - timedelta(minutes=12),
    )
    started = vob(
        make_lead(team=team_a, owner=counselor), requested_at=NOW - timedelta(minutes=5)
    )
    InsuranceVerification.objects.filter(pk=started.pk).update(
        status=InsuranceVerification.Status.IN_PROGRESS
    )
    vob(make_lead(team=team_a, owner=counselor), requested_at=NOW, minutes=3)
    vob(
        make_lead(team=team_b, owner=other_counselor),
        requested_at=NOW - timedelta(hours=3),
    )

    response = board_client.get("/dashboard/tiles/")

    tiles = response.context["tiles"]
    assert tiles.vobs_waiting == 2
    assert tiles.oldest_vob_wait_seconds == pytest.approx(12 * 60)
    assert not tiles.vob_wait_over_target
    assert "Oldest requested 12m 00s ago" in response.content.decode()
    vob(make_lead(team=team_a, owner=counselor), requested_at=NOW - timedelta(hours=1))
    html = board_client.get("/dashboard/tiles/").content.decode()
    assert "Oldest requested 1h 00m ago" in html
    assert html.count('class="tile alarm"') == 1


def test_the_leaderboard_counts_vob_and_admission_records_over_stage_moves(
    board_client, team_a, counselor, teammate, program
):
    today = NOW - timedelta(hours=4)
    to_verification = (Stage.CONTACTED, Stage.ASSESSMENT, Stage.INSURANCE_VERIFICATION)
    for _ in range(2):
        lead = make_lead(team=team_a, owner=counselor)
        walk(lead, *to_verification, by=counselor)
        vob(lead, requested_at=today, minutes=20, by=counselor)
    walk(
        lead,
        Stage.CLINICAL_REVIEW,
        Stage.ADMISSION_SCHEDULED,
        Stage.ADMITTED,
        by=counselor,
    )
    admission(lead, program, by=counselor)
    # Moved by hand with no VOB requested: not a VOB once VOBs are on record.
    walk(make_lead(team=team_a, owner=counselor), *to_verification, by=counselor)
    # A VOB requested last month is not this range's work.
    vob(
        make_lead(team=team_a, owner=counselor),
        requested_at=NOW - timedelta(days=40),
        minutes=30,
        by=counselor,
    )
    # A counselor with nothing on record: the stage moves count.
    by_hand = make_lead(team=team_a, owner=teammate)
    walk(
        by_hand,
        *to_verification,
        Stage.CLINICAL_REVIEW,
        Stage.ADMISSION_SCHEDULED,
        Stage.ADMITTED,
        by=teammate,
    )

    rows = {
        row.name: row
        for row in board_client.get("/dashboard/").context["board"].leaderboard
    }

    maya, jordan = rows["Maya Torres"], rows["Jordan Reyes"]
    assert (maya.contacts, maya.vobs, maya.admissions) == (3, 2, 1)
    assert (jordan.contacts, jordan.vobs, jordan.admissions) == (1, 1, 1)


def test_vob_exports_are_csv_and_audited(board_client, turnarounds, supervisor):
    response = board_client.get("/dashboard/export/vob-turnaround.csv")

    assert response.status_code == 200
    assert (
        response["Content-Disposition"]
        == 'attachment; filename="vob-turnaround-2026-11-01-2026-11-30.csv"'
    )
    table = read_csv(response)
    assert table[0] == [
        "Outcome",
        "Requested",
        "Completed",
        "Waiting",
        "Median minutes",
        "P90 minutes",
        "Within 30 minutes",
        "Share within 30 minutes",
    ]
    assert table[1] == ["Verified", "3", "3", "0", "20.0", "76.0", "2", "0.6667"]
    assert table[2] == [
        "Denied (no coverage)",
        "1",
        "1",
        "0",
        "40.0",
        "40.0",
        "0",
        "0.0000",
    ]
    assert table[-1] == ["All requested", "6", "5", "1", "25.0", "70.0", "3", "0.6000"]
    event = AuditEvent.objects.get(action="export")
    assert (event.actor, event.object_type, event.object_id) == (
        supervisor,
        "report",
        "vob-turnaround",
    )
    assert event.detail == "since=2026-11-01 until=2026-11-30"


def test_vob_conversion_and_turnaround_times_export(board_client, turnarounds):
    conversion = read_csv(
        board_client.get("/dashboard/export/vob-conversion.csv", {"campaign": ""})
    )
    times = read_csv(board_client.get("/dashboard/export/vob-turnaround-times.csv"))

    assert conversion[0] == ["Leads", "Count", "Rate", "Rate of"]
    assert conversion[1] == ["Created in the range", "6", "", ""]
    assert conversion[2] == ["With a VOB requested", "6", "1.0000", "lead to VOB"]
    assert conversion[3] == ["With benefits verified", "3", "", ""]
    assert conversion[4] == [
        "Verified, then admitted",
        "0",
        "0.0000",
        "VOB to admission",
    ]
    assert times[1] == ["15 min or less", "1", "yes"]
    assert times[4] == ["1–2 h", "1", "no"]
    assert (
        AuditEvent.objects.filter(
            action="export", object_id__in=["vob-conversion", "vob-turnaround-times"]
        ).count()
        == 2
    )


# --- Cost ----------------------------------------------------------------------------

# Sign-in and session, the filter form, six tiles, the report's grouped queries
# (SQLite adds one for its percentiles) and the few names they refer to, all in one
# transaction (PostgreSQL sets its sort memory there). The VOBs added two: their
# tile and the leaderboard's VOB and admission records; their report is counted
# in the leads' own pass.
MAX_QUERIES = 27


@pytest.mark.parametrize("leads", [5, 50])
def test_the_page_costs_the_same_queries_for_5_or_50_leads(
    board_client,
    team_a,
    counselor,
    teammate,
    program,
    django_assert_max_num_queries,
    leads,
):
    sources = [LeadSourceFactory() for _ in range(3)]
    for index in range(leads):
        lead = make_lead(
            team=team_a,
            owner=(counselor, teammate)[index % 2],
            attribution={"source": sources[index % 3], "campaign": f"c{index % 7}"},
        )
        if index % 3 == 0:
            walk(lead, Stage.CONTACTED, by=lead.owner)
            vob(
                lead,
                requested_at=NOW - timedelta(hours=index % 5),
                minutes=None if index % 4 == 0 else 5 + index,
            )
        if index % 6 == 0:
            admission(lead, program)
        call(counselor=lead.owner, lead=lead, talk_seconds=30)

    with django_assert_max_num_queries(MAX_QUERIES):
        response = board_client.get("/dashboard/")

    assert response.status_code == 200
    board = response.context["board"]
    assert board.funnel.inquiries == leads
    assert board.vob.overall.requested == len(range(0, leads, 3))


def test_the_report_is_read_once_a_minute_and_the_tiles_every_time(
    board_client, team_a, counselor, travel, django_assert_max_num_queries
):
    make_lead(team=team_a, owner=counselor)
    first = board_client.get("/dashboard/").context["board"]
    make_lead(team=team_a)

    # Within the minute only the tiles, the form and the session are read again.
    with django_assert_max_num_queries(13):
        again = board_client.get("/dashboard/").context["board"]
    travel.shift(timedelta(seconds=selectors.REPORT_CACHE_SECONDS + 1))
    later = board_client.get("/dashboard/").context["board"]

    assert (first.funnel.inquiries, first.tiles.waiting_unassigned) == (1, 0)
    assert (again.funnel.inquiries, again.tiles.waiting_unassigned) == (1, 1)
    assert later.funnel.inquiries == 2
    assert b"Report as of 3:01 PM" in board_client.get("/dashboard/").content


def test_a_team_without_counselors_shows_an_empty_board(client, db):
    lonely = TeamFactory(name="Night shift", slug="night")
    boss = UserFactory(username="boss", role=User.Role.SUPERVISOR)
    lonely.supervisors.add(boss)
    client.force_login(boss)

    response = client.get("/dashboard/")

    assert response.status_code == 200
    board = response.context["board"]
    assert board.funnel.inquiries == 0
    assert board.leaderboard == []
    assert board.speed.overall.median_seconds is None
    assert "No counselors in these teams." in response.content.decode()
