"""Lead sources and their intake keys. Only a key's SHA-256 is ever stored."""

import hashlib
import secrets

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from crm.models import Team, User
from crm.services import audit_record

from ..models import LeadSource

KEY_PREFIX = "lk_"


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def _new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


@transaction.atomic
def source_create(
    *,
    name: str,
    kind: str,
    slug: str = "",
    team: Team | None = None,
    sla_minutes: int = 5,
    by: User | None = None,
) -> tuple[LeadSource, str]:
    """Create a source with a fresh intake key; return the key, shown only now."""
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": ["Give the source a name."]})
    if kind not in LeadSource.Kind.values:
        choices = ", ".join(LeadSource.Kind.values)
        raise ValidationError({"kind": [f"Choose one of: {choices}."]})
    slug = slugify(slug or name)[:120]
    if not slug:
        raise ValidationError({"slug": ["The name needs letters or digits."]})
    if LeadSource.objects.filter(name=name).exists():
        raise ValidationError({"name": [f"A source named {name!r} already exists."]})
    if LeadSource.objects.filter(slug=slug).exists():
        raise ValidationError({"slug": [f"The slug {slug!r} is taken."]})
    key = _new_key()
    source = LeadSource(
        name=name,
        slug=slug,
        kind=kind,
        team=team,
        sla_minutes=sla_minutes,
        key_hash=key_digest(key),
        key_prefix=key[:10],
        key_rotated_at=timezone.now(),
    )
    source.full_clean(exclude=["key_hash"])
    source.save()
    audit_record(
        actor=by, action="create", object_type="lead_source", object_id=source.pk
    )
    return source, key


@transaction.atomic
def source_rotate_key(*, source: LeadSource, by: User | None) -> str:
    """Give the source a new key; the old one stops working at once."""
    key = _new_key()
    source.key_hash = key_digest(key)
    source.key_prefix = key[:10]
    source.key_rotated_at = timezone.now()
    source.save(update_fields=["key_hash", "key_prefix", "key_rotated_at"])
    audit_record(
        actor=by,
        action="update",
        object_type="lead_source",
        object_id=source.pk,
        fields=["key"],
        detail="intake key rotated",
    )
    return key


def source_for_key(key: str) -> LeadSource | None:
    """The active source holding `key`, or None (unknown, rotated or disabled)."""
    if not key or not key.startswith(KEY_PREFIX) or len(key) > 200:
        return None
    return LeadSource.objects.filter(key_hash=key_digest(key), is_active=True).first()
