"""My queue and the team queue: what a counselor sees, in which order, live."""

import datetime
import json
import re
import threading
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.utils import timezone
from django.utils.html import escape

from crm.models import AuditEvent, User
from leads.models import (
    Activity,
    CallBack,
    Channel,
    Lead,
    LevelOfCare,
    Priority,
    Stage,
    Urgency,
)
from leads.services import lead_transition
from leads.services.followup import callback_schedule
from leads.services.intake import lead_intake
from notifications.models import Message
from tests.factories import LeadSourceFactory, UserFactory, make_lead

pytestmark = pytest.mark.django_db

NEW_YORK = ZoneInfo("America/New_York")
WEEKDAY_NOON_NY = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=NEW_YORK)
SECTION_IDS = ("queue-call-now", "queue-new-leads", "queue-replies", "queue-by-stage")
HTMX = {"HX-Request": "true"}


@pytest.fixture(autouse=True)
def _weekday_noon():
    with time_machine.travel(WEEKDAY_NOON_NY, tick=True):
        yield


@pytest.fixture
def source(team_a):
    return LeadSourceFactory(name="IOP landing page", slug="iop", team=team_a)


@pytest.fixture
def maya(client, counselor) -> Client:
    client.force_login(counselor)
    return client


def login(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def web_lead(source, *, first_name: str, phone: str, **details) -> Lead:
    """A lead as the web form makes it: routed, SLA set, a call-back due now."""
    return lead_intake(
        channel=Channel.WEB_FORM,
        source=source,
        details={"first_name": first_name, "phone": phone, **details},
        message="Please call me.",
    ).lead


def responded(lead: Lead, by: User, *, to: str = Stage.CONTACTED) -> Lead:
    return lead_transition(lead=lead, to=to, by=by)


def text_from(lead: Lead, *, minutes_ago: int = 1) -> Message:
    return Message.objects.create(
        direction=Message.Direction.INBOUND,
        kind=Message.Kind.INBOUND,
        status=Message.Status.RECEIVED,
        lead=lead,
        to="+18885550100",
        from_number=str(lead.phone),
        body="Is anyone there?",
        created_at=timezone.now() - timedelta(minutes=minutes_ago),
    )


def text_to(lead: Lead, by: User) -> Message:
    return Message.objects.create(
        direction=Message.Direction.OUTBOUND,
        kind=Message.Kind.MANUAL,
        status=Message.Status.DELIVERED,
        lead=lead,
        to=str(lead.phone),
        from_number="+18885550100",
        body="Yes, I will call you in five minutes.",
        sent_by=by,
    )


def sections(html: str) -> dict[str, str]:
    """Each section of My queue by id, as the HTML between its start and the next."""
    starts = [(html.index(f'id="{sid}"'), sid) for sid in SECTION_IDS]
    assert [sid for _, sid in sorted(starts)] == list(SECTION_IDS)
    bounds = [pos for pos, _ in sorted(starts)] + [len(html)]
    return {sid: html[bounds[i] : bounds[i + 1]] for i, sid in enumerate(SECTION_IDS)}


def page_state(html: str) -> str:
    return re.search(r'name="state" value="([^"]+)"', html).group(1)


def listed(lead_id: int) -> int:
    return AuditEvent.objects.filter(action="list", lead_id=lead_id).count()


# --- Access ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["/", "/queue/sections/", "/team/", "/team/rows/", "/leads/1/take/"]
)
def test_signed_out_visitors_go_to_sign_in(client, url):
    response = client.post(url) if url.endswith("take/") else client.get(url)

    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_page_title_names_the_page_not_a_lead(maya, counselor, source):
    web_lead(source, first_name="Ann", phone="+13055550142")

    html = maya.get("/").content.decode()

    title = re.search(r"<title>(.*?)</title>", html, re.S).group(1)
    assert " ".join(title.split()) == "My queue · Admissions CRM"
    assert "Ann" in html


