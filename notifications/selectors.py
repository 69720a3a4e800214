"""Reads of texting: consent state, conversations, alert settings and inboxes."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q, QuerySet

from crm.models import User
from leads.models import Lead, LeadSource

from .models import Alert, AlertPreference, ConsentEvent, Message

# Until a counselor chooses, alerts that need quick action also come by text.
DEFAULT_ALERT_PREFERENCES: dict[str, tuple[bool, bool]] = {
    # kind: (by_sms, in_app)
    AlertPreference.Kind.LEAD_ASSIGNED: (True, True),
    AlertPreference.Kind.LEAD_REPLIED: (True, True),
    AlertPreference.Kind.CALLBACK_DUE: (True, True),
    AlertPreference.Kind.SLA_BREACH: (False, True),
    AlertPreference.Kind.MESSAGE_UNKNOWN: (False, True),
    AlertPreference.Kind.LEAD_WAITING: (False, True),
    AlertPreference.Kind.REPEAT_INQUIRY: (True, True),
    AlertPreference.Kind.MISSED_CALL: (True, True),
    AlertPreference.Kind.VOB_COMPLETED: (False, True),
    # A person at risk: the supervisor hears of it at once, wherever they are.
    AlertPreference.Kind.LEAD_CRISIS: (True, True),
}

SMS_SOURCE_SLUG = "sms"


@dataclass(frozen=True)
class ConsentState:
    known: bool  # the ledger has anything for this number
    consented: bool
    opted_out: bool
    since: datetime | None
    source: str


def consent_state_for(phone: str) -> ConsentState:
    """The number's current permission: its newest ledger entry."""
    # Read before every text, in the worker's hot path: three columns, no model.
    newest = (
        ConsentEvent.objects.filter(phone=phone)
        .order_by("-at", "-id")
        .values_list("kind", "at", "source")
        .first()
        if phone
        else None
    )
    if newest is None:
        return ConsentState(False, False, False, None, "")
    kind, at, source = newest
    opted_in = kind == ConsentEvent.Kind.OPT_IN
    return ConsentState(True, opted_in, not opted_in, at, source)


def consent_history_for(phone: str) -> QuerySet[ConsentEvent]:
    return ConsentEvent.objects.filter(phone=phone).order_by("-at", "-id")


def lead_for_phone(phone: str) -> Lead | None:
    """The lead a text from `phone` belongs to: the newest with that number."""
    return (
        Lead.objects.filter(Q(phone=phone) | Q(caller_phone=phone))
        .select_related("owner")
        .order_by("-created_at", "-id")
        .first()
    )


def sms_source() -> LeadSource:
    source, _ = LeadSource.objects.get_or_create(
        slug=SMS_SOURCE_SLUG,
        defaults={"name": "SMS", "kind": LeadSource.Kind.SMS},
    )
    return source


def conversation_for(lead: Lead) -> QuerySet[Message]:
    """Every text to and from the lead, oldest first, with who sent it."""
    return Message.objects.for_lead(lead).select_related("sent_by")


def message_statuses(message_ids: list[int]) -> dict[int, Message]:
    """The current state of the given texts, for timelines, in one query."""
    return {
        message.pk: message
        for message in Message.objects.filter(pk__in=message_ids).only(
            "id", "status", "direction", "error_code", "blocked_reason"
        )
    }


@dataclass(frozen=True)
class Preference:
    kind: str
    by_sms: bool
    in_app: bool


def alert_preference_for(*, user: User, kind: str) -> Preference:
    saved = AlertPreference.objects.filter(user=user, kind=kind).first()
    if saved is not None:
        return Preference(kind, saved.by_sms, saved.in_app)
    by_sms, in_app = DEFAULT_ALERT_PREFERENCES.get(kind, (False, True))
    return Preference(kind, by_sms, in_app)


def alert_preferences_for(user: User) -> list[Preference]:
    saved = {p.kind: p for p in AlertPreference.objects.filter(user=user)}
    preferences = []
    for kind in AlertPreference.Kind.values:
        if kind in saved:
            preferences.append(Preference(kind, saved[kind].by_sms, saved[kind].in_app))
        else:
            by_sms, in_app = DEFAULT_ALERT_PREFERENCES.get(kind, (False, True))
            preferences.append(Preference(kind, by_sms, in_app))
    return preferences


def alerts_for(user: User) -> QuerySet[Alert]:
    """The user's in-app alerts, newest first (the API filters unread ones)."""
    return Alert.objects.filter(user=user).order_by("-created_at", "-id")
