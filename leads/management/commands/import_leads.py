"""Import past inquiries from a CSV file through the same door as web intake.

Each row is validated like a web form post and stored in its own transaction, so a
bad row is only reported and a crash leaves whole rows behind. Imports skip the
speed-to-lead steps: nobody should be called or texted now about an old inquiry.
"""

import codecs
import csv
import dataclasses
import io
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, OutputWrapper
from django.db import IntegrityError, transaction
from django.utils import timezone

from crm.models import Team
from leads.intake_forms import INTAKE_FIELDS, IntakeForm
from leads.models import Channel, LeadSource
from leads.services.intake import SmsConsent, lead_find_repeat, lead_intake
from leads.services.sources import source_create
from notifications.models import ConsentEvent

DEFAULT_SOURCE_NAME = "CSV import"
DEFAULT_SOURCE_SLUG = "csv-import"
DEFAULT_CONSENT_TEXT = "Imported: consent collected before import"
CREATED_AT = "created_at"
COLUMNS = (*INTAKE_FIELDS, CREATED_AT)
REJECTS_SHOWN = 20
# One INFO line per lead and per consent would bury the progress bar.
NOISY_WHILE_IMPORTING = ("leads.services", "notifications.services")


@dataclasses.dataclass
class Row:
    line: int
    values: list[str]


@dataclasses.dataclass
class Counts:
    new: int = 0
    merged: int = 0
    rejected: int = 0

    @property
    def rows(self) -> int:
        return self.new + self.merged + self.rejected


class Command(BaseCommand):
    help = (
        "Import inquiries from a UTF-8 CSV file whose header uses the intake field "
        "names (first_name, phone, email, state, utm_source, ...) and optionally "
        "created_at. Each row becomes a new lead or a repeat inquiry on an existing "
        "one; no call-backs, texts or alerts are sent for imported rows."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", help="path of the CSV file")
        parser.add_argument(
            "--source",
            default="",
            help=f'slug of the lead source (default: "{DEFAULT_SOURCE_NAME}", '
            "created when missing)",
        )
        parser.add_argument(
            "--team", default="", help="slug of the team every lead goes to"
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="validate and count new and merged rows; write nothing",
        )
        parser.add_argument(
            "--rejects", default="", help="write rejected rows to this CSV file"
        )
        parser.add_argument(
            "--no-progress",
            action="store_true",
            help="no progress bar; a line every 1000 rows instead",
        )

    def handle(self, *args, **options) -> None:
        dry_run = options["dry_run"]
        header, rows = read_csv(options["file"])
        columns = check_header(header)
        team = _team(options["team"])
        progress = Progress(
            self.stderr,
            total=len(rows),
            bar=not options["no_progress"] and self.stderr.isatty(),
        )
        # The rejects file opens before the source is created: a bad path then
        # leaves nothing behind.
        with _rejects_writer(options["rejects"], header) as write_reject:
            source = _source(options["source"], create=not dry_run and bool(rows))
            run = Import(
                columns=columns,
                source=source,
                team=team,
                dry_run=dry_run,
                write_reject=write_reject,
            )
            with _quiet(NOISY_WHILE_IMPORTING):
                for done, row in enumerate(rows, start=1):
                    try:
                        run.take(row)
                    except (Exception, KeyboardInterrupt) as exc:
                        progress.finish()
                        self._report(run)
                        raise CommandError(stopped(row, exc, dry_run=dry_run)) from exc
                    progress.update(done)
            progress.finish()
        self._report(run)

    def _report(self, run: "Import") -> None:
        for line, problems in run.shown_rejects:
            self.stdout.write(f"Line {line}: {problems}")
        hidden = run.counts.rejected - len(run.shown_rejects)
        if hidden > 0:
            self.stdout.write(f"... and {_plural(hidden, 'more rejected row')}.")
        self.stdout.write(summary(run.counts, dry_run=run.dry_run))


# --- Reading the file ----------------------------------------------------------------


def read_csv(path: str) -> tuple[list[str], list[Row]]:
    """The header and the non-blank rows with the line each starts on.

    The whole file is decoded and parsed before anything is imported, so a file
    that is not UTF-8 or not CSV is refused with nothing stored.
    """
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise CommandError(f"Cannot read {path}: {exc.strerror}.") from exc
    if raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8) :]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise CommandError(
            f"Line {line} is not UTF-8 (byte {exc.object[exc.start]:#04x}); save the "
            "file as CSV UTF-8. Nothing was imported."
        ) from exc
    reader = csv.reader(io.StringIO(text, newline=""))
    records: list[Row] = []
    start = 1
    try:
        for values in reader:
            if any(value.strip() for value in values):
                records.append(Row(line=start, values=values))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise CommandError(
            f"Line {start}: not valid CSV ({exc}). Nothing was imported."
        ) from exc
    if not records:
        raise CommandError("The file is empty: it needs a header row.")
    return records[0].values, records[1:]