# --- My queue -------------------------------------------------------------------------


def test_sections_come_in_order_and_each_lead_shows_once(
    maya, counselor, team_a, source
):
    web_lead(source, first_name="Nora", phone="+13055550101")
    replied = responded(
        make_lead(team=team_a, owner=counselor, first_name="Rita"), counselor
    )
    text_from(replied)
    due = responded(
        make_lead(team=team_a, owner=counselor, first_name="Dale"), counselor
    )
    callback_schedule(lead=due, by=counselor, due_at=timezone.now())
    other = responded(
        make_lead(team=team_a, owner=counselor, first_name="Otto"), counselor
    )
    responded(other, counselor, to=Stage.ASSESSMENT)

    html = maya.get("/").content.decode()

    parts = sections(html)
    assert "Dale" in parts["queue-call-now"]
    assert "Nora" in parts["queue-new-leads"]
    assert "Rita" in parts["queue-replies"]
    assert "Otto" in parts["queue-by-stage"]
    assert 'class="badge stage-assessment"' in parts["queue-by-stage"]
    for name in ("Dale", "Nora", "Rita", "Otto"):
        assert sum(name in part for part in parts.values()) == 1, name
    # Nora's own call-back due now does not repeat her in "Call now".
    assert "Nora" not in parts["queue-call-now"]


def test_new_leads_show_oldest_first_with_a_live_sla_countdown(maya, source):
    web_lead(source, first_name="Older", phone="+13055550101")
    with time_machine.travel(WEEKDAY_NOON_NY + timedelta(minutes=2)):
        younger = web_lead(source, first_name="Younger", phone="+13055550102")

    with time_machine.travel(WEEKDAY_NOON_NY + timedelta(minutes=6)):
        html = maya.get("/").content.decode()

    new_leads = sections(html)["queue-new-leads"]
    assert new_leads.index("Older") < new_leads.index("Younger")
    due = younger.sla_due_at.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert f'data-due="{due}"' in new_leads
    assert "countdown soon" in new_leads  # 1 minute left
    assert "countdown overdue" in new_leads  # the older one's 5 minutes are over
    assert "/static/crm/queue.js" in html


def test_a_reply_waits_until_someone_texts_back(maya, counselor, team_a):
    lead = responded(
        make_lead(team=team_a, owner=counselor, first_name="Rita"), counselor
    )
    text_from(lead)
    assert "Rita" in sections(maya.get("/").content.decode())["queue-replies"]

    text_to(lead, counselor)

    parts = sections(maya.get("/").content.decode())
    assert "Rita" not in parts["queue-replies"]
    assert "Rita" in parts["queue-by-stage"]


def test_call_now_shows_the_due_time_in_the_leads_zone_and_ours(
    maya, counselor, team_a
):
    lead = responded(
        make_lead(team=team_a, owner=counselor, first_name="Dale", state="CA"),
        counselor,
    )
    callback_schedule(lead=lead, by=counselor, due_at=timezone.now(), note="After 9")
    later = responded(
        make_lead(team=team_a, owner=counselor, first_name="Lena"), counselor
    )
    callback_schedule(
        lead=later, by=counselor, due_at=timezone.now() + timedelta(hours=3)
    )

    parts = sections(maya.get("/").content.decode())

    call_now = parts["queue-call-now"]
    assert "Tue Dec 1 09:00 PST (12:00 EST here)" in call_now
    assert "Scheduled call-back" in call_now
    assert "After 9" in call_now
    # Later today is listed under the due ones, not as due.
    assert "Later today (1)" in call_now
    assert (
        call_now.index("Dale")
        < call_now.index("Later today")
        < (call_now.index("Lena"))
    )


