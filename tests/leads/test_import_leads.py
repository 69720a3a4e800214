"""`import_leads`: past inquiries from a CSV file, through the intake door."""

import csv
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from crm.models import AuditEvent
from leads.management.commands import import_leads
from leads.models import (
    Activity,
    CallBack,
    Channel,
    Lead,
    LeadSource,
    RoutingRule,
    Touch,
)
from notifications.models import ConsentEvent, Message
from tests.factories import LeadSourceFactory, make_lead

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "import"
NEW_YORK = ZoneInfo("America/New_York")


class TerminalStringIO(StringIO):
    def isatty(self) -> bool:
        return True


def _import(path, *args: str, stderr=None) -> str:
    out = StringIO()
    call_command(
        "import_leads", str(path), *args, stdout=out, stderr=stderr or StringIO()
    )
    return out.getvalue()


def _csv(tmp_path, text: str, name: str = "leads.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _last_line(output: str) -> str:
    return output.strip().splitlines()[-1]


def _snapshot() -> dict[str, int]:
    return {
        "leads": Lead.objects.count(),
        "touches": Touch.objects.count(),
        "activities": Activity.objects.count(),
        "sources": LeadSource.objects.count(),
        "consents": ConsentEvent.objects.count(),
        "callbacks": CallBack.objects.count(),
        "messages": Message.objects.count(),
        "audit": AuditEvent.objects.count(),
    }


@pytest.fixture
def routing(team_a, team_b, counselor, other_counselor):
    RoutingRule.objects.create(position=1, name="Florida", team=team_a, states=["FL"])
    RoutingRule.objects.create(position=2, name="New York", team=team_b, states=["NY"])


# --- Importing -----------------------------------------------------------------------


def test_import_creates_leads_with_attribution_routed_by_the_rules(
    routing, team_a, team_b, counselor, other_counselor
):
    output = _import(FIXTURES / "leads.csv")

    assert _last_line(output) == (
        "Imported 3 rows: 3 new leads, 0 merged into existing leads, 0 rejected."
    )
    ana = Lead.objects.get(phone="+13055550142")
    assert (ana.first_name, ana.email, ana.state) == ("Ana", "ana@example.org", "FL")
    assert (ana.level_of_care, ana.insurance_payer) == ("detox", "Aetna")
    assert (ana.utm_source, ana.utm_medium, ana.utm_campaign) == (
        "google",
        "cpc",
        "detox-miami",
    )
    assert ana.gclid == "Cj0KCQ-ana"
    assert ana.landing_page == "https://example.org/detox"
    assert ana.source.slug == "csv-import"
    assert ana.source.kind == LeadSource.Kind.IMPORT
    assert ana.first_touch.channel == Channel.IMPORT
    assert (ana.team, ana.owner) == (team_a, counselor)
    ben = Lead.objects.get(phone="+12125550188")
    assert (ben.state, ben.team, ben.owner) == ("NY", team_b, other_counselor)
    cleo = Lead.objects.get(email="cleo@example.org")
    assert (cleo.state, cleo.team) == ("FL", team_a)


def test_team_option_sends_every_lead_to_that_team(routing, team_b):
    _import(FIXTURES / "leads.csv", "--team", team_b.slug)

    assert set(Lead.objects.values_list("team__slug", flat=True)) == {team_b.slug}


def test_source_option_uses_that_source_and_creates_none(team_a):
    partner = LeadSourceFactory(slug="old-crm", kind=LeadSource.Kind.IMPORT)

    _import(FIXTURES / "leads.csv", "--source", "old-crm")

    assert set(Lead.objects.values_list("source", flat=True)) == {partner.pk}
    assert not LeadSource.objects.filter(slug="csv-import").exists()


@pytest.mark.parametrize(
    ("option", "slug", "message"),
    [("--source", "nope", "No lead source"), ("--team", "nope", "No team")],
)
def test_unknown_source_or_team_is_refused_before_importing(
    team_a, option, slug, message
):
    with pytest.raises(CommandError, match=message):
        _import(FIXTURES / "leads.csv", option, slug)

    assert Lead.objects.count() == 0


def test_repeated_phone_in_the_file_is_one_lead_with_a_second_touch(team_a):
    output = _import(FIXTURES / "repeats.csv")

    assert _last_line(output) == (
        "Imported 3 rows: 2 new leads, 1 merged into existing leads, 0 rejected."
    )
    ivy = Lead.objects.get(phone="+13055550111")
    assert ivy.inquiry_count == 2
    assert ivy.email == "ivy@example.org"  # the repeat filled in the blank
    assert sorted(ivy.touches.values_list("summary", flat=True)) == [
        "Asked again",
        "First inquiry",
    ]
    assert set(ivy.touches.values_list("channel", flat=True)) == {Channel.IMPORT}


def test_row_repeating_an_open_lead_becomes_a_touch_on_it(team_a, counselor):
    lead = make_lead(team=team_a, owner=counselor, phone="+13055550111")

    _import(FIXTURES / "repeats.csv")

    lead.refresh_from_db()
    assert lead.inquiry_count == 3
    assert Lead.objects.count() == 2


def test_bad_rows_are_rejected_with_their_line_and_the_good_ones_imported(team_a):
    output = _import(FIXTURES / "mixed.csv")

    lines = output.strip().splitlines()
    assert lines[0].startswith("Line 3: phone: Enter a valid phone number")
    assert lines[1] == "Line 4: state: Enter a US state, e.g. FL or Florida."
    assert lines[2] == (
        "Line 5: phone: Give a phone number or an e-mail address to reach you."
    )
    assert lines[-1] == (
        "Imported 5 rows: 2 new leads, 0 merged into existing leads, 3 rejected."
    )
    assert set(Lead.objects.values_list("first_name", flat=True)) == {"Dana", "Hana"}


def test_only_the_first_twenty_rejects_are_printed(tmp_path, team_a):
    rows = "".join(f"Bad{n},555-12\n" for n in range(25))
    path = _csv(tmp_path, "first_name,phone\n" + rows)

    output = _import(path)

    printed = [line for line in output.splitlines() if line.startswith("Line ")]
    assert len(printed) == 20
    assert printed[-1].startswith("Line 21: ")
    assert "... and 5 more rejected rows." in output
    assert _last_line(output).endswith("25 rejected.")


def test_rejects_file_has_the_original_columns_the_line_and_the_errors(
    tmp_path, team_a
):
    rejects = tmp_path / "rejects.csv"

    _import(FIXTURES / "mixed.csv", "--rejects", str(rejects))

    with rejects.open(encoding="utf-8", newline="") as file:
        written = list(csv.reader(file))
    original = ["first_name", "last_name", "phone", "email", "state"]
    assert written[0] == [*original, "line", "errors"]
    assert [row[:5] for row in written[1:]] == [
        ["Eli", "Stone", "555-12", "", "FL"],
        ["Fay", "Moss", "(305) 555-0103", "", "Atlantis"],
        ["Gus", "Hale", "", "", "FL"],
    ]
    assert [row[5] for row in written[1:]] == ["3", "4", "5"]
    assert written[2][6] == "state: Enter a US state, e.g. FL or Florida."


def test_short_rows_are_blank_cells_and_long_rows_are_rejected(tmp_path, team_a):
    path = _csv(
        tmp_path,
        "first_name,phone,state\nKim,(305) 555-0121\nLee,(305) 555-0122,FL,extra\n",
    )

    output = _import(path)

    assert Lead.objects.get().first_name == "Kim"
    assert "Line 3: The row has 4 values; the header has 3 columns." in output


def test_header_is_case_insensitive_with_spaces_and_a_byte_order_mark(tmp_path, team_a):
    path = tmp_path / "excel.csv"
    path.write_bytes("\ufeff First_Name , PHONE \r\nMia,(305) 555-0131\r\n".encode())

    _import(path)

    assert Lead.objects.get().first_name == "Mia"


def test_line_numbers_count_lines_inside_quoted_cells(tmp_path, team_a):
    path = _csv(
        tmp_path,
        'first_name,phone,message\nNia,(305) 555-0141,"two\nlines"\nOz,555-12,\n',
    )

    output = _import(path)

    assert output.startswith("Line 4: phone:")
    assert Lead.objects.get().intake_notes == "two\nlines"


# --- Refusing the file ---------------------------------------------------------------


def test_unknown_column_is_refused_with_nothing_imported(tmp_path, team_a):
    path = _csv(tmp_path, "first_name,phone,Zip Code\nPia,(305) 555-0151,33101\n")

    with pytest.raises(CommandError, match="Unknown column.*'Zip Code'"):
        _import(path)

    assert Lead.objects.count() == 0
    assert not LeadSource.objects.exists()


def test_file_without_phone_or_email_column_is_refused(tmp_path, team_a):
    path = _csv(tmp_path, "first_name,state\nQuin,FL\n")

    with pytest.raises(CommandError, match="phone or an email column"):
        _import(path)

    assert Lead.objects.count() == 0


def test_invalid_utf8_is_refused_naming_the_line_with_nothing_imported(
    tmp_path, team_a
):
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"first_name,phone\nRay,(305) 555-0161\nJos\xe9,(305) 555-0162\n")

    with pytest.raises(CommandError, match="Line 3 is not UTF-8"):
        _import(path)

    assert Lead.objects.count() == 0