def check_header(header: list[str]) -> list[str]:
    """The header as field names, or refuse unknown, unnamed or repeated columns."""
    names = [name.strip().lower() for name in header]
    unnamed = [str(i) for i, name in enumerate(names, start=1) if not name]
    if unnamed:
        raise CommandError(
            f"Column(s) {', '.join(unnamed)} of the header have no name. "
            "Nothing was imported."
        )
    unknown = [
        raw for raw, name in zip(header, names, strict=True) if name not in COLUMNS
    ]
    if unknown:
        raise CommandError(
            f"Unknown column(s): {', '.join(repr(name) for name in unknown)}. "
            f"Known columns: {', '.join(COLUMNS)}. Nothing was imported."
        )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise CommandError(
            f"Column(s) given twice: {', '.join(repeated)}. Nothing was imported."
        )
    if "phone" not in names and "email" not in names:
        raise CommandError(
            "The file needs a phone or an email column to reach the leads. "
            "Nothing was imported."
        )
    return names


def parse_created_at(text: str) -> datetime | None:
    """An ISO date or date-time; a naive one is in the center's TIME_ZONE."""
    text = text.strip()
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValidationError(
            "Enter an ISO date or date-time, e.g. 2025-03-01 14:30."
        ) from exc
    if timezone.is_naive(value):
        value = timezone.make_aware(value, timezone.get_default_timezone())
    if value > timezone.now():
        raise ValidationError("The inquiry cannot be in the future.")
    return value


# --- Taking rows in --------------------------------------------------------------


