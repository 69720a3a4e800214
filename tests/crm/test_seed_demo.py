"""`seed_demo`: a small call center a newcomer can sign in to, seeded once."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from crm.demo import AREA_CODES, _fresh_phone
from crm.models import AuditEvent, Team, User
from leads.models import (
    OPEN_STAGES,
    Activity,
    Lead,
    LeadSource,
    LostReason,
    Stage,
    StageChange,
)

pytestmark = pytest.mark.django_db

PASSWORD = "demo-password-for-tests"
LEAD_COUNT = 60


def _seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def _seed_demo() -> str:
    return _seed("--password", PASSWORD, "--leads", str(LEAD_COUNT))


def _snapshot() -> dict[str, int]:
    return {
        "users": User.objects.count(),
        "teams": Team.objects.count(),
        "sources": LeadSource.objects.count(),
        "leads": Lead.objects.count(),
        "stage_changes": StageChange.objects.count(),
        "activities": Activity.objects.count(),
        "audit": AuditEvent.objects.count(),
    }


def _members(team: Team) -> set[str]:
    return set(team.members.values_list("username", flat=True))


def test_demo_users_get_their_roles_teams_and_password():
    _seed_demo()

    users = {user.username: user for user in User.objects.all()}
    assert set(users) == {
        "admin",
        "supervisor1",
        "counselor1",
        "counselor2",
        "counselor3",
        "verifier1",
    }
    assert users["admin"].role == User.Role.ADMIN
    assert users["admin"].is_superuser
    assert users["supervisor1"].role == User.Role.SUPERVISOR
    for name in ("counselor1", "counselor2", "counselor3"):
        assert users[name].role == User.Role.COUNSELOR
    assert users["verifier1"].role == User.Role.VERIFIER
    assert all(user.check_password(PASSWORD) for user in users.values())

    teams = list(Team.objects.all())
    assert len(teams) == 2
    member_sets = sorted((_members(team) for team in teams), key=len)
    # The verifier works both teams' VOBs.
    assert member_sets == [
        {"counselor3", "verifier1"},
        {"counselor1", "counselor2", "verifier1"},
    ]
    for team in teams:
        supervisors = set(team.supervisors.values_list("username", flat=True))
        assert supervisors == {"supervisor1"}


def test_demo_leads_fill_the_funnel_through_the_services():
    _seed_demo()

    assert LeadSource.objects.count() == 4
    assert Lead.objects.count() == LEAD_COUNT
    stages = set(Lead.objects.values_list("stage", flat=True))
    assert len(stages) >= 4
    assert Stage.LOST in stages
    assert stages & set(OPEN_STAGES)
    lost = Lead.objects.filter(stage=Stage.LOST)
    assert all(lead.lost_reason in LostReason.values for lead in lost)
    # Distinct numbers: the demo must never depend on which leads are still open
    # when a later one with the same phone is created (one open lead per phone).
    phones = list(Lead.objects.values_list("phone", flat=True))
    assert len(set(phones)) == len(phones)
    for lead in Lead.objects.select_related("team", "owner", "source"):
        assert lead.source is not None
        assert lead.team.members.filter(pk=lead.owner_id).exists()
        # Every lead's history ends where the lead is: it was moved by the services.
        assert lead.stage_changes.last().to_stage == lead.stage


def test_seeding_twice_adds_no_leads_or_users():
    _seed_demo()
    before = _snapshot()

    output = _seed_demo()

    after = _snapshot()
    # A second run only re-sets the demo passwords; it writes no new records.
    assert after == before
    assert "no demo leads added" in output


def test_if_empty_on_a_populated_database_changes_nothing():
    _seed_demo()
    before = _snapshot()

    output = _seed(
        "--if-empty", "--password", "a-different-password", "--leads", str(LEAD_COUNT)
    )

    assert _snapshot() == before
    supervisor = User.objects.get(username="supervisor1")
    assert supervisor.check_password(PASSWORD)
    assert not supervisor.check_password("a-different-password")
    assert "not loaded" in output


def test_without_a_password_outside_debug_nothing_is_seeded(settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="--password"):
        _seed("--leads", str(LEAD_COUNT))

    assert not User.objects.exists()
    assert not Lead.objects.exists()


def test_demo_numbers_never_repeat_even_past_a_states_own_area_codes():
    used: set[str] = set()
    state = min(AREA_CODES, key=lambda code: len(AREA_CODES[code]))
    capacity = 100 * len(AREA_CODES[state])

    phones = [_fresh_phone(state, used) for _ in range(capacity + 50)]

    assert len(set(phones)) == len(phones)
    own = {f"+1{code}" for code in AREA_CODES[state]}
    assert all(phone[:5] in own for phone in phones[:capacity])
    assert all("55501" in phone for phone in phones)