def test_missing_file_is_refused(tmp_path):
    with pytest.raises(CommandError, match="Cannot read"):
        _import(tmp_path / "nope.csv")


# --- Dry run ---------------------------------------------------------------------


def test_dry_run_writes_nothing_and_predicts_the_real_counts(tmp_path, team_a):
    make_lead(team=team_a, phone="+13055550112")
    path = _csv(
        tmp_path,
        "first_name,phone,email,sms_consent\n"
        "Ivy,(305) 555-0111,,yes\n"
        "Ivy,,ivy@example.org,no\n"  # not a repeat: Ivy has no e-mail yet
        "Ivy,(305) 555-0111,ivy@example.org,no\n"  # fills it in
        "Ivy,,ivy@example.org,no\n"  # now a repeat by e-mail
        "Jon,(305) 555-0112,,no\n"  # repeats the lead already stored
        "Bad,555-12,,no\n",
    )
    before = _snapshot()
    rejects = tmp_path / "rejects.csv"

    dry = _import(path, "--dry-run", "--rejects", str(rejects))

    assert _snapshot() == before
    assert _last_line(dry) == (
        "Dry run: 6 rows: 2 would be new leads, 3 would be merged into existing "
        "leads, 1 rejected. Nothing was written."
    )
    assert "Bad" in rejects.read_text(encoding="utf-8")
    real = _import(path)
    assert _last_line(real) == (
        "Imported 6 rows: 2 new leads, 3 merged into existing leads, 1 rejected."
    )


