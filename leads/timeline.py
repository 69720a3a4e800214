"""Reads for a lead's timeline: its events with each text's and call's current state.

The API and the lead page show the same rows, built here: the events in one query,
then the texts and calls they mention in one query each, however long the list.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from notifications import selectors as sms_selectors
from notifications.models import Message
from telephony import selectors as voice_selectors
from telephony.models import Call

from .models import CALLBACK_OPEN_STATUSES, Activity, CallBack, CallDisposition, Lead
from .selectors import lead_timeline

TIMELINE_PAGE = 100


# Delivery states as a badge colour: settled well, under way, needs a look.
_STATUS_TONES = {
    Message.Status.DELIVERED: "ok",
    Message.Status.RECEIVED: "ok",
    Message.Status.BLOCKED: "danger",
    Message.Status.FAILED: "danger",
    Message.Status.UNDELIVERED: "danger",
    Message.Status.UNKNOWN: "warn",
    Message.Status.SCHEDULED: "warn",
}


def _clock(seconds: int | None) -> str:
    if seconds is None:
        return ""
    return f"{seconds // 60}:{seconds % 60:02d}"


@dataclass(frozen=True)
class TimelineRow:
    """One event, with the text or call it is about as it stands now.

    Several events may concern one call (ringing, answered, voicemail);
    `first_for_call` marks the newest of them, which carries the call's details.
    """

    activity: Activity
    message: Message | None = None
    call: Call | None = None
    first_for_call: bool = False

    @property
    def sms_text(self) -> str:
        """The words of the text; a refused text's explanation is `sms_refusal`."""
        return self._sms_parts()[0]

    @property
    def sms_refusal(self) -> str:
        return self._sms_parts()[1]

    def _sms_parts(self) -> tuple[str, str]:
        # A refused text is stored on the timeline as "<text>\n\n<why>".
        body = self.activity.body
        blocked = self.message is not None and (
            self.message.status == Message.Status.BLOCKED
        )
        if blocked and "\n\n" in body:
            text, _, why = body.rpartition("\n\n")
            return text, why
        return body, ""

    @property
    def sms_tone(self) -> str:
        if self.message is None:
            return ""
        return _STATUS_TONES.get(self.message.status, "info")

    @property
    def disposition_label(self) -> str:
        data = self.activity.data if isinstance(self.activity.data, dict) else {}
        value = (self.call.disposition if self.call else "") or data.get(
            "disposition", ""
        )
        if value in CallDisposition.values:
            return CallDisposition(value).label
        return str(value or "")

    @property
    def call_duration(self) -> str:
        return _clock(self.call.duration_seconds if self.call else None)

    @property
    def recording_duration(self) -> str:
        return _clock(self.call.recording_duration if self.call else None)


def _referenced_ids(activities: list[Activity], key: str) -> list[int]:
    return [
        activity.data[key]
        for activity in activities
        if isinstance(activity.data, dict) and activity.data.get(key) is not None
    ]


def timeline_rows(activities: Iterable[Activity]) -> list[TimelineRow]:
    """Attach to each event the current state of its text or call (two queries)."""
    activities = list(activities)
    message_ids = _referenced_ids(activities, "message")
    call_ids = _referenced_ids(activities, "call")
    messages = sms_selectors.message_statuses(message_ids) if message_ids else {}
    calls = voice_selectors.calls_by_id(call_ids) if call_ids else {}
    rows = []
    calls_seen: set[int] = set()
    for activity in activities:
        data = activity.data if isinstance(activity.data, dict) else {}
        call = calls.get(data.get("call"))
        rows.append(
            TimelineRow(
                activity=activity,
                message=messages.get(data.get("message")),
                call=call,
                first_for_call=call is not None and call.pk not in calls_seen,
            )
        )
        if call is not None:
            calls_seen.add(call.pk)
    return rows


def lead_timeline_rows(*, lead: Lead, limit: int = TIMELINE_PAGE) -> list[TimelineRow]:
    """The newest `limit` events of the lead, newest first, in three queries."""
    return timeline_rows(lead_timeline(lead=lead)[:limit])


def message_details(message: Message) -> dict[str, Any]:
    """A text's delivery state as the timeline API shows it."""
    return {
        "id": message.pk,
        "direction": message.direction,
        "status": message.status,
        "blocked_reason": message.blocked_reason,
        "error_code": message.error_code,
    }


def call_details(call: Call) -> dict[str, Any]:
    """A call's state, recording and voicemail as the timeline API shows them."""
    return {
        "id": call.pk,
        "direction": call.direction,
        "status": call.status,
        "duration_seconds": call.duration_seconds,
        "recording_url": call.recording_url,
        "recording_duration": call.recording_duration,
        "is_voicemail": call.is_voicemail,
        "transcription": call.transcription,
        "disposition": call.disposition,
    }


def lead_open_callbacks(*, lead: Lead) -> list[CallBack]:
    """The calls still owed to the lead, soonest first, with their owners."""
    return list(
        CallBack.objects.filter(lead=lead, status__in=CALLBACK_OPEN_STATUSES)
        .select_related("owner")
        .order_by("due_at", "id")
    )
