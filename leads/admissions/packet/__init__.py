"""The intake packet: what the receiving program's clinical record needs of a lead.

- `gather`: `intake_packet` builds the packet as plain values from the models, and
  `packet_contents` names its parts for the accounting of disclosures.
- `fhir`: `packet_fhir_json` shapes it as a FHIR R4 Bundle; `consent_copy` is a
  consent in words, sent with every disclosure.
- `pdf`: `packet_pdf` renders it as a printable document.
- `export`: `intake_packet_export`, the service: refuses without a covering
  Part 2 consent, records the disclosure and audits it.

Both renderings carry the 42 CFR §2.32 notice.
"""

from .export import intake_packet_export
from .fhir import packet_fhir_json
from .gather import EXPORTABLE_STAGES, intake_packet
from .pdf import packet_pdf

__all__ = [
    "EXPORTABLE_STAGES",
    "intake_packet",
    "intake_packet_export",
    "packet_fhir_json",
    "packet_pdf",
]