@pytest.mark.parametrize("path", ["/", "/queue/sections/"])
def test_names_and_notes_are_shown_as_text_and_long_notes_shortened(
    maya, counselor, team_a, path
):
    lead = responded(
        make_lead(
            team=team_a,
            owner=counselor,
            first_name="<script>alert(1)</script>",
            last_name="O'Hara",
        ),
        counselor,
    )
    note = "<b>Mother</b> answers & takes messages. " + "Ask for Joe after six. " * 4
    callback_schedule(lead=lead, by=counselor, due_at=timezone.now(), note=note)

    call_now = sections(maya.get(path, headers=HTMX).content.decode())["queue-call-now"]

    assert "<script>" not in call_now
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in call_now
    assert re.search(r"O&#(39|x27);Hara", call_now)
    assert "<b>" not in call_now
    # Shortened to 80 characters, the last one an ellipsis.
    assert f'<div class="small muted">{escape(note[:79])}…</div>' in call_now


def test_a_counselor_never_sees_another_teams_leads(
    maya, counselor, other_counselor, team_b, source
):
    theirs = make_lead(team=team_b, owner=other_counselor, first_name="Zelda")
    callback_schedule(lead=theirs, by=other_counselor, due_at=timezone.now())
    make_lead(team=team_b, owner=None, first_name="Yusuf")
    web_lead(source, first_name="Ann", phone="+13055550142")

    mine = maya.get("/").content.decode()
    team = maya.get("/team/").content.decode()

    assert "Ann" in mine
    for html in (mine, team):
        assert "Zelda" not in html
        assert "Yusuf" not in html
    assert maya.post(f"/leads/{theirs.pk}/take/", headers=HTMX).status_code == 404
    assert maya.get(f"/leads/{theirs.pk}/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.owner == other_counselor


def test_a_teammates_leads_stay_in_their_queue(maya, team_a, teammate):
    lead = make_lead(team=team_a, owner=teammate, first_name="Tess")
    callback_schedule(lead=lead, by=teammate, due_at=timezone.now())

    html = maya.get("/").content.decode()

    assert "Tess" not in html


def test_the_teams_unowned_call_backs_are_everyones_to_make(maya, counselor, team_a):
    lead = responded(make_lead(team=team_a, owner=None, first_name="Ugo"), counselor)
    callback_schedule(lead=lead, by=counselor, due_at=timezone.now())

    call_now = sections(maya.get("/").content.decode())["queue-call-now"]

    assert "Ugo" in call_now
    assert "Team</span>" in call_now


# --- Filters and search ---------------------------------------------------------------


@pytest.fixture
def three_leads(counselor, team_a):
    ann = make_lead(
        team=team_a,
        owner=counselor,
        first_name="Ann",
        last_name="Lee",
        phone="+13055550142",
        email="ann@example.org",
        level_of_care=LevelOfCare.DETOX,
        urgency=Urgency.CRISIS,
    )
    bob = make_lead(
        team=team_a,
        owner=counselor,
        first_name="Bob",
        last_name="Stone",
        phone="+17865550100",
        level_of_care=LevelOfCare.IOP,
        priority=Priority.URGENT,
    )
    cy = make_lead(team=team_a, owner=counselor, first_name="Cy", last_name="Park")
    responded(cy, counselor)
    return ann, bob, cy


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("q=ann", {"Ann"}),
        ("q=Stone", {"Bob"}),
        ("q=ann%40example", {"Ann"}),
        ("q=%28305%29+555-0142", {"Ann"}),
        ("q=786.555", {"Bob"}),
        ("stage=contacted", {"Cy"}),
        ("level_of_care=detox", {"Ann"}),
        ("priority=3", {"Bob"}),
        ("urgency=crisis", {"Ann"}),
        ("q=nobody", set()),
        ("stage=not-a-stage", {"Ann", "Bob", "Cy"}),
    ],
)
def test_filters_and_search_narrow_the_queue(maya, three_leads, query, expected):
    html = maya.get(f"/?{query}").content.decode()

    shown = {name for name in ("Ann", "Bob", "Cy") if f">{name} " in html}
    assert shown == expected


