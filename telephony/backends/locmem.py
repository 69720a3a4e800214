"""Tests: keep placed calls in memory, and fail on request."""

import threading
import uuid
from dataclasses import dataclass

from .base import VoiceBackend, VoiceError

placed: list["PlacedCall"] = []
_failures: list[VoiceError] = []
_lock = threading.Lock()


@dataclass(frozen=True)
class PlacedCall:
    sid: str
    to: str
    from_: str
    url: str
    status_callback: str


def fail_next(error: VoiceError, count: int = 1) -> None:
    with _lock:
        _failures.extend([error] * count)


def reset() -> None:
    with _lock:
        placed.clear()
        _failures.clear()


class LocmemVoiceBackend(VoiceBackend):
    def create_call(
        self, *, to: str, from_: str, url: str, status_callback: str
    ) -> str:
        with _lock:
            if _failures:
                raise _failures.pop(0)
            call = PlacedCall("CA" + uuid.uuid4().hex, to, from_, url, status_callback)
            placed.append(call)
        return call.sid
