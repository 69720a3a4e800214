"""Serializer building blocks shared by every app's API."""

from rest_framework import serializers


class RejectUnknownFieldsMixin:
    """Answer 400 for fields the endpoint does not know, instead of ignoring them."""

    def to_internal_value(self, data):
        unknown_errors = {}
        if hasattr(data, "keys"):
            writable = {
                name for name, field in self.fields.items() if not field.read_only
            }
            unknown_errors = {
                name: ["Unknown or read-only field."]
                for name in sorted(set(data.keys()) - writable)
            }
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if isinstance(exc.detail, dict):
                raise serializers.ValidationError(
                    {**unknown_errors, **exc.detail}
                ) from exc
            raise
        if unknown_errors:
            raise serializers.ValidationError(unknown_errors)
        return value
