"""The supervisor dashboard pages: the whole board, its live tiles, CSV exports."""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from crm.services import audit_record

from .exports import EXPORTS, csv_response
from .forms import DashboardFilterForm
from .selectors import center_zone, dashboard_for, dashboard_scope, live_tiles


def supervisors_only(view):
    """Signed-in supervisors and admins; a counselor gets 403."""

    @login_required
    @wraps(view)
    def guarded(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_supervisor:
            raise PermissionDenied("The dashboard is for supervisors.")
        return view(request, *args, **kwargs)

    return guarded


@require_GET
@supervisors_only
def dashboard(request: HttpRequest) -> HttpResponse:
    form = DashboardFilterForm(request.GET, user=request.user)
    context = {"section": "dashboard", "form": form, "zone": center_zone()}
    if not form.is_valid():
        return render(request, "crm/dashboard.html", context, status=400)
    filters = form.filters()
    board = dashboard_for(user=request.user, filters=filters)
    context.update(
        board=board,
        charts=board.charts(),
        query=_filter_query(request),
        tiles=board.tiles,
    )
    return render(request, "crm/dashboard.html", context)


@require_GET
@supervisors_only
def dashboard_tiles(request: HttpRequest) -> HttpResponse:
    """The live tiles alone, polled by the page."""
    form = DashboardFilterForm(request.GET, user=request.user)
    if not form.is_valid():
        return render(request, "crm/_dashboard_errors.html", {"form": form}, status=400)
    scope = dashboard_scope(user=request.user, filters=form.filters())
    return render(
        request, "crm/_dashboard_tiles.html", {"tiles": live_tiles(scope=scope)}
    )


@require_GET
@supervisors_only
def dashboard_export(request: HttpRequest, table: str) -> HttpResponse:
    """One table of the dashboard as CSV, for the same filters; audited."""
    if table not in EXPORTS:
        raise Http404("No such table.")
    form = DashboardFilterForm(request.GET, user=request.user)
    if not form.is_valid():
        context = {"section": "dashboard", "form": form, "zone": center_zone()}
        return render(request, "crm/dashboard.html", context, status=400)
    filters = form.filters()
    export = EXPORTS[table](user=request.user, filters=filters)
    audit_record(
        actor=request.user,
        action="export",
        object_type="report",
        object_id=table,
        detail=filters.describe(),
    )
    return csv_response(export, filename=f"{table}-{filters.since}-{filters.until}.csv")


def _filter_query(request: HttpRequest) -> str:
    """The filters as typed, to carry over to the tiles poll and export links."""
    keep = ("since", "until", "team", "source", "campaign", "level_of_care")
    query = request.GET.copy()
    for name in list(query):
        if name not in keep:
            del query[name]
    return query.urlencode()