class Import:
    """One pass over the rows: store each (or, in a dry run, predict it) and count."""

    def __init__(
        self,
        *,
        columns: list[str],
        source: LeadSource | None,
        team: Team | None,
        dry_run: bool,
        write_reject: Callable[[Row, str], None],
    ) -> None:
        self.columns = columns
        self.source = source
        self.team = team
        self.dry_run = dry_run
        self.write_reject = write_reject
        self.counts = Counts()
        self.shown_rejects: list[tuple[int, str]] = []
        self.ledger = DryRunLedger()

    def take(self, row: Row) -> None:
        errors: dict[str, list[str]] = {}
        values = row.values
        extra = values[len(self.columns) :]
        if any(value.strip() for value in extra):
            errors["__all__"] = [
                f"The row has {len(values)} values; the header has "
                f"{len(self.columns)} columns."
            ]
        # Spreadsheets drop trailing empty cells: a short row's missing cells are
        # blank, not an error.
        data = dict(zip(self.columns, values, strict=False))
        created_at_text = data.pop(CREATED_AT, "")
        try:
            at = parse_created_at(created_at_text)
        except ValidationError as exc:
            errors[CREATED_AT] = exc.messages
            at = None
        form = IntakeForm(data)
        if not form.is_valid():
            errors.update({name: list(msgs) for name, msgs in form.errors.items()})
        if errors:
            self._reject(row, errors)
            return
        if self.dry_run:
            merged = self.ledger.would_merge(
                phone=form.cleaned_data["phone"],
                email=form.cleaned_data["email"],
                at=at,
            )
        else:
            try:
                merged = self._store(form, at)
            except ValidationError as exc:
                self._reject(row, _messages(exc))
                return
        if merged:
            self.counts.merged += 1
        else:
            self.counts.new += 1

    def _store(self, form: IntakeForm, at: datetime | None) -> bool:
        consent = form.consent_given(
            ip_address=None, user_agent="", default_text=DEFAULT_CONSENT_TEXT
        )
        # Its own transaction (the service's, made explicit): a failed row undoes
        # only itself, and a crash later in the file keeps the rows before it.
        with transaction.atomic():
            result = lead_intake(
                channel=Channel.IMPORT,
                source=self.source,
                details=form.lead_details(),
                attribution=form.attribution(),
                message=form.cleaned_data["message"],
                sms_consent=_imported(consent),
                by=None,
                team=self.team,
                speed_to_lead=False,
                at=at,
            )
        return result.duplicate

    def _reject(self, row: Row, errors: dict[str, list[str]]) -> None:
        self.counts.rejected += 1
        problems = "; ".join(
            " ".join(msgs) if name == "__all__" else f"{name}: {' '.join(msgs)}"
            for name, msgs in errors.items()
        )
        if len(self.shown_rejects) < REJECTS_SHOWN:
            self.shown_rejects.append((row.line, problems))
        self.write_reject(row, problems)


class DryRunLedger:
    """Tell which rows would repeat a lead, without writing one.

    Rows earlier in the file count as leads already stored, with the phone or
    e-mail a repeat would fill in, so the prediction matches a real import.
    """

    def __init__(self) -> None:
        self._leads: dict[str, dict[str, str]] = {}

    def would_merge(self, *, phone: str, email: str, at: datetime | None) -> bool:
        lead = (phone and self._leads.get(f"phone:{phone}")) or (
            email and self._leads.get(f"email:{email}")
        )
        if not lead:
            stored = lead_find_repeat(
                phone=phone, email=email, now=at or timezone.now()
            )
            if stored is not None:
                lead = {"phone": str(stored.phone or ""), "email": stored.email}
        merged = bool(lead)
        lead = lead or {"phone": "", "email": ""}
        # A repeat only fills the lead's blanks; it never replaces a contact.
        for kind, value in (("phone", phone), ("email", email)):
            if value and not lead[kind]:
                lead[kind] = value
        for kind in ("phone", "email"):
            if lead[kind]:
                self._leads[f"{kind}:{lead[kind]}"] = lead
        return merged


def _imported(consent: SmsConsent | None) -> SmsConsent | None:
    if consent is None:
        return None
    return dataclasses.replace(consent, source=ConsentEvent.Source.IMPORT)


def _messages(exc: ValidationError) -> dict[str, list[str]]:
    if hasattr(exc, "error_dict"):
        return exc.message_dict
    return {"__all__": exc.messages}


def summary(counts: Counts, *, dry_run: bool) -> str:
    rows = _plural(counts.rows, "row")
    if dry_run:
        return (
            f"Dry run: {rows}: {counts.new} would be new leads, {counts.merged} "
            f"would be merged into existing leads, {counts.rejected} rejected. "
            "Nothing was written."
        )
    return (
        f"Imported {rows}: {_plural(counts.new, 'new lead')}, {counts.merged} "
        f"merged into existing leads, {counts.rejected} rejected."
    )


def stopped(row: Row, exc: BaseException, *, dry_run: bool) -> str:
    why = f"Stopped at line {row.line} by {exc.__class__.__name__}: {exc}."
    if dry_run:
        return why
    # Rows are committed one by one; running the whole file again would turn the
    # stored ones into repeat inquiries on their own leads.
    return (
        f"{why} The rows before it are stored: remove them from the file before "
        "running it again."
    )


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


