"""Gravity Forms entries, as the Webhooks add-on posts them, turned into intake fields.

With "Request Body: All Fields" the add-on posts the entry object itself: metadata
("id", "form_id", "source_url", "ip", "user_agent", "status", ...) and one key per
input id ("1.3" first name, "3" phone, "6.1" a checkbox choice). Each source keeps
its own map from input ids to intake fields, because every site builds its form
differently. Pure functions: the view authenticates and answers.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from ipaddress import ip_address
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

from .intake_forms import (
    ATTRIBUTION_INPUTS,
    FALSE_WORDS,
    INTAKE_FIELDS,
    TRUE_WORDS,
    IntakeForm,
    check_flat_payload,
    flat_values,
)

MAPPING_FIELD = "gravity_forms_mapping"
# Attribution a page address can carry in its query string (not the address itself).
QUERY_ATTRIBUTION = tuple(
    name for name in ATTRIBUTION_INPUTS if name not in ("landing_page", "referrer")
)


class GravityEntryError(Exception):
    """The entry or the source's mapping cannot become an inquiry: field errors."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__(errors)
        self.errors = errors


@dataclass(frozen=True)
class GravityInquiry:
    """An entry in intake terms, and what it says about the person's browser."""

    payload: dict[str, Any]
    idempotency_key: str
    ip_address: str | None
    user_agent: str


def decode_entry(body: bytes) -> dict[str, Any]:
    """The entry object of a webhook body, or field errors."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _refused("The body is not UTF-8.") from exc
    try:
        entry = json.loads(text)
    # ValueError also covers integers over Python's 4300-digit limit.
    except (ValueError, RecursionError) as exc:
        raise _refused("The body is not JSON.") from exc
    if not isinstance(entry, dict):
        raise _refused("Send the entry as a JSON object (Request Body: All Fields).")
    return entry


def _refused(message: str) -> GravityEntryError:
    return GravityEntryError({"non_field_errors": [message]})


def check_mapping(mapping: Any) -> dict[str, str]:
    """The source's map of Gravity input ids to intake fields, or field errors."""
    if not isinstance(mapping, dict) or not mapping:
        raise GravityEntryError(
            {
                MAPPING_FIELD: [
                    "This source has no Gravity Forms mapping; map the form's "
                    'input ids to intake fields, e.g. {"3": "phone"}.'
                ]
            }
        )
    wrong = [
        f"{gravity_id!r} maps to {target!r}, which is not an intake field."
        for gravity_id, target in mapping.items()
        if not isinstance(target, str) or target not in INTAKE_FIELDS
    ]
    if wrong:
        raise GravityEntryError({MAPPING_FIELD: wrong})
    return mapping


def entry_to_intake(
    entry: Mapping[str, Any], *, mapping: Mapping[str, Any]
) -> GravityInquiry:
    """Map one entry through the source's mapping; unmapped keys are ignored.

    Gravity sends its own metadata and every input of the form, so keys nobody
    mapped are expected, not errors. A mapped value must be a single value.
    """
    targets = check_mapping(mapping)
    raw: dict[str, Any] = {}
    consent_input = ""
    for gravity_id, target in targets.items():
        value = entry.get(gravity_id)
        if value is None or value == "":
            continue
        # Two inputs mapped to one field (e.g. two phone inputs): the first wins.
        if target not in raw:
            raw[target] = value
            if target == "sms_consent":
                consent_input = gravity_id
    errors = check_flat_payload(raw)
    if errors:
        raise GravityEntryError(errors)
    payload = flat_values(raw)
    _consent(payload, entry, consent_input)
    _attribution_from_page(payload, entry.get("source_url"))
    return GravityInquiry(
        payload=payload,
        idempotency_key=idempotency_key(entry),
        ip_address=_ip(entry.get("ip")),
        user_agent=_text(entry.get("user_agent"))[:255],
    )


def idempotency_key(entry: Mapping[str, Any]) -> str:
    """`gf-<form>-<entry>`, so a resent entry is taken once; "" without an id."""
    entry_id = _text(entry.get("id")).strip()
    if not entry_id:
        return ""
    return f"gf-{_text(entry.get('form_id')).strip() or '0'}-{entry_id}"[:255]


def _consent(payload: dict[str, Any], entry: Mapping[str, Any], input_id: str) -> None:
    """Read the consent checkbox the way Gravity stores it.

    A Checkbox field stores the checked choice's text ("6.1": "I agree to ..."),
    which is what the person agreed to. A Consent field stores "1" in "<id>.1" and
    its label in "<id>.2". An unchecked box is "" or missing.
    """
    value = payload.pop("sms_consent", "")
    if isinstance(value, bool):
        payload["sms_consent"] = value
        return
    text = str(value).strip()
    # "0" or "false" is a box that was not ticked; no consent is ever inferred.
    if text.lower() in FALSE_WORDS:
        return
    payload["sms_consent"] = True
    if payload.get("consent_text"):
        return
    if text.lower() not in TRUE_WORDS:
        payload["consent_text"] = text
    elif input_id.endswith(".1"):
        label = _text(entry.get(f"{input_id[:-2]}.2")).strip()
        if label:
            payload["consent_text"] = label


def _attribution_from_page(payload: dict[str, Any], source_url: Any) -> None:
    """Take the landing page, UTMs and click ids from the form's page address.

    Mapped fields win: this only fills what they left empty. Values that the form
    would refuse are dropped, because metadata must never cost us the inquiry.
    """
    url = _text(source_url).strip()
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        return
    if not payload.get("landing_page"):
        payload["landing_page"] = _fit("landing_page", url)
    for name, value in parse_qsl(urlsplit(url).query):
        if name in QUERY_ATTRIBUTION and value.strip() and not payload.get(name):
            payload[name] = _fit(name, value.strip())


def _fit(name: str, value: str) -> str:
    return value[: IntakeForm.base_fields[name].max_length]


def _ip(value: Any) -> str | None:
    try:
        return str(ip_address(_text(value).strip()))
    except ValueError:
        return None


def _text(value: Any) -> str:
    if value is None or isinstance(value, dict | list | bool):
        return ""
    return str(value)
