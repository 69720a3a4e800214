"""One error shape for the whole API.

Validation problems answer 400 `{"errors": {field: [messages]}}` (problems not tied
to one field under `non_field_errors`); everything else keeps DRF's `{"detail": ...}`.
Services raise Django's `ValidationError`; it becomes the same 400 here, so a rule
broken deep in a service reads like a form error, never a 500.
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler


def django_errors_as_dict(error: DjangoValidationError) -> dict[str, list[str]]:
    if hasattr(error, "error_dict"):
        return {
            (api_settings.NON_FIELD_ERRORS_KEY if field == "__all__" else field): [
                str(message) for message in DjangoValidationError(messages).messages
            ]
            for field, messages in error.error_dict.items()
        }
    return {api_settings.NON_FIELD_ERRORS_KEY: [str(m) for m in error.messages]}


def _as_field_errors(detail) -> dict:
    if isinstance(detail, dict):
        return detail
    if isinstance(detail, list):
        return {api_settings.NON_FIELD_ERRORS_KEY: detail}
    return {api_settings.NON_FIELD_ERRORS_KEY: [detail]}


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        return Response(
            {"errors": django_errors_as_dict(exc)}, status=status.HTTP_400_BAD_REQUEST
        )
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(exc, exceptions.ValidationError):
        response.data = {"errors": _as_field_errors(response.data)}
    return response
