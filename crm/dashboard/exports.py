"""Each dashboard table as CSV rows, and the CSV response that carries them."""

import csv
from collections.abc import Callable
from dataclasses import dataclass

from django.http import HttpResponse

from crm.models import User

from . import selectors
from .selectors import DashboardFilters, ResponseFigures


@dataclass(frozen=True)
class Export:
    header: list[str]
    rows: list[list[object]]


# A spreadsheet runs a cell that starts with one of these as a formula; campaign
# names and landing pages come from the public, so they must not (CWE-1236).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: object) -> object:
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_response(export: Export, *, filename: str) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.writer(response)
    writer.writerow(export.header)
    writer.writerows([csv_safe(cell) for cell in row] for row in export.rows)
    return response


def _share(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.0f}"


SPEED_COLUMNS = [
    "Leads",
    "Responded",
    "Waiting",
    "Median seconds",
    "P90 seconds",
    "Within 5 minutes",
    "Share within 5 minutes",
]


def _speed_cells(figures: ResponseFigures) -> list[object]:
    return [
        figures.leads,
        figures.responded,
        figures.waiting,
        _seconds(figures.median_seconds),
        _seconds(figures.p90_seconds),
        figures.within_target,
        _share(figures.within_target_share),
    ]


def _scope(user: User, filters: DashboardFilters) -> selectors.Scope:
    return selectors.dashboard_scope(user=user, filters=filters)


def export_funnel(*, user: User, filters: DashboardFilters) -> Export:
    report = selectors.funnel(scope=_scope(user, filters), filters=filters)
    return Export(
        header=["Stage", "Leads", "Conversion from previous", "Share of inquiries"],
        rows=[
            [
                step.label,
                step.leads,
                _share(step.from_previous),
                _share(step.of_inquiries),
            ]
            for step in report.steps
        ],
    )


def export_lost_reasons(*, user: User, filters: DashboardFilters) -> Export:
    report = selectors.funnel(scope=_scope(user, filters), filters=filters)
    return Export(
        header=["Lost reason", "Leads"],
        rows=[[label, count] for _, label, count in report.lost_by_reason],
    )


def export_speed_by_counselor(*, user: User, filters: DashboardFilters) -> Export:
    report = selectors.speed_to_lead_report(
        scope=_scope(user, filters), filters=filters
    )
    return Export(
        header=["Counselor", *SPEED_COLUMNS],
        rows=[[row.name, *_speed_cells(row.figures)] for row in report.by_counselor],
    )


def export_speed_by_hour(*, user: User, filters: DashboardFilters) -> Export:
    report = selectors.speed_to_lead_report(
        scope=_scope(user, filters), filters=filters
    )
    return Export(
        header=["Hour created", *SPEED_COLUMNS],
        rows=[[row.label, *_speed_cells(row.figures)] for row in report.by_hour],
    )


def _minutes(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds / 60:.1f}"


def export_vob_turnaround(*, user: User, filters: DashboardFilters) -> Export:
    report = selectors.vob_report(scope=_scope(user, filters), filters=filters)
    target = report.target_minutes
    rows = [(row.label, row.figures) for row in report.by_outcome]
    rows.append(("All requested", report.overall))
    return Export(
        header=[
            "Outcome",
            "Requested",
            "Completed",
            "Waiting",
            "Median minutes",
            "P90 minutes",
            f"Within {target} minutes",
            f"Share within {target} minutes",
        ],
        rows=[
            [
                label,
                figures.requested,
                figures.completed,
                figures.waiting,
                _minutes(figures.median_seconds),
                _minutes(figures.p90_seconds),
                figures.within_target,
                _share(figures.within_target_share),
            ]
            for label, figures in rows
        ],
    )


def export_vob_turnaround_times(*, user: User, filters: DashboardFilters) -> Export:
    report = selectors.vob_report(scope=_scope(user, filters), filters=filters)
    return Export(
        header=["Turnaround", "Completed VOBs", "Within target"],
        rows=[
            [band.label, band.vobs, "yes" if band.within_target else "no"]
            for band in report.bands
        ],
    )


def export_vob_conversion(*, user: User, filters: DashboardFilters) -> Export:
    conversion = selectors.vob_report(
        scope=_scope(user, filters), filters=filters
    ).conversion
    return Export(
        header=["Leads", "Count", "Rate", "Rate of"],
        rows=[
            ["Created in the range", conversion.leads, "", ""],
            [
                "With a VOB requested",
                conversion.leads_with_vob,
                _share(conversion.lead_to_vob),
                "lead to VOB",
            ],
            ["With benefits verified", conversion.verified, "", ""],
            [
                "Verified, then admitted",
                conversion.admitted,
                _share(conversion.vob_to_admit),
                "VOB to admission",
            ],
            [
                "Verified, admission scheduled",
                conversion.scheduled,
                _share(conversion.scheduled_share),
                "VOB to admission scheduled",
            ],
        ],
    )


def export_leaderboard(*, user: User, filters: DashboardFilters) -> Export:
    rows = selectors.leaderboard(scope=_scope(user, filters), filters=filters)
    return Export(
        header=[
            "Counselor",
            "Leads handled",
            "Calls",
            "Talk seconds",
            "Contacts",
            "VOBs",
            "Admissions",
        ],
        rows=[
            [
                row.name,
                row.leads_handled,
                row.calls,
                row.talk_seconds,
                row.contacts,
                row.vobs,
                row.admissions,
            ]
            for row in rows
        ],
    )


def _attribution_export(key: str) -> Callable[..., Export]:
    def export(*, user: User, filters: DashboardFilters) -> Export:
        table = selectors.attribution(
            scope=_scope(user, filters), filters=filters, key=key
        )
        return Export(
            header=[table.dimension, "Leads", "Admissions", "Conversion"],
            rows=[
                [row.label, row.leads, row.admissions, _share(row.conversion)]
                for row in table.rows
            ],
        )

    return export


EXPORTS: dict[str, Callable[..., Export]] = {
    "funnel": export_funnel,
    "lost-reasons": export_lost_reasons,
    "speed-by-counselor": export_speed_by_counselor,
    "speed-by-hour": export_speed_by_hour,
    "vob-turnaround": export_vob_turnaround,
    "vob-turnaround-times": export_vob_turnaround_times,
    "vob-conversion": export_vob_conversion,
    "leaderboard": export_leaderboard,
    **{key: _attribution_export(key) for key in selectors.ATTRIBUTION_DIMENSIONS},
}
