"""Model fields that encrypt sensitive identifiers at rest (Fernet, AES-128-CBC+HMAC).

The ciphertext lives in a text column; the value cannot be filtered on, which is the
point: a member id or a date of birth is read through the lead, never searched.
"""

import datetime
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import models

CIPHERTEXT_PREFIX = "fernet:"


@lru_cache(maxsize=4)
def _fernet_for(keys: str) -> MultiFernet:
    try:
        return MultiFernet([Fernet(key.strip()) for key in keys.split(",") if key])
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEY must be one or more comma-separated Fernet keys"
        ) from exc


def fernet() -> MultiFernet:
    return _fernet_for(settings.FIELD_ENCRYPTION_KEY)


def encrypt_text(value: str) -> str:
    return CIPHERTEXT_PREFIX + fernet().encrypt(value.encode()).decode()


def decrypt_text(stored: str) -> str:
    if not stored.startswith(CIPHERTEXT_PREFIX):
        raise ValueError("value is not encrypted with this field's format")
    try:
        return fernet().decrypt(stored[len(CIPHERTEXT_PREFIX) :].encode()).decode()
    except InvalidToken as exc:
        raise ValueError("cannot decrypt: FIELD_ENCRYPTION_KEY does not match") from exc


def encrypt_bytes(value: bytes) -> bytes:
    """Encrypt a file's bytes (a card photo) with the same keys as the fields."""
    return fernet().encrypt(value)


def decrypt_bytes(stored: bytes) -> bytes:
    try:
        return fernet().decrypt(stored)
    except InvalidToken as exc:
        raise ValueError("cannot decrypt: FIELD_ENCRYPTION_KEY does not match") from exc


class EncryptedTextField(models.TextField):
    """A short text stored encrypted; empty stays empty so blank checks still work."""

    def from_db_value(self, value, expression, connection):
        if value in (None, ""):
            return value
        return decrypt_text(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value in (None, ""):
            return value
        return encrypt_text(value)


class EncryptedDateField(models.TextField):
    """A date stored as encrypted ISO text; Python sees a `datetime.date`."""

    def from_db_value(self, value, expression, connection):
        if value in (None, ""):
            return None
        return datetime.date.fromisoformat(decrypt_text(value))

    def to_python(self, value):
        if value in (None, "") or isinstance(value, datetime.date):
            return value or None
        try:
            return datetime.date.fromisoformat(str(value))
        except ValueError as exc:
            raise ValidationError(
                "Enter a valid date as YYYY-MM-DD.", code="invalid"
            ) from exc

    def get_prep_value(self, value):
        value = self.to_python(value)
        if value is None:
            return None
        return encrypt_text(value.isoformat())

    def formfield(self, **kwargs):
        from django import forms

        return forms.DateField(**{"required": not self.blank, **kwargs})


class WebAddressField(models.URLField):
    """A URL whose form reads a bare "example.org/page" as https, as Django 6 will."""

    def formfield(self, **kwargs):
        return super().formfield(**{"assume_scheme": "https", **kwargs})
