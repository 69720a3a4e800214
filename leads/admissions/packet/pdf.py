"""The intake packet as a printable PDF (reportlab), the §2.32 notice on every page."""

from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from io import BytesIO
from typing import Any
from xml.sax.saxutils import escape as xml_escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import LETTER
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import inch
from reportlab.platypus import (
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from ...models import YesNoUnknown
from .fhir import consent_copy
from .gather import NOT_A_GUARANTEE, _joined, _label, _local_time, _percent

PAGE_WIDTH, PAGE_HEIGHT = LETTER
MARGIN = 0.7 * inch
FOOTER_FONT_SIZE = 5.6
CONTENT_WIDTH = PAGE_WIDTH - 2 * MARGIN
Styles = dict[str, ParagraphStyle]


def _styles() -> dict[str, ParagraphStyle]:
    base = getSampleStyleSheet()
    body = ParagraphStyle(
        "packet-body", parent=base["BodyText"], fontSize=9, leading=11.5
    )
    return {
        "title": ParagraphStyle(
            "packet-title", parent=base["Title"], fontSize=16, alignment=TA_LEFT
        ),
        "h2": ParagraphStyle(
            "packet-h2",
            parent=base["Heading2"],
            fontSize=12,
            spaceBefore=10,
            keepWithNext=1,
        ),
        "h3": ParagraphStyle(
            "packet-h3",
            parent=base["Heading3"],
            fontSize=10,
            spaceBefore=6,
            keepWithNext=1,
        ),
        "body": body,
        "small": ParagraphStyle("packet-small", parent=body, fontSize=8, leading=10),
        "label": ParagraphStyle(
            "packet-label", parent=body, fontName="Helvetica-Bold", fontSize=8.5
        ),
        "notice": ParagraphStyle("packet-notice", parent=body, fontSize=8, leading=10),
        "footer": ParagraphStyle(
            "packet-footer",
            parent=body,
            fontSize=FOOTER_FONT_SIZE,
            leading=FOOTER_FONT_SIZE + 1.2,
            textColor=colors.HexColor("#333333"),
        ),
    }


def _text(value: Any) -> str:
    """A value as the reader should see it, escaped for reportlab's markup."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, datetime):
        value = _local_time(value)
    elif isinstance(value, date):
        value = f"{value:%Y-%m-%d}"
    elif isinstance(value, Decimal):
        value = f"{value:,.2f}"
    elif isinstance(value, list):
        value = "; ".join(str(item) for item in value) or "—"
    return _markup(str(value))


def _markup(text: str) -> str:
    """Plain text as reportlab markup: escaped, its line breaks kept."""
    return xml_escape(text).replace("\n", "<br/>")


def _facts(rows: Iterable[tuple[str, Any]], styles: dict[str, ParagraphStyle]):
    data = [
        [
            Paragraph(xml_escape(label), styles["label"]),
            Paragraph(_text(value), styles["body"]),
        ]
        for label, value in rows
    ]
    if not data:
        return Paragraph("Nothing recorded.", styles["body"])
    table = Table(data, colWidths=[1.9 * inch, CONTENT_WIDTH - 1.9 * inch])
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.HexColor("#dddddd")),
                ("TOPPADDING", (0, 0), (-1, -1), 2),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
            ]
        )
    )
    return table


def _grid(
    header: list[str],
    rows: list[list[Any]],
    widths: list[float],
    styles: dict[str, ParagraphStyle],
):
    data = [[Paragraph(xml_escape(cell), styles["label"]) for cell in header]]
    data += [[Paragraph(_text(cell), styles["small"]) for cell in row] for row in rows]
    table = Table(data, colWidths=[width * inch for width in widths], repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eef1f5")),
                ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.HexColor("#dddddd")),
                ("TOPPADDING", (0, 0), (-1, -1), 2),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
            ]
        )
    )
    return table


def _yes_no(value: str) -> str:
    return _label(YesNoUnknown, value)


def _pdf_header(packet: dict[str, Any], notice: str, styles: Styles) -> list[Any]:
    title = f"Intake packet · lead #{packet['lead_id']}"
    heading = (
        "<b>Confidential: 42 CFR Part 2 record. Notice to accompany disclosure "
        "(42 CFR §2.32)</b>"
    )
    box = Table(
        [
            [Paragraph(heading, styles["notice"])],
            [Paragraph(_markup(notice), styles["notice"])],
        ],
        colWidths=[CONTENT_WIDTH],
    )
    box.setStyle(
        TableStyle(
            [
                ("BOX", (0, 0), (-1, -1), 1, colors.HexColor("#9b1c1c")),
                ("BACKGROUND", (0, 0), (-1, -1), colors.HexColor("#fdf2f2")),
                ("LEFTPADDING", (0, 0), (-1, -1), 6),
                ("RIGHTPADDING", (0, 0), (-1, -1), 6),
            ]
        )
    )
    disclosure = packet["disclosure"]
    if disclosure:
        facts = [
            ("Disclosed to", disclosure["recipient"]),
            ("Purpose", disclosure["purpose"]),
            ("Under consent", f"Part 2 consent #{disclosure['consent_id']}"),
            ("Disclosed by", f"{disclosure['by']}, {_text(disclosure['at'])}"),
            ("Who discloses", disclosure["disclosing_party"]),
        ]
    else:
        facts = [("Generated", packet["generated_at"])]
    return [Paragraph(title, styles["title"]), box, Spacer(1, 6), _facts(facts, styles)]


def _pdf_people(packet: dict[str, Any], styles: Styles) -> list[Any]:
    person = packet["patient"]
    story: list[Any] = [
        Paragraph("Patient", styles["h2"]),
        _facts(
            [
                ("Name", person["name"]),
                ("Date of birth", person["date_of_birth"]),
                ("Phone", person["phone"]),
                ("E-mail", person["email"]),
                ("City, state", _joined(person["city"], person["state"])),
                ("Preferred language", person["preferred_language_label"]),
                ("Stage", person["stage_label"]),
                ("Level of care sought", person["level_of_care_label"]),
                ("Urgency", person["urgency_label"]),
                ("Substances (first contact)", person["substances"]),
                (
                    "Co-occurring mental health",
                    person["co_occurring_mental_health_label"],
                ),
                ("Intake notes", person["intake_notes"]),
            ],
            styles,
        ),
        Paragraph("Caller", styles["h2"]),
    ]
    caller = packet["caller"]
    if caller is None:
        story.append(Paragraph("The patient called for themselves.", styles["body"]))
        return story
    story.append(
        _facts(
            [
                ("Name", caller["name"]),
                ("Relationship", caller["relationship_label"]),
                ("Phone", caller["phone"]),
                ("E-mail", caller["email"]),
                ("Patient consents to caller", caller["patient_consents_label"]),
            ],
            styles,
        )
    )
    return story


def _pdf_prescreen(prescreen: dict[str, Any] | None, styles: Styles) -> list[Any]:
    story: list[Any] = [Paragraph("Pre-screen", styles["h2"])]
    if prescreen is None:
        return [*story, Paragraph("No pre-screen recorded.", styles["body"])]
    saved = (
        f"Version {prescreen['version']}, saved by "
        f"{xml_escape(prescreen['created_by'])} on {_text(prescreen['created_at'])}."
    )
    if prescreen["safety_flagged"]:
        saved += " <b>Safety screen positive.</b>"
    story.append(Paragraph(saved, styles["body"]))
    for group in prescreen["groups"]:
        rows = [(answer["question"], answer["value"]) for answer in group["answers"]]
        story += [
            Paragraph(xml_escape(group["title"]), styles["h3"]),
            _facts(rows, styles),
        ]
    return story


def _benefit_row(benefit: dict[str, Any]) -> list[Any]:
    days, visits = benefit["day_limit"], benefit["visit_limit"]
    copay = benefit["copay"]
    return [
        benefit["level_of_care_label"],
        _yes_no(benefit["covered"]),
        _yes_no(benefit["prior_auth_required"]),
        _yes_no(benefit["in_network"]),
        _joined(
            f"{days} days" if days is not None else "",
            f"{visits} visits" if visits is not None else "",
        ),
        _joined(
            _percent(benefit["coinsurance_percent"]),
            f"${copay} copay" if copay is not None else "",
        ),
        benefit["notes"],
    ]


def _pdf_verification(packet: dict[str, Any], styles: Styles) -> list[Any]:
    story: list[Any] = [Paragraph("Insurance verification", styles["h2"])]
    vob = packet["verification"]
    if vob is None:
        story.append(Paragraph("No verification of benefits on file.", styles["body"]))
        told = packet["patient"]["insurance_as_told"]
        if told["payer"]:
            rows = [
                ("Payer (as told)", told["payer"]),
                ("Member id (as told)", told["member_id"]),
                ("Group number (as told)", told["group_number"]),
                ("Subscriber (as told)", told["subscriber_name"]),
            ]
            story.append(_facts(rows, styles))
        return story
    method = _joined(
        vob["method_label"] or "Method not recorded",
        f"rep {vob['payer_rep_name']}" if vob["payer_rep_name"] else "",
        f"ref {vob['call_reference']}" if vob["call_reference"] else "",
    )
    policy_dates = (vob["policy_effective_on"], vob["policy_terminates_on"])
    policy = (
        " to ".join(_text(day) for day in policy_dates) if any(policy_dates) else ""
    )
    coinsurance = " / ".join(
        _percent(vob[name]) or "—"
        for name in (
            "coinsurance_in_network_percent",
            "coinsurance_out_of_network_percent",
        )
    )
    copay = " / ".join(
        _text(vob[name]) for name in ("copay_in_network", "copay_out_of_network")
    )
    rows = [
        ("Status", vob["status_label"]),
        ("Payer", vob["payer"]),
        ("Plan type", vob["plan_type_label"]),
        ("Member id", vob["member_id"]),
        ("Group number", vob["group_number"]),
        ("Subscriber", vob["subscriber_name"]),
        ("Subscriber's date of birth", vob["subscriber_date_of_birth"]),
        ("Relationship to subscriber", vob["subscriber_relationship_label"]),
        (
            "Secondary coverage",
            _joined(vob["secondary_payer_name"], vob["secondary_member_id"], sep=" "),
        ),
        ("Policy dates", policy),
        ("Verified by", method),
        ("Completed", vob["completed_at"]),
        ("Coverage active", _yes_no(vob["coverage_active"])),
        ("Network", vob["network_status_label"]),
        ("Coinsurance in / out of network", coinsurance),
        ("Copay in / out of network", copay),
        ("Behavioral health carve-out", vob["behavioral_health_carve_out"]),
        ("Utilization review", vob["utilization_review_contact"]),
        ("Notes", vob["result_notes"]),
    ]
    story.append(_facts(rows, styles))
    if vob["not_a_guarantee"]:
        guarantee = f"<i>{NOT_A_GUARANTEE}</i>"
        story.append(Paragraph(guarantee, styles["small"]))
    if vob["amounts"]:
        amounts = [
            [
                amount["label"],
                "In" if amount["network"] == "in_network" else "Out",
                amount["unit"].capitalize(),
                amount["total"],
                amount["remaining"],
            ]
            for amount in vob["amounts"]
        ]
        header = ["", "Network", "Individual / family", "Total", "Remaining"]
        story += [
            Paragraph("Deductibles and out-of-pocket maximums", styles["h3"]),
            _grid(header, amounts, [2.0, 0.8, 1.4, 1.4, 1.4], styles),
        ]
    if vob["benefits"]:
        header = [
            "Level of care",
            "Covered",
            "Pre-auth",
            "In network",
            "Limits",
            "Cost share",
            "Notes",
        ]
        benefits = [_benefit_row(benefit) for benefit in vob["benefits"]]
        story += [
            Paragraph("Coverage by level of care", styles["h3"]),
            _grid(header, benefits, [1.2, 0.75, 0.7, 0.75, 0.9, 1.0, 1.8], styles),
        ]
    return story


def _pdf_authorizations(packet: dict[str, Any], styles: Styles) -> list[Any]:
    story: list[Any] = [Paragraph("Authorizations", styles["h2"])]
    if not packet["authorizations"]:
        return [*story, Paragraph("None recorded.", styles["body"])]
    rows = [
        [
            auth["auth_number"],
            auth["level_of_care_label"],
            f"{_text(auth['starts_on'])} to {_text(auth['ends_on'])}",
            _joined(auth["units_authorized"], auth["unit_type_label"].lower(), sep=" ")
            if auth["units_authorized"] is not None
            else "",
            auth["next_review_on"],
            auth["reviewer_contact"],
        ]
        for auth in packet["authorizations"]
    ]
    header = ["Auth number", "Level of care", "Dates", "Authorized", "Next review"]
    header.append("Reviewer")
    story.append(_grid(header, rows, [1.1, 1.1, 1.5, 0.9, 0.9, 1.5], styles))
    return story


def _pdf_admissions(packet: dict[str, Any], styles: Styles) -> list[Any]:
    story: list[Any] = [Paragraph("Admissions", styles["h2"])]
    if not packet["admissions"]:
        return [*story, Paragraph("None recorded.", styles["body"])]
    rows = []
    for item in packet["admissions"]:
        where = _joined(item["facility_name"], item["city"], item["state"])
        travel = "Arranged" if item["travel_arranged"] else "Not arranged"
        rows.append(
            [
                f"{item['program']} ({where})",
                item["level_of_care_label"],
                item["scheduled_for"],
                _joined(item["status_label"], item["cancel_reason"], sep=": "),
                item["admitted_at"],
                _joined(travel, item["travel_notes"], sep=". "),
            ]
        )
    header = ["Program", "Level of care", "Scheduled", "Status", "Admitted", "Travel"]
    story.append(_grid(header, rows, [1.9, 1.0, 1.1, 1.0, 1.1, 0.9], styles))
    return story


def _pdf_consents(packet: dict[str, Any], styles: Styles) -> list[Any]:
    story: list[Any] = [Paragraph("42 CFR Part 2 consents", styles["h2"])]
    if not packet["consents"]:
        return [*story, Paragraph("None recorded.", styles["body"])]
    for consent in packet["consents"]:
        title = f"Consent #{consent['id']} ({consent['status']})"
        story.append(
            KeepTogether(
                [
                    Paragraph(title, styles["h3"]),
                    Paragraph(_text(consent_copy(consent)), styles["small"]),
                ]
            )
        )
    return story


def _pdf_timeline(packet: dict[str, Any], styles: Styles) -> list[Any]:
    explanation = (
        "Events on the lead, oldest first; the words of messages and notes are "
        "not included."
    )
    story: list[Any] = [
        Paragraph("Timeline summary", styles["h2"]),
        Paragraph(explanation, styles["small"]),
    ]
    rows = [
        [row["at"], row["kind_label"], row["summary"], row["actor"]]
        for row in packet["timeline"]
    ]
    if rows:
        header = ["When", "What", "Summary", "By"]
        story.append(_grid(header, rows, [1.5, 1.1, 3.4, 1.1], styles))
    return story


def _pdf_story(packet: dict[str, Any], notice: str, styles: Styles) -> list[Any]:
    return [
        *_pdf_header(packet, notice, styles),
        *_pdf_people(packet, styles),
        *_pdf_prescreen(packet["prescreen"], styles),
        *_pdf_verification(packet, styles),
        *_pdf_authorizations(packet, styles),
        *_pdf_admissions(packet, styles),
        *_pdf_consents(packet, styles),
        *_pdf_timeline(packet, styles),
    ]


def packet_pdf(packet: dict[str, Any], *, notice: str) -> bytes:
    """The packet as a PDF: the notice atop page 1 and in every page's footer."""
    styles = _styles()
    footer = Paragraph(_markup(notice), styles["footer"])
    _, footer_height = footer.wrap(CONTENT_WIDTH, PAGE_HEIGHT)
    bottom_margin = MARGIN + footer_height + 18
    lead_id = packet["lead_id"]

    def draw_footer(canvas, doc) -> None:
        canvas.saveState()
        top = MARGIN + footer_height + 8
        canvas.setStrokeColor(colors.HexColor("#999999"))
        canvas.setLineWidth(0.5)
        canvas.line(MARGIN, top + 2, PAGE_WIDTH - MARGIN, top + 2)
        canvas.setFont("Helvetica", 7)
        canvas.drawString(
            MARGIN,
            top + 6,
            f"Intake packet, lead #{lead_id} · confidential 42 CFR Part 2 record",
        )
        canvas.drawRightString(PAGE_WIDTH - MARGIN, top + 6, f"Page {doc.page}")
        footer.drawOn(canvas, MARGIN, MARGIN)
        canvas.restoreState()

    buffer = BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=LETTER,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=bottom_margin,
        # The title shows in viewers' tabs and recent-file lists: no name in it.
        title=f"Intake packet, lead #{lead_id}",
        author=(packet["disclosure"] or {}).get("disclosing_party", ""),
        subject="42 CFR Part 2 protected record",
    )
    document.build(
        _pdf_story(packet, notice, styles),
        onFirstPage=draw_footer,
        onLaterPages=draw_footer,
    )
    return buffer.getvalue()
