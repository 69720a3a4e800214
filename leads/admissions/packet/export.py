"""Exporting the intake packet: a Part 2 disclosure, refused without a consent."""

import json
import logging
from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from crm.models import User
from crm.services import audit_record

from ...models import Lead
from ..consent import REDISCLOSURE_NOTICE, disclosure_record, part2_consent_for
from ..models import Disclosure
from .fhir import packet_fhir_json
from .gather import EXPORTABLE_STAGES, intake_packet, packet_contents
from .pdf import packet_pdf

logger = logging.getLogger(__name__)

FORMATS: dict[str, str] = {"pdf": "application/pdf", "json": "application/fhir+json"}

RENDERERS: dict[str, Callable[[dict[str, Any], str], bytes]] = {
    "pdf": lambda packet, notice: packet_pdf(packet, notice=notice),
    "json": lambda packet, notice: json.dumps(
        packet_fhir_json(packet, notice=notice), indent=2, ensure_ascii=False
    ).encode("utf-8"),
}


@transaction.atomic
def intake_packet_export(
    *, lead: Lead, by: User, format: str, recipient: str, purpose: str
) -> tuple[str, str, bytes]:
    """Build the lead's intake packet for `recipient` and log the disclosure.

    Refused unless the lead is admitted or its admission is scheduled, and unless
    an active Part 2 consent covers the recipient. Returns the file's name,
    content type and bytes.
    """
    recipient, purpose = (recipient or "").strip(), (purpose or "").strip()
    errors: dict[str, list[str]] = {}
    if format not in FORMATS:
        errors["format"] = ["Choose PDF or FHIR JSON."]
    if not recipient:
        errors["recipient"] = ["Name who receives the packet."]
    if not purpose:
        errors["purpose"] = ["Say what the packet is for (e.g. admission intake)."]
    if errors:
        raise ValidationError(errors)
    if lead.stage not in EXPORTABLE_STAGES:
        raise ValidationError(
            f"The intake packet goes to the receiving program of an admitted lead or "
            f"one whose admission is scheduled; this lead is in "
            f"{lead.get_stage_display()}."
        )
    now = timezone.now()
    consent = part2_consent_for(lead=lead, recipient=recipient, at=now)
    if consent is None:
        raise ValidationError(
            {
                "recipient": [
                    "A disclosure needs a structured Part 2 consent on file: no "
                    f'active consent names "{recipient}" or covers treatment, '
                    "payment and health care operations. Record the patient's "
                    "signed consent first."
                ]
            }
        )
    packet = intake_packet(lead=lead)
    packet["disclosure"] = {
        "recipient": recipient,
        "purpose": purpose,
        "consent_id": consent.pk,
        "disclosing_party": consent.disclosing_party,
        "by": str(by),
        "at": now,
    }
    content = RENDERERS[format](packet, REDISCLOSURE_NOTICE)
    contents = packet_contents(packet)
    disclosure = disclosure_record(
        lead=lead,
        consent=consent,
        kind=Disclosure.Kind.INTAKE_PACKET,
        recipient=recipient,
        purpose=purpose,
        information="Intake packet: " + "; ".join(contents) + ".",
        format=format,
        by=by,
    )
    audit_record(
        actor=by,
        action="export",
        object_type="lead",
        object_id=lead.pk,
        lead_id=lead.pk,
        fields=["intake_packet"],
        detail=f"intake_packet format={format} disclosure={disclosure.pk}",
    )
    logger.info(
        "intake packet exported lead_id=%s disclosure_id=%s format=%s bytes=%s",
        lead.pk,
        disclosure.pk,
        format,
        len(content),
    )
    extension = "pdf" if format == "pdf" else "fhir.json"
    filename = (
        f"intake-packet-lead-{lead.pk}-{timezone.localdate(now):%Y%m%d}.{extension}"
    )
    return filename, FORMATS[format], content