def test_dry_run_does_not_create_the_default_source(team_a):
    _import(FIXTURES / "leads.csv", "--dry-run")

    assert not LeadSource.objects.exists()


# --- What an imported row carries ------------------------------------------------


def test_imported_consent_is_recorded_with_source_import(tmp_path, team_a):
    path = _csv(
        tmp_path,
        "first_name,phone,sms_consent,consent_text\n"
        "Sal,(305) 555-0171,yes,\n"
        "Tia,(305) 555-0172,true,I agreed on the old site.\n"
        "Uma,(305) 555-0173,no,\n",
    )

    _import(path)

    events = {str(e.phone): e for e in ConsentEvent.objects.all()}
    assert set(events) == {"+13055550171", "+13055550172"}
    assert {e.source for e in events.values()} == {ConsentEvent.Source.IMPORT}
    assert events["+13055550171"].text == "Imported: consent collected before import"
    assert events["+13055550172"].text == "I agreed on the old site."


def test_created_at_is_the_time_of_the_original_inquiry(routing):
    _import(FIXTURES / "leads.csv")

    ana = Lead.objects.get(phone="+13055550142")
    assert ana.created_at == datetime(2025, 1, 15, 9, 30, tzinfo=NEW_YORK)
    assert ana.first_touch.occurred_at == ana.created_at
    ben = Lead.objects.get(phone="+12125550188")
    assert ben.created_at == datetime(2025, 1, 16, 14, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("created_at", "error"),
    [("15/01/2025", "Enter an ISO date"), ("2999-01-01", "The inquiry cannot be")],
)
def test_bad_created_at_rejects_the_row(tmp_path, team_a, created_at, error):
    path = _csv(tmp_path, f"phone,created_at\n(305) 555-0181,{created_at}\n")

    output = _import(path)

    assert output.startswith(f"Line 2: created_at: {error}")
    assert Lead.objects.count() == 0


