"""Writes of the core app: the audit trail, users' presence."""

import logging
from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from .audit_context import current_origin
from .models import AuditEvent, User

logger = logging.getLogger(__name__)


def _audit_row(
    *,
    actor: User | None,
    action: str,
    object_type: str,
    object_id: object,
    lead_id: int | None,
    fields: Iterable[str] = (),
    detail: str = "",
) -> AuditEvent:
    origin = current_origin()
    actor = actor if actor is not None and actor.is_authenticated else None
    return AuditEvent(
        at=timezone.now(),
        actor=actor,
        actor_username=actor.get_username() if actor else "",
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        lead_id=lead_id,
        fields=sorted(fields),
        detail=detail[:255],
        ip_address=origin.ip_address,
        user_agent=origin.user_agent,
        channel=origin.channel,
    )


def audit_record(
    *,
    actor: User | None,
    action: str,
    object_type: str,
    object_id: object,
    lead_id: int | None = None,
    fields: Iterable[str] = (),
    detail: str = "",
) -> AuditEvent:
    """Append one line to the audit trail, with the current request's origin."""
    event = _audit_row(
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=object_id,
        lead_id=lead_id,
        fields=fields,
        detail=detail,
    )
    event.save()
    return event


def audit_record_many(
    *, actor: User | None, action: str, object_type: str, object_ids: Iterable[int]
) -> None:
    """Append one line per record, in one insert: used when a list shows many leads."""
    rows = [
        _audit_row(
            actor=actor,
            action=action,
            object_type=object_type,
            object_id=object_id,
            lead_id=object_id if object_type == "lead" else None,
        )
        for object_id in object_ids
    ]
    if rows:
        AuditEvent.objects.bulk_create(rows)


@transaction.atomic
def user_set_presence(*, user: User, presence: str) -> User:
    """Switch a counselor's presence; routing only offers leads to `available`."""
    if presence not in User.Presence.values:
        raise ValidationError({"presence": [f"Unknown presence {presence!r}."]})
    if user.presence != presence:
        user.presence = presence
        user.presence_changed_at = timezone.now()
        user.save(update_fields=["presence", "presence_changed_at"])
        logger.info("presence changed user_id=%s presence=%s", user.pk, presence)
    return user