def test_search_finds_a_lead_by_its_number(maya, three_leads):
    ann = three_leads[0]

    html = maya.get(f"/?q=%23{ann.pk}").content.decode()

    assert ">Ann Lee<" in html
    assert ">Bob Stone<" not in html


def test_filters_survive_the_poll_and_stay_in_the_address(maya, three_leads):
    page = maya.get("/?level_of_care=iop").content.decode()
    assert re.search(r'value="iop"\s+selected', page)

    filtered = maya.get("/queue/sections/?level_of_care=detox", headers=HTMX)
    assert filtered["HX-Replace-Url"] == "/?level_of_care=detox"
    state = page_state(filtered.content.decode())
    make_lead(
        team=three_leads[0].team,
        owner=three_leads[0].owner,
        first_name="Dina",
        level_of_care=LevelOfCare.DETOX,
    )
    make_lead(
        team=three_leads[0].team,
        owner=three_leads[0].owner,
        first_name="Ivan",
        level_of_care=LevelOfCare.IOP,
    )

    poll = maya.get(
        "/queue/sections/",
        {"level_of_care": "detox", "poll": "1", "state": state},
        headers=HTMX,
    )

    html = poll.content.decode()
    assert ">Dina " in html
    assert ">Ivan " not in html
    assert ">Bob " not in html
    assert "HX-Replace-Url" not in poll


# --- Live -----------------------------------------------------------------------------


def test_the_poll_shows_a_new_lead_with_a_cue_then_answers_204(maya, counselor, source):
    page = maya.get("/").content.decode()
    state = page_state(page)
    with time_machine.travel(WEEKDAY_NOON_NY + timedelta(seconds=2)):
        lead = web_lead(source, first_name="Ann", phone="+13055550142")

    poll = maya.get("/queue/sections/", {"poll": "1", "state": state}, headers=HTMX)

    assert poll.status_code == 200
    assert json.loads(poll["HX-Trigger"]) == {
        "crm:cue": "New lead: Ann from IOP landing page"
    }
    new_leads = sections(poll.content.decode())["queue-new-leads"]
    assert 'class="queue-item-new"' in new_leads
    assert "Ann" in new_leads
    assert listed(lead.pk) == 1
    # The answer refreshes the tab's count out of band.
    assert 'id="team-waiting-count"' in poll.content.decode()
    assert 'hx-swap-oob="true"' in poll.content.decode()

    again = maya.get(
        "/queue/sections/",
        {"poll": "1", "state": page_state(poll.content.decode())},
        headers=HTMX,
    )

    assert again.status_code == 204
    assert listed(lead.pk) == 1


def test_the_poll_of_a_changed_row_neither_cues_nor_audits_again(
    maya, counselor, team_a
):
    lead = responded(
        make_lead(team=team_a, owner=counselor, first_name="Cy"), counselor
    )
    state = page_state(maya.get("/").content.decode())
    assert listed(lead.pk) == 1
    responded(lead, counselor, to=Stage.ASSESSMENT)

    poll = maya.get("/queue/sections/", {"poll": "1", "state": state}, headers=HTMX)

    assert poll.status_code == 200
    assert "stage-assessment" in poll.content.decode()
    assert "HX-Trigger" not in poll
    assert listed(lead.pk) == 1


def test_a_forged_page_note_cannot_skip_the_audit(maya, counselor, team_a):
    lead = make_lead(team=team_a, owner=counselor, first_name="Cy")

    poll = maya.get(
        "/queue/sections/", {"poll": "1", "state": "forged:note"}, headers=HTMX
    )

    assert poll.status_code == 200
    assert listed(lead.pk) == 1


