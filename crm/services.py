"""Writes of the core app: the audit trail, users' presence."""

import json
import logging
from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import connection, transaction
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


def audit_lead_view(*, actor: User | None, lead_id: int, detail: str = "") -> None:
    """Audit that `actor` was shown a lead's record (`detail` says which part)."""
    audit_record(
        actor=actor,
        action="view",
        object_type="lead",
        object_id=lead_id,
        lead_id=lead_id,
        detail=detail,
    )


def audit_record_many(
    *, actor: User | None, action: str, object_type: str, object_ids: Iterable[int]
) -> None:
    """Append one line per record in one statement; a list writes one per lead shown."""
    object_ids = [int(object_id) for object_id in object_ids]
    if not object_ids:
        return
    template = _audit_row(
        actor=actor, action=action, object_type=object_type, object_id="", lead_id=None
    )
    if connection.vendor == "postgresql":
        # Every page of the lead list writes a row per lead shown. One INSERT ... SELECT
        # over an array is a single round trip in autocommit, where bulk_create adds a
        # transaction around it and builds a model instance per row.
        _audit_insert_unnest(template, object_ids, is_lead=object_type == "lead")
        return
    AuditEvent.objects.bulk_create(
        [
            _audit_copy(
                template,
                object_id=str(object_id),
                lead_id=object_id if object_type == "lead" else None,
            )
            for object_id in object_ids
        ]
    )


def _audit_copy(template: AuditEvent, **changes) -> AuditEvent:
    values = {
        field.attname: getattr(template, field.attname)
        for field in AuditEvent._meta.concrete_fields
        if not field.primary_key
    }
    return AuditEvent(**{**values, **changes})


# The columns of crm.AuditEvent; tests on PostgreSQL read the rows back as models.
_AUDIT_INSERT_UNNEST = """
    INSERT INTO crm_auditevent (
        at, actor_id, actor_username, action, object_type, fields, detail,
        ip_address, user_agent, channel, object_id, lead_id
    )
    SELECT %s::timestamptz, %s, %s, %s, %s, %s::jsonb, %s, %s::inet, %s, %s,
        id::text, CASE WHEN %s THEN id END
    FROM unnest(%s::bigint[]) AS id
"""


def _audit_insert_unnest(
    template: AuditEvent, object_ids: list[int], *, is_lead: bool
) -> None:
    params = [
        template.at,
        template.actor_id,
        template.actor_username,
        template.action,
        template.object_type,
        json.dumps(template.fields),
        template.detail,
        template.ip_address,
        template.user_agent,
        template.channel,
        is_lead,
        object_ids,
    ]
    with connection.cursor() as cursor:
        cursor.execute(_AUDIT_INSERT_UNNEST, params)


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


@transaction.atomic
def user_set_phone(*, user: User, phone: str) -> User:
    """Set the member of staff's own phone (alerts by text, bridged calls)."""
    if str(user.phone or "") != phone:
        user.phone = phone
        user.save(update_fields=["phone"])
        audit_record(
            actor=user,
            action="update",
            object_type="user",
            object_id=user.pk,
            fields=["phone"],
        )
    return user