def test_imports_schedule_no_call_backs_and_send_no_texts(
    tmp_path, team_a, counselor, supervisor
):
    existing = make_lead(team=team_a, owner=counselor, phone="+13055550191")
    path = _csv(
        tmp_path,
        "first_name,phone,sms_consent\n"
        "Val,(305) 555-0192,yes\n"
        "Wes,(305) 555-0191,yes\n",  # a repeat of the lead above
    )

    output = _import(path)

    assert "1 new lead, 1 merged" in output
    assert CallBack.objects.count() == 0
    assert Message.objects.count() == 0
    assert Lead.objects.exclude(pk=existing.pk).get().sla_due_at is None


# --- Progress and crashes --------------------------------------------------------


def test_progress_bar_is_drawn_on_a_terminal(team_a):
    err = TerminalStringIO()

    _import(FIXTURES / "repeats.csv", stderr=err)

    assert "\r[" in err.getvalue()
    assert "3/3 rows 100%" in err.getvalue()


def test_progress_is_a_line_every_thousand_rows_off_a_terminal(tmp_path, team_a):
    rows = "".join(f"x{n}@example.org\n" for n in range(1001))
    path = _csv(tmp_path, "email\n" + rows)
    err = TerminalStringIO()

    _import(path, "--dry-run", "--no-progress", stderr=err)

    lines = err.getvalue().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("1000/1001 rows  99%")
    assert "\r" not in err.getvalue()


def test_a_crash_mid_file_keeps_the_rows_before_it_whole(tmp_path, team_a, monkeypatch):
    real_intake = import_leads.lead_intake
    calls = []

    def crash_on_second_row(**kwargs):
        calls.append(kwargs)
        if len(calls) == 2:
            raise RuntimeError("database went away")
        return real_intake(**kwargs)

    monkeypatch.setattr(import_leads, "lead_intake", crash_on_second_row)
    path = _csv(tmp_path, "phone\n(305) 555-0201\n(305) 555-0202\n(305) 555-0203\n")
    out = StringIO()

    with pytest.raises(CommandError, match="Stopped at line 3 by RuntimeError"):
        call_command("import_leads", str(path), stdout=out, stderr=StringIO())

    lead = Lead.objects.get()
    assert str(lead.phone) == "+13055550201"
    assert lead.first_touch is not None
    assert _last_line(out.getvalue()) == (
        "Imported 1 row: 1 new lead, 0 merged into existing leads, 0 rejected."
    )


def test_unwritable_rejects_path_is_refused_before_anything_is_stored(tmp_path, team_a):
    with pytest.raises(CommandError, match="Cannot write"):
        _import(FIXTURES / "mixed.csv", "--rejects", str(tmp_path / "no" / "r.csv"))

    assert Lead.objects.count() == 0
    assert not LeadSource.objects.exists()