def test_the_queue_page_polls_in_the_background(maya):
    html = maya.get("/").content.decode()

    poller = re.search(r'<div id="queue-poll"[^>]*>', html, re.S).group(0)
    assert "data-background-refresh" in poller
    assert 'hx-trigger="every 3s"' in poller
    assert 'hx-include="#queue-filters, #queue-state"' in poller
    assert '<label for="queue-q">Search</label>' in html


# --- Team queue and "Take" ------------------------------------------------------------


@pytest.fixture
def waiting(team_a, source, counselor, teammate) -> Lead:
    """A web lead nobody could be given: everyone was away."""
    User.objects.filter(pk__in=[counselor.pk, teammate.pk]).update(
        presence=User.Presence.AWAY
    )
    lead = web_lead(source, first_name="Wendy", phone="+13055550177")
    assert lead.owner is None
    return lead


def test_the_team_queue_lists_unowned_leads_oldest_first(maya, waiting, source):
    with time_machine.travel(WEEKDAY_NOON_NY + timedelta(minutes=1)):
        web_lead(source, first_name="Xavi", phone="+13055550178")

    html = maya.get("/team/").content.decode()

    assert html.index("Wendy") < html.index("Xavi")
    assert f'hx-post="/leads/{waiting.pk}/take/"' in html
    assert "IOP landing page" in html
    assert 'class="countdown' in html
    assert listed(waiting.pk) == 1
    # Not in "Call now" of My queue: the team queue is where it waits.
    assert "Wendy" not in maya.get("/").content.decode()


def test_taking_a_lead_makes_it_mine_with_its_call(maya, counselor, waiting):
    response = maya.post(f"/leads/{waiting.pk}/take/", headers=HTMX)

    assert response.status_code == 200
    assert "Wendy is yours" in response.content.decode()
    assert "crm:toast" in response["HX-Trigger"]
    waiting.refresh_from_db()
    assert waiting.owner == counselor
    assert Activity.objects.filter(
        lead=waiting, kind=Activity.Kind.ASSIGNMENT, actor=counselor
    ).exists()
    assert AuditEvent.objects.filter(
        action="update", lead_id=waiting.pk, actor=counselor, fields=["owner"]
    ).exists()
    # The first call now is hers, and the lead is in her New leads.
    assert CallBack.objects.get(lead=waiting).owner == counselor
    parts = sections(maya.get("/").content.decode())
    assert "Wendy" in parts["queue-new-leads"]
    assert "Wendy" not in maya.get("/team/").content.decode()


def test_the_second_take_gets_409_and_changes_nothing(
    maya, counselor, teammate, waiting
):
    assert maya.post(f"/leads/{waiting.pk}/take/", headers=HTMX).status_code == 200
    activities = Activity.objects.filter(lead=waiting).count()

    response = login(teammate).post(f"/leads/{waiting.pk}/take/", headers=HTMX)

    assert response.status_code == 409
    assert "Already taken by Maya Torres." in response.content.decode()
    assert json.loads(response["HX-Trigger"]) == {
        "crm:toast": "Already taken by Maya Torres."
    }
    waiting.refresh_from_db()
    assert waiting.owner == counselor
    assert Activity.objects.filter(lead=waiting).count() == activities


def test_take_without_javascript_redirects_to_the_lead(maya, counselor, waiting):
    response = maya.post(f"/leads/{waiting.pk}/take/")

    assert response.status_code == 302
    assert response["Location"] == f"/leads/{waiting.pk}/"
    waiting.refresh_from_db()
    assert waiting.owner == counselor


def test_a_supervisor_sees_the_team_queue_but_does_not_take(supervisor, waiting):
    client = login(supervisor)

    html = client.get("/team/").content.decode()
    response = client.post(f"/leads/{waiting.pk}/take/", headers=HTMX)

    assert "Wendy" in html
    assert "Not your team" in html
    assert response.status_code == 409
    assert "not a member of Outpatient" in response.content.decode()
    waiting.refresh_from_db()
    assert waiting.owner is None


