"""Tests: keep sent texts in memory, and fail on request."""

import threading
import uuid
from dataclasses import dataclass

from .base import SendResult, SmsBackend, SmsError

outbox: list["SentSms"] = []
_failures: list[SmsError] = []
_lock = threading.Lock()


@dataclass(frozen=True)
class SentSms:
    sid: str
    to: str
    body: str
    from_number: str
    messaging_service_sid: str
    status_callback: str


def fail_next(error: SmsError, count: int = 1) -> None:
    """Make the next `count` sends raise `error`."""
    with _lock:
        _failures.extend([error] * count)


def reset() -> None:
    with _lock:
        outbox.clear()
        _failures.clear()


class LocmemBackend(SmsBackend):
    def send(
        self,
        *,
        to: str,
        body: str,
        from_number: str,
        messaging_service_sid: str,
        status_callback: str,
    ) -> SendResult:
        with _lock:
            if _failures:
                raise _failures.pop(0)
            sid = "SM" + uuid.uuid4().hex
            outbox.append(
                SentSms(
                    sid=sid,
                    to=to,
                    body=body,
                    from_number=from_number,
                    messaging_service_sid=messaging_service_sid,
                    status_callback=status_callback,
                )
            )
        return SendResult(sid=sid, status="queued")