# --- Options ---------------------------------------------------------------------


def _team(slug: str) -> Team | None:
    if not slug:
        return None
    team = Team.objects.filter(slug=slug).first()
    if team is None:
        raise CommandError(f"No team with slug {slug!r}.")
    if not team.is_active:
        raise CommandError(f"The team {slug!r} is inactive.")
    return team


def _source(slug: str, *, create: bool) -> LeadSource | None:
    """The --source, or the default import source (created only when `create`)."""
    if slug:
        source = LeadSource.objects.filter(slug=slug).first()
        if source is None:
            raise CommandError(f"No lead source with slug {slug!r}.")
        return source
    source = LeadSource.objects.filter(slug=DEFAULT_SOURCE_SLUG).first()
    if source is not None or not create:
        return source
    try:
        # The intake key it is given is never shown: nobody can post with it.
        source, _key = source_create(
            name=DEFAULT_SOURCE_NAME,
            kind=LeadSource.Kind.IMPORT,
            slug=DEFAULT_SOURCE_SLUG,
        )
    except IntegrityError:
        # Another import created it at the same moment.
        return LeadSource.objects.get(slug=DEFAULT_SOURCE_SLUG)
    except ValidationError as exc:
        problems = "; ".join(" ".join(msgs) for msgs in exc.message_dict.values())
        raise CommandError(f"{problems} Pass --source with its slug.") from exc
    return source


@contextmanager
def _rejects_writer(
    path: str, header: list[str]
) -> Iterator[Callable[[Row, str], None]]:
    """A function writing one rejected row; opened first, so a bad path stops us."""
    if not path:
        yield lambda row, problems: None
        return
    try:
        file = open(path, "w", encoding="utf-8", newline="")  # noqa: SIM115
    except OSError as exc:
        raise CommandError(f"Cannot write {path}: {exc.strerror}.") from exc
    with file:
        writer = csv.writer(file)
        writer.writerow([*header, "line", "errors"])
        width = len(header)

        def write(row: Row, problems: str) -> None:
            values = row.values[:width] + [""] * (width - len(row.values))
            writer.writerow([*values, row.line, problems])

        yield write


@contextmanager
def _quiet(names: tuple[str, ...]) -> Iterator[None]:
    loggers = [logging.getLogger(name) for name in names]
    levels = [log.level for log in loggers]
    for log in loggers:
        log.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for log, level in zip(loggers, levels, strict=True):
            log.setLevel(level)


# --- Progress --------------------------------------------------------------------


class Progress:
    """Rows done on stderr: a redrawn bar on a terminal, else a line every 1000."""

    EVERY = 1000
    WIDTH = 30
    REDRAW_SECONDS = 0.1

    def __init__(self, out: OutputWrapper, *, total: int, bar: bool) -> None:
        self.out = out
        self.total = total
        self.bar = bar
        self.started = time.monotonic()
        self.drawn_at: float | None = None

    def update(self, done: int) -> None:
        now = time.monotonic()
        if self.bar:
            recently = self.drawn_at is not None and (
                now - self.drawn_at < self.REDRAW_SECONDS
            )
            if recently and done < self.total:
                return
            self.drawn_at = now
            filled = self.WIDTH * done // self.total
            bar = "#" * filled + "-" * (self.WIDTH - filled)
            self._write(f"\r[{bar}] {self._status(done, now)}", ending="")
        elif done % self.EVERY == 0:
            self._write(self._status(done, now))

    def finish(self) -> None:
        if self.bar and self.drawn_at is not None:
            self._write("")

    def _status(self, done: int, now: float) -> str:
        rate = done / max(now - self.started, 1e-6)
        percent = 100 * done // self.total
        return f"{done}/{self.total} rows {percent:3d}% {rate:,.0f} rows/s"

    def _write(self, text: str, ending: str = "\n") -> None:
        # Plain, not in the error colour Django gives stderr.
        self.out.write(text, style_func=lambda text: text, ending=ending)
