"""TCPA quiet hours: when a message may reach a recipient, in their local time.

Nothing goes out outside 08:00-21:00 recipient local time; some states are
stricter (`STATE_WINDOWS`). When we do not know the state, the strictest window
applies, and when we do not know the time zone either, the message must fall
inside the window in every US zone the recipient could be in.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as phone_time_zones

from leads.geo import STATE_TIME_ZONES, time_zone_for_state

SUNDAY = 6
# Beyond this, zones far apart are taken to have no common sending time at all.
SEARCH_HORIZON = timedelta(days=7)


@dataclass(frozen=True)
class Window:
    """Allowed sending hours in local time; `end` is exclusive."""

    start: time
    end: time
    sunday_start: time | None = None

    def __post_init__(self) -> None:
        # An empty window would make `next_allowed` search forever.
        if not self.start < self.end:
            raise ValueError(f"window start {self.start} must be before {self.end}")
        if self.sunday_start is not None and not self.sunday_start < self.end:
            raise ValueError(
                f"window sunday_start {self.sunday_start} must be before {self.end}"
            )

    def start_on(self, day: date) -> time:
        """Return the time sending may begin on `day`."""
        if day.weekday() == SUNDAY and self.sunday_start is not None:
            return self.sunday_start
        return self.start

    def contains(self, local: datetime) -> bool:
        """Tell whether the wall-clock time of `local` is inside the window."""
        return self.start_on(local.date()) <= local.time() < self.end


DEFAULT_WINDOW = Window(time(8), time(21))

STATE_WINDOWS: dict[str, Window] = {
    # Florida Telephone Solicitation Act, Fla. Stat. 501.059(8)(b) (2021).
    "FL": Window(time(8), time(20)),
    # Oklahoma Telephone Solicitation Act of 2022, 15 O.S. 775C.4.
    "OK": Window(time(8), time(20)),
    # Maryland Stop the Spam Calls Act of 2023, Md. Com. Law 14-4503.
    "MD": Window(time(8), time(20)),
    # RCW 80.36.390 (Washington).
    "WA": Window(time(8), time(20)),
    # Tex. Bus. & Com. Code 301.051: 09:00-21:00, Sundays from noon.
    "TX": Window(time(9), time(21), sunday_start=time(12)),
}


def _strictest(windows: Iterable[Window]) -> Window:
    windows = list(windows)
    start = max(window.start for window in windows)
    end = min(window.end for window in windows)
    sunday_start = max(window.sunday_start or window.start for window in windows)
    return Window(start, end, sunday_start if sunday_start > start else None)


STRICTEST_WINDOW = _strictest([DEFAULT_WINDOW, *STATE_WINDOWS.values()])

# Every zone a lead in a US state may keep, for a recipient we cannot place.
ALL_US_ZONES: list[ZoneInfo] = [
    ZoneInfo(name) for name in dict.fromkeys(STATE_TIME_ZONES.values())
]


@dataclass(frozen=True)
class Recipient:
    """Where the recipient is, as far as we know."""

    state: str = ""
    time_zone: str = ""
    phone: str = ""


def recipient_zones_and_window(recipient: Recipient) -> tuple[list[ZoneInfo], Window]:
    """Return the zones the recipient may be in and the window that applies."""
    state = recipient.state.strip().upper()
    known_state = state in STATE_TIME_ZONES
    # An area code or a time zone is not a location: only a known state picks a
    # state's rule, otherwise every state's rule may apply.
    window = (
        STATE_WINDOWS.get(state, DEFAULT_WINDOW) if known_state else STRICTEST_WINDOW
    )
    zones = (
        _zones_from_names([recipient.time_zone.strip()])
        or _zones_from_names([time_zone_for_state(state)] if known_state else [])
        or _zones_from_names(_phone_time_zone_names(recipient.phone))
        or ALL_US_ZONES
    )
    return list(zones), window


def is_allowed(recipient: Recipient, at: datetime) -> bool:
    """Tell whether `at` is inside the window in every zone the recipient may be in."""
    zones, window = recipient_zones_and_window(recipient)
    return _allowed_in(zones, window, _aware(at))


def next_allowed(recipient: Recipient, at: datetime) -> datetime:
    """Return `at` if allowed, else the earliest allowed whole minute after it, in UTC.

    When the recipient's zones have no common sending time within
    `SEARCH_HORIZON`, only the first zone is respected.
    """
    zones, window = recipient_zones_and_window(recipient)
    at = _aware(at)
    if _allowed_in(zones, window, at):
        return at
    found = _first_allowed_after(zones, window, at)
    if found is None:
        found = _first_allowed_after(zones[:1], window, at)
    if found is None:
        # Unreachable: a valid window opens in any single zone every day.
        raise RuntimeError(f"no sending time found for {recipient!r} after {at}")
    return found


def local_times(recipient: Recipient, at: datetime) -> list[datetime]:
    """Return `at` as it reads in each zone the recipient may be in."""
    zones, _window = recipient_zones_and_window(recipient)
    return [_aware(at).astimezone(zone) for zone in zones]


def _first_allowed_after(
    zones: Sequence[ZoneInfo], window: Window, at: datetime
) -> datetime | None:
    # The set of allowed instants only ever begins where some zone's window opens,
    # so checking each opening is exact and costs a few dozen checks, not a scan
    # of every minute.
    at_utc = at.astimezone(UTC)
    horizon = at_utc + SEARCH_HORIZON
    candidates: set[datetime] = set()
    for zone in zones:
        first_day = at_utc.astimezone(zone).date()
        for offset in range(SEARCH_HORIZON.days + 2):
            day = first_day + timedelta(days=offset)
            # US zones never change offset between 08:00 and 21:00; a start that
            # fell into a DST gap would resolve to the later side, which is safe.
            opening = datetime.combine(day, window.start_on(day), tzinfo=zone)
            candidate = _ceil_minute(opening.astimezone(UTC))
            if at_utc < candidate <= horizon:
                candidates.add(candidate)
    for candidate in sorted(candidates):
        if _allowed_in(zones, window, candidate):
            return candidate
    return None


def _allowed_in(zones: Sequence[ZoneInfo], window: Window, at: datetime) -> bool:
    return all(window.contains(at.astimezone(zone)) for zone in zones)


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"quiet hours need an aware datetime, got {at!r}")
    return at


def _ceil_minute(at: datetime) -> datetime:
    whole = at.replace(second=0, microsecond=0)
    return whole if whole == at else whole + timedelta(minutes=1)


def _zones_from_names(names: Iterable[str]) -> list[ZoneInfo]:
    zones: list[ZoneInfo] = []
    for name in dict.fromkeys(names):
        if not name:
            continue
        try:
            zones.append(ZoneInfo(name))
        except (ZoneInfoNotFoundError, ValueError):
            # A stray value on the lead must not stop the check: the next,
            # wider source of zones takes over.
            continue
    return zones


def _phone_time_zone_names(phone: str) -> list[str]:
    if not phone.strip():
        return []
    try:
        number = phonenumbers.parse(phone, "US")
    except phonenumbers.NumberParseException:
        return []
    # Toll-free and other non-geographic numbers map to every zone of the
    # country plan (Guam to Newfoundland), which says nothing about the recipient.
    if not phonenumbers.is_number_geographical(number):
        return []
    return [
        name
        for name in phone_time_zones.time_zones_for_number(number)
        if name != phone_time_zones.UNKNOWN_TIMEZONE
    ]
