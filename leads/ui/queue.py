"""The counselor's queue pages: my queue, the team queue, and taking a lead.

Both pages poll a fragment every few seconds. The page hands the fragment a signed
note of what it shows (a digest of the rows, the lead ids, the rows worth a cue),
so that a poll can answer 204 when nothing changed, point out what is new, and
audit only leads the person had not been shown yet.
"""

import json
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from crm.services import audit_record_many

from ..models import OPEN_STAGES, Lead, LevelOfCare, Stage, Urgency
from ..queue import (
    PRIORITY_FILTERS,
    Queue,
    QueueFilters,
    TeamQueue,
    iso,
    queue_for,
    team_queue_for,
)
from ..selectors import lead_get_for
from ..services.routing import LeadAlreadyTaken, lead_take

STATE_SALT = "leads.ui.queue.state"
# A page left open over a weekend starts afresh instead of trusting an old note.
STATE_MAX_AGE_SECONDS = 12 * 60 * 60
# Columns of the team queue table, for the row a "Take" answer swaps in.
TEAM_COLUMNS = 8
# My queue's rows, re-rendered on every change for every counselor: a Jinja2
# template (settings.TEMPLATES says why).
SECTIONS_TEMPLATE = "leads/_queue_sections.jinja.html"


@dataclass(frozen=True)
class PageState:
    """What the page in the browser shows, as the last answer described it."""

    version: str
    lead_ids: frozenset[int]
    cue_keys: frozenset[str]


def _state_dump(request: HttpRequest, page: Queue | TeamQueue) -> str:
    return signing.dumps(
        {
            "u": request.user.pk,
            "v": page.version,
            "l": page.lead_ids,
            "k": sorted(page.cue_keys),
        },
        salt=STATE_SALT,
        compress=True,
    )


def _state_load(token: str, *, user_id: int) -> PageState | None:
    # Signed, so a crafted note cannot claim leads were already shown (and so
    # skip their audit row); bound to the user who got it.
    try:
        data = signing.loads(token, salt=STATE_SALT, max_age=STATE_MAX_AGE_SECONDS)
    except signing.BadSignature:
        return None
    if not isinstance(data, dict) or data.get("u") != user_id:
        return None
    return PageState(
        version=str(data.get("v", "")),
        lead_ids=frozenset(int(pk) for pk in data.get("l", [])),
        cue_keys=frozenset(str(key) for key in data.get("k", [])),
    )


def _filter_choices() -> dict:
    return {
        "stage_choices": [(stage, Stage(stage).label) for stage in OPEN_STAGES],
        "level_of_care_choices": LevelOfCare.choices,
        "priority_choices": list(PRIORITY_FILTERS.items()),
        "urgency_choices": Urgency.choices,
    }


def _clock(now: datetime) -> dict:
    # The server's time goes with every render: countdowns tick in the browser,
    # corrected for a browser clock that is off.
    return {"now_iso": iso(now)}


def _fresh(new_keys: set[str]) -> dict[str, set[int]]:
    """New row keys ("n12", "c7") by section letter, for the template to mark."""
    fresh: dict[str, set[int]] = {"n": set(), "r": set(), "c": set(), "t": set()}
    for key in new_keys:
        fresh.setdefault(key[0], set()).add(int(key[1:]))
    return fresh


def _page_address(name: str, filters: QueueFilters) -> str:
    query = urlencode(filters.as_params())
    return reverse(name) + (f"?{query}" if query else "")


def _live_answer(
    request: HttpRequest, page: Queue | TeamQueue
) -> tuple[PageState | None, bool]:
    """Read the poll's note; say whether this is a poll whose page is current."""
    state = None
    if request.GET.get("poll") == "1":
        state = _state_load(request.GET.get("state", ""), user_id=request.user.pk)
    return state, state is not None and state.version == page.version


def _audit_listed(
    request: HttpRequest, lead_ids: list[int], state: PageState | None
) -> None:
    # Every lead put in front of the person is audited once per page: the page
    # load lists them all, and a poll only the leads that page had not shown
    # yet. A poll re-sending rows already on screen discloses nothing new, and
    # auditing each one every 3 seconds would bury the trail in copies.
    shown_before = state.lead_ids if state is not None else frozenset()
    new_ids = [pk for pk in lead_ids if pk not in shown_before]
    audit_record_many(
        actor=request.user, action="list", object_type="lead", object_ids=new_ids
    )


def _render_live(
    request: HttpRequest,
    *,
    template: str,
    page: Queue | TeamQueue,
    context: dict,
    state: PageState | None,
    address_name: str,
    now: datetime,
    engine: str | None = None,
) -> HttpResponse:
    """Render a fragment; mark rows new since the page's note and cue them."""
    cue_keys = page.cue_keys
    new_keys = set()
    if state is not None:
        new_keys = set(cue_keys) - state.cue_keys
    _audit_listed(request, page.lead_ids, state)
    response = render(
        request,
        template,
        {
            **context,
            **_clock(now),
            "fresh": _fresh(new_keys),
            "state": _state_dump(request, page),
            "oob": True,
        },
        using=engine,
    )
    if new_keys:
        texts = [cue_keys[key] for key in sorted(new_keys)]
        # Never PHI in the tab title: app.js only puts a dot there; the name is
        # in the toast, on the counselor's own screen.
        text = texts[0] if len(texts) == 1 else f"{len(texts)} new items in your queue"
        response["HX-Trigger"] = json.dumps({"crm:cue": text})
    if state is None:
        # A filter change: keep the filters in the address for reloads and links.
        response["HX-Replace-Url"] = _page_address(address_name, page.filters)
    return response