def test_the_team_poll_cues_a_lead_that_starts_waiting(maya, waiting, source):
    state = page_state(maya.get("/team/").content.decode())
    with time_machine.travel(WEEKDAY_NOON_NY + timedelta(seconds=5)):
        web_lead(source, first_name="Xavi", phone="+13055550178")

    poll = maya.get("/team/rows/", {"poll": "1", "state": state}, headers=HTMX)

    assert poll.status_code == 200
    assert json.loads(poll["HX-Trigger"]) == {
        "crm:cue": "New lead in the team queue: Xavi from IOP landing page"
    }
    assert poll.content.decode().count('class="queue-item-new"') == 1


# --- Cost -----------------------------------------------------------------------------


def _busy_counselor(counselor, team_a, count: int) -> None:
    for n in range(count):
        lead = make_lead(
            team=team_a,
            owner=counselor if n % 4 else None,
            first_name=f"Lead{n}",
            sla_due_at=timezone.now() + timedelta(minutes=5),
        )
        if n % 3 == 0 and lead.owner_id:
            responded(lead, counselor)
            text_from(lead)
        if n % 5 == 0:
            callback_schedule(lead=lead, by=counselor, due_at=timezone.now())


@pytest.mark.parametrize("count", [5, 50])
def test_queue_queries_do_not_grow_with_the_number_of_leads(
    maya, counselor, team_a, count, django_assert_max_num_queries
):
    _busy_counselor(counselor, team_a, count)

    # Session and user; teams, my leads, call-backs due and later today, the
    # team's count, the audit insert; the session's "last seen" write (3 with
    # its savepoint).
    with django_assert_max_num_queries(11):
        page = maya.get("/")
    # A background poll of an unchanged page reads, and writes nothing.
    with django_assert_max_num_queries(7):
        poll = maya.get(
            "/queue/sections/",
            {"poll": "1", "state": page_state(page.content.decode())},
            headers={**HTMX, "X-Background-Refresh": "1"},
        )
    with django_assert_max_num_queries(8):
        team = maya.get("/team/")

    assert page.status_code == team.status_code == 200
    assert poll.status_code == 204


# --- Races (PostgreSQL: SQLite serializes whole transactions) -------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_counselors_taking_at_once_one_wins(team_a, source):
    first, second = (UserFactory(username=f"racer{n}") for n in range(2))
    team_a.members.add(first, second)
    User.objects.filter(pk__in=[first.pk, second.pk]).update(
        presence=User.Presence.OFFLINE
    )
    lead = web_lead(source, first_name="Wendy", phone="+13055550177")
    clients = [login(first), login(second)]
    barrier = threading.Barrier(2)
    statuses: list[int] = [0, 0]

    def take(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            statuses[i] = (
                clients[i].post(f"/leads/{lead.pk}/take/", headers=HTMX).status_code
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=take, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(statuses) == [200, 409]
    lead.refresh_from_db()
    winner = (first, second)[statuses.index(200)]
    assert lead.owner == winner
    assert (
        Activity.objects.filter(lead=lead, kind=Activity.Kind.ASSIGNMENT)
        .exclude(actor=None)
        .count()
        == 1
    )


def test_a_crowded_stage_shows_its_stalest_leads_and_a_link_to_all_of_them(
    maya, counselor, team_a
):
    # Given 18 contacted leads, the queue shows the 15 stalest in that stage
    for number in range(18):
        responded(
            make_lead(team=team_a, owner=counselor, first_name=f"Lead{number:02d}"),
            counselor,
        )
    html = sections(maya.get("/").content.decode())["queue-by-stage"]
    assert html.count('class="row-link"') == 15
    assert "Show all 18 in Contacted" in html

    # When the counselor follows the link, the stage's whole list is shown
    html = sections(maya.get("/?stage=contacted").content.decode())["queue-by-stage"]
    assert html.count('class="row-link"') == 18
    assert "Show all" not in html
