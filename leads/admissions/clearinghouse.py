"""Where 270 inquiries go and 271 responses come from, chosen by a setting.

Like Django's e-mail backends: `settings.CLEARINGHOUSE_BACKEND` names a class (a
dotted path, or "file" / "locmem"), and `get_backend()` returns one instance per
process. A clearinghouse's real-time API is one more subclass of
`ClearinghouseBackend`.

Both directions carry the member's name, id and date of birth: the file backend's
folders must be treated like the database (encrypted disk, no shared access).
"""

import logging
import os
import re
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from crm.backends import BackendChoice

logger = logging.getLogger(__name__)

BACKENDS = {
    "file": "leads.admissions.clearinghouse.FileOutboxBackend",
    "locmem": "leads.admissions.clearinghouse.LocmemBackend",
}

# A trace names the files, so it may hold nothing that walks out of a folder.
_TRACE = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,49}")
# A 271 about one person is a few kilobytes; anything far larger is not one.
MAX_RESPONSE_BYTES = 1024 * 1024


class ClearinghouseError(Exception):
    """The inquiry could not be handed over, or a response could not be read."""


def _check_trace(trace: str) -> None:
    if not _TRACE.fullmatch(trace or ""):
        raise ValueError("a trace is 1 to 50 letters, digits and dashes")


class ClearinghouseBackend(ABC):
    """Hands 270s to a clearinghouse and picks up the 271s that answer them."""

    @abstractmethod
    def send_270(self, *, text: str, trace: str) -> str:
        """Hand over one 270 interchange; return the submission id it was given."""

    @abstractmethod
    def fetch_271(self, *, trace: str) -> str | None:
        """The 271 answering the inquiry with this trace, or None while none came."""


class FileOutboxBackend(ClearinghouseBackend):
    """Writes `<trace>.270` into the outbox; reads `<trace>.271` from the inbox.

    The inbox is the `inbox` folder beside the outbox. An operator, or the
    clearinghouse's SFTP sync, moves inquiries out and drops responses in.
    """

    @property
    def outbox_dir(self) -> Path:
        # Read on each call: tests and deployments may point it elsewhere.
        return Path(settings.CLEARINGHOUSE_OUTBOX_DIR)

    @property
    def inbox_dir(self) -> Path:
        return self.outbox_dir.parent / "inbox"

    def send_270(self, *, text: str, trace: str) -> str:
        _check_trace(trace)
        path = self.outbox_dir / f"{trace}.270"
        # Written under a hidden name and renamed: a sync job never picks up half a
        # file, and only this account can read it.
        partial = self.outbox_dir / f".{trace}.270.part"
        try:
            self.outbox_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            if path.exists():
                raise ClearinghouseError(
                    "an inquiry with this trace is already in the outbox"
                )
            descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as file:
                file.write(text)
            os.replace(partial, path)
        except OSError as exc:
            raise ClearinghouseError(
                f"the outbox could not be written: {exc.strerror or exc}"
            ) from exc
        logger.info("eligibility 270 written to the outbox trace=%s", trace)
        return path.name

    def fetch_271(self, *, trace: str) -> str | None:
        _check_trace(trace)
        path = self.inbox_dir / f"{trace}.271"
        try:
            if path.stat().st_size > MAX_RESPONSE_BYTES:
                raise ClearinghouseError("the response file is too large to be a 271")
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ClearinghouseError(
                f"the inbox could not be read: {exc.strerror or exc}"
            ) from exc
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            # X12's extended character set is not always UTF-8; Latin-1 reads any byte.
            return data.decode("latin-1")


@dataclass(frozen=True)
class SentInquiry:
    submission_id: str
    trace: str
    text: str


# The locmem backend's memory, like django.core.mail.outbox.
outbox: list[SentInquiry] = []
_responses: dict[str, str] = {}
_failures: list[ClearinghouseError] = []
_lock = threading.Lock()


def queue_response(*, trace: str, text: str) -> None:
    """Make `fetch_271(trace=trace)` return `text` (tests)."""
    with _lock:
        _responses[trace] = text


def fail_next(error: ClearinghouseError) -> None:
    """Make the next `send_270` raise `error` (tests)."""
    with _lock:
        _failures.append(error)


def reset() -> None:
    with _lock:
        outbox.clear()
        _responses.clear()
        _failures.clear()


class LocmemBackend(ClearinghouseBackend):
    """Keeps sent inquiries in `outbox` and answers with queued responses (tests)."""

    def send_270(self, *, text: str, trace: str) -> str:
        _check_trace(trace)
        with _lock:
            if _failures:
                raise _failures.pop(0)
            submission_id = f"LOCMEM-{len(outbox) + 1}"
            outbox.append(
                SentInquiry(submission_id=submission_id, trace=trace, text=text)
            )
        return submission_id

    def fetch_271(self, *, trace: str) -> str | None:
        _check_trace(trace)
        with _lock:
            return _responses.get(trace)


_choice = BackendChoice("CLEARINGHOUSE_BACKEND", BACKENDS)


def get_backend() -> ClearinghouseBackend:
    """The backend `settings.CLEARINGHOUSE_BACKEND` names."""
    return _choice.get()