# --- My queue ------------------------------------------------------------------------


@never_cache
@login_required
@require_GET
def queue(request: HttpRequest) -> HttpResponse:
    """My queue: call now, new leads, replies waiting, then my leads by stage."""
    if request.user.role == request.user.Role.VERIFIER:
        # A verifier's work is the VOB queue; they own no leads to call.
        return redirect("vob-queue")
    filters = QueueFilters.from_params(request.GET)
    now = timezone.now()
    page = queue_for(user=request.user, filters=filters, now=now)
    _audit_listed(request, page.lead_ids, None)
    sections = {
        "queue": page,
        "filters": filters,
        **_clock(now),
        "fresh": _fresh(set()),
        "state": _state_dump(request, page),
        "oob": False,
    }
    return render(
        request,
        "leads/queue.html",
        {
            **sections,
            "section": "queue",
            "sections_html": _sections_html(request, sections),
            **_filter_choices(),
        },
    )


def _sections_html(request: HttpRequest, context: dict) -> SafeString:
    # Jinja2 escaped every value it wrote; the page template must not escape
    # the result again.
    return mark_safe(  # noqa: S308
        render_to_string(SECTIONS_TEMPLATE, context, request, using="jinja2")
    )


@never_cache
@login_required
@require_GET
def queue_sections(request: HttpRequest) -> HttpResponse:
    """The sections of my queue, for the page's poll and its filters."""
    filters = QueueFilters.from_params(request.GET)
    now = timezone.now()
    page = queue_for(user=request.user, filters=filters, now=now)
    state, unchanged = _live_answer(request, page)
    if unchanged:
        return HttpResponse(status=204)
    return _render_live(
        request,
        template=SECTIONS_TEMPLATE,
        page=page,
        context={"queue": page, "filters": filters},
        state=state,
        address_name="queue",
        now=now,
        engine="jinja2",
    )


# --- Team queue ----------------------------------------------------------------------


def _team_page(
    request: HttpRequest, *, status: int = 200, filters: QueueFilters | None = None
) -> HttpResponse:
    filters = filters or QueueFilters.from_params(request.GET)
    now = timezone.now()
    page = team_queue_for(user=request.user, filters=filters, now=now)
    _audit_listed(request, page.lead_ids, None)
    return render(
        request,
        "leads/team_queue.html",
        {
            "section": "team",
            "team_queue": page,
            "filters": filters,
            **_clock(now),
            "fresh": _fresh(set()),
            "team_columns": TEAM_COLUMNS,
            "state": _state_dump(request, page),
            **_filter_choices(),
        },
        status=status,
    )


@never_cache
@login_required
@require_GET
def team_queue(request: HttpRequest) -> HttpResponse:
    """Unassigned open leads of my teams, oldest first, each with "Take"."""
    return _team_page(request)


@never_cache
@login_required
@require_GET
def team_queue_rows(request: HttpRequest) -> HttpResponse:
    """The team queue's table, for the page's poll and its filters."""
    filters = QueueFilters.from_params(request.GET)
    now = timezone.now()
    page = team_queue_for(user=request.user, filters=filters, now=now)
    state, unchanged = _live_answer(request, page)
    if unchanged:
        return HttpResponse(status=204)
    return _render_live(
        request,
        template="leads/_queue_team_rows.html",
        page=page,
        context={
            "team_queue": page,
            "filters": filters,
            "team_columns": TEAM_COLUMNS,
        },
        state=state,
        address_name="team-queue",
        now=now,
    )


@login_required
@require_POST
def lead_take_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Take an unowned lead of my team; the slower of two clicks gets 409."""
    lead = lead_get_for(user=request.user, lead_id=pk)  # 404 outside my teams
    htmx = bool(request.headers.get("HX-Request"))
    try:
        lead = lead_take(lead=lead, by=request.user)
    except LeadAlreadyTaken as exc:
        return _take_refused(request, lead=lead, text=str(exc), gone=True, htmx=htmx)
    except ValidationError as exc:
        # Not a member of the lead's team, or the lead closed meanwhile.
        text = " ".join(
            message for messages_ in exc.message_dict.values() for message in messages_
        )
        return _take_refused(
            request, lead=lead, text=text, gone=not lead.is_open, htmx=htmx
        )
    if not htmx:
        messages.success(request, f"{lead.display_name} is yours now.")
        return redirect("lead-detail", pk=lead.pk)
    response = render(
        request,
        "leads/_queue_take_result.html",
        {"lead": lead, "taken": True, "team_columns": TEAM_COLUMNS},
    )
    response["HX-Trigger"] = json.dumps(
        {"crm:toast": f"Lead #{lead.pk} is yours: it is in My queue now."}
    )
    return response


def _take_refused(
    request: HttpRequest, *, lead: Lead, text: str, gone: bool, htmx: bool
) -> HttpResponse:
    if not htmx:
        messages.error(request, text)
        return _team_page(request, status=409, filters=QueueFilters())
    # The row is replaced by the reason; the next poll shows the queue as it is
    # (without the lead, when someone else has it now).
    response = render(
        request,
        "leads/_queue_take_result.html",
        {
            "lead": lead,
            "taken": False,
            "gone": gone,
            "text": text,
            "team_columns": TEAM_COLUMNS,
        },
        status=409,
    )
    response["HX-Trigger"] = json.dumps({"crm:toast": text})
    return response
