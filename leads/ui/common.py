"""What every lead page and card view shares: the lead, masked ids, card answers."""

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string

from .. import selectors
from ..models import Lead

# Ids past a bigint are no lead; answered 404 before the database sees them.
LARGEST_ID = 2**63 - 1


def is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def lead_for(request: HttpRequest, pk: int) -> Lead:
    """The lead if the user may see it; 404 otherwise, never a hint it exists."""
    if pk > LARGEST_ID:
        raise Http404("No such lead.")
    return selectors.lead_get_for(user=request.user, lead_id=pk)


def masked(value: object) -> str:
    """All but the last four characters hidden; short values wholly."""
    text = str(value or "").strip()
    if not text:
        return ""
    return "•••• " + text[-4:] if len(text) > 4 else "••••"


def card_response(
    request: HttpRequest,
    *,
    card_template: str,
    page_template: str,
    context: dict[str, Any],
    status: int = 200,
) -> HttpResponse:
    """A lead page card alone for htmx; without JavaScript, on a page of its own."""
    if is_htmx(request):
        html = render_to_string(card_template, context, request=request)
        return HttpResponse(html, status=status)
    return render(request, page_template, context, status=status)
