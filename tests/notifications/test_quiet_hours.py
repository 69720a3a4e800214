"""Quiet hours: when a text may reach a lead, in the lead's own local time."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from leads.geo import STATE_TIME_ZONES
from notifications import quiet_hours
from notifications.quiet_hours import (
    DEFAULT_WINDOW,
    STATE_WINDOWS,
    STRICTEST_WINDOW,
    Recipient,
    Window,
    is_allowed,
    local_times,
    next_allowed,
    recipient_zones_and_window,
)

NEW_YORK = ZoneInfo("America/New_York")
CHICAGO = ZoneInfo("America/Chicago")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")
# 2025-06-08 is a Sunday; the 10th a Tuesday.
TUESDAY_0830_NY = datetime(2025, 6, 10, 8, 30, tzinfo=NEW_YORK)
ALL_US_ZONE_NAMES = list(dict.fromkeys(STATE_TIME_ZONES.values()))


def zone_names(recipient: Recipient) -> list[str]:
    zones, _window = recipient_zones_and_window(recipient)
    return [zone.key for zone in zones]


def first_allowed_minute_by_brute_force(recipient: Recipient, at: datetime) -> datetime:
    minute = at.astimezone(UTC).replace(second=0, microsecond=0)
    if minute < at:
        minute += timedelta(minutes=1)
    while not is_allowed(recipient, minute):
        minute += timedelta(minutes=1)
    return minute


def assert_inside_the_window_everywhere(at: datetime, window: Window) -> None:
    for name in ALL_US_ZONE_NAMES:
        local = at.astimezone(ZoneInfo(name))
        opens = window.sunday_start if local.weekday() == 6 else window.start
        assert opens <= local.time() < window.end, f"{local:%a %H:%M} in {name}"


# --- The windows -------------------------------------------------------------------


def test_strictest_window_takes_the_latest_start_earliest_end_and_latest_sunday():
    # Given the default and every state's own window
    windows = [DEFAULT_WINDOW, *STATE_WINDOWS.values()]

    # Then the strictest one is the narrowest of them all (TX start, FL end, TX Sunday)
    assert max(w.start for w in windows) == STRICTEST_WINDOW.start == time(9)
    assert min(w.end for w in windows) == STRICTEST_WINDOW.end == time(20)
    assert STRICTEST_WINDOW.sunday_start == time(12)


def test_a_window_that_never_opens_is_refused():
    with pytest.raises(ValueError, match="must be before"):
        Window(time(21), time(8))
    with pytest.raises(ValueError, match="must be before"):
        Window(time(8), time(21), sunday_start=time(21))


# --- Time zone and rule of the recipient -------------------------------------------


def test_new_york_lead_at_0830_eastern_is_allowed():
    # Given a New York lead, when it is 08:30 in New York, then we may text
    assert is_allowed(Recipient(state="NY"), TUESDAY_0830_NY)


def test_california_lead_at_0530_pacific_waits_for_0800_pacific():
    # Given a California lead, when it is 08:30 in New York (05:30 Pacific)
    lead = Recipient(state="CA")

    # Then we may not text, and may from 08:00 Pacific (11:00 New York)
    assert not is_allowed(lead, TUESDAY_0830_NY)
    opens = next_allowed(lead, TUESDAY_0830_NY)
    assert opens == datetime(2025, 6, 10, 8, 0, tzinfo=LOS_ANGELES)
    assert opens.astimezone(NEW_YORK).time() == time(11)
    assert opens.tzinfo is UTC


def test_lead_with_only_a_pacific_time_zone_is_blocked_at_0530_like_california():
    # Given a lead with a Pacific time zone but no state
    lead = Recipient(time_zone="America/Los_Angeles")

    # When it is 05:30 Pacific, then the lead is in the Pacific zone, like a
    # California lead, and may not be texted
    assert zone_names(lead) == zone_names(Recipient(state="CA"))
    assert local_times(lead, TUESDAY_0830_NY) == local_times(
        Recipient(state="CA"), TUESDAY_0830_NY
    )
    assert not is_allowed(lead, TUESDAY_0830_NY)
    # ...but with no state any state's rule may apply, so the strictest start
    # (Texas, 09:00) holds rather than California's 08:00
    assert next_allowed(lead, TUESDAY_0830_NY) == datetime(
        2025, 6, 10, 9, 0, tzinfo=LOS_ANGELES
    )


def test_lead_time_zone_wins_over_the_state_zone_but_the_state_rule_still_applies():
    # Given a Texas lead a counselor moved to Mountain time (El Paso)
    lead = Recipient(state="TX", time_zone="America/Denver")

    zones, window = recipient_zones_and_window(lead)

    assert [zone.key for zone in zones] == ["America/Denver"]
    assert window == STATE_WINDOWS["TX"]


@pytest.mark.parametrize("time_zone", ["Mars/Olympus_Mons", "../etc/passwd", " "])
def test_a_bad_time_zone_on_the_lead_falls_back_to_the_state(time_zone):
    lead = Recipient(state="ny", time_zone=time_zone)

    assert zone_names(lead) == ["America/New_York"]


def test_florida_lead_at_2030_eastern_waits_for_the_next_morning():
    # Given a Florida lead, when it is 20:30 Eastern on a Tuesday
    at = datetime(2025, 6, 10, 20, 30, tzinfo=NEW_YORK)
    lead = Recipient(state="FL")

    # Then Florida's window has closed at 20:00 and opens again at 08:00
    assert not is_allowed(lead, at)
    assert next_allowed(lead, at) == datetime(2025, 6, 11, 8, 0, tzinfo=NEW_YORK)


def test_georgia_lead_at_2030_eastern_is_allowed():
    assert is_allowed(
        Recipient(state="GA"), datetime(2025, 6, 10, 20, 30, tzinfo=NEW_YORK)
    )


def test_texas_lead_on_sunday_morning_waits_for_noon():
    # Given a Texas lead, when it is 10:00 Central on a Sunday
    at = datetime(2025, 6, 8, 10, 0, tzinfo=CHICAGO)
    lead = Recipient(state="TX")

    # Then we may not text before noon
    assert not is_allowed(lead, at)
    assert next_allowed(lead, at) == datetime(2025, 6, 8, 12, 0, tzinfo=CHICAGO)


def test_texas_lead_on_monday_morning_is_allowed():
    assert is_allowed(
        Recipient(state="TX"), datetime(2025, 6, 9, 10, 0, tzinfo=CHICAGO)
    )


def test_texas_lead_on_saturday_waits_for_0900():
    at = datetime(2025, 6, 7, 8, 30, tzinfo=CHICAGO)

    assert not is_allowed(Recipient(state="TX"), at)
    assert next_allowed(Recipient(state="TX"), at) == datetime(
        2025, 6, 7, 9, 0, tzinfo=CHICAGO
    )


# --- Unknown location ---------------------------------------------------------------


def test_no_state_but_a_san_francisco_number_means_pacific_and_the_strictest_rule():
    # Given no state or zone, but a 415 (San Francisco) number
    lead = Recipient(phone="+14155550123")

    zones, window = recipient_zones_and_window(lead)

    # Then the number gives the zone, but an area code is not a location
    assert [zone.key for zone in zones] == ["America/Los_Angeles"]
    assert window == STRICTEST_WINDOW


def test_a_toll_free_number_says_nothing_about_where_the_lead_is():
    assert zone_names(Recipient(phone="+18005550123")) == ALL_US_ZONE_NAMES


def test_an_unparseable_number_counts_as_unknown():
    assert zone_names(Recipient(phone="not a number")) == ALL_US_ZONE_NAMES


def test_unknown_state_uses_the_strictest_window_even_with_an_unknown_state_code():
    _zones, window = recipient_zones_and_window(Recipient(state="ON"))

    assert window == STRICTEST_WINDOW


def test_unknown_everything_means_every_us_zone_and_the_strictest_window():
    zones, window = recipient_zones_and_window(Recipient())

    assert [zone.key for zone in zones] == ALL_US_ZONE_NAMES
    assert window == STRICTEST_WINDOW


@pytest.mark.parametrize(
    "at",
    [
        datetime(2025, 6, 10, 8, 30, tzinfo=NEW_YORK),  # summer weekday morning
        datetime(2025, 6, 10, 23, 45, 17, tzinfo=NEW_YORK),  # late evening
        datetime(2025, 6, 7, 23, 0, tzinfo=NEW_YORK),  # Saturday night
        datetime(2025, 6, 8, 9, 0, tzinfo=NEW_YORK),  # Sunday morning
        datetime(2025, 1, 12, 13, 0, tzinfo=NEW_YORK),  # winter Sunday
        datetime(2025, 3, 9, 1, 30, tzinfo=NEW_YORK),  # spring-forward night
        datetime(2025, 11, 2, 1, 30, fold=1, tzinfo=NEW_YORK),  # fall-back night
    ],
)
def test_unknown_location_waits_until_it_is_allowed_in_every_us_zone(at):
    # Given a lead we cannot place at all
    lead = Recipient()

    # When we ask for the next time we may text
    opens = next_allowed(lead, at)

    # Then it is inside the strictest window from Hawaii to Puerto Rico, and it is
    # the first such minute
    assert is_allowed(lead, opens)
    assert_inside_the_window_everywhere(opens, STRICTEST_WINDOW)
    assert opens == first_allowed_minute_by_brute_force(lead, at)


def test_zones_with_no_common_hour_fall_back_to_the_first_zone(monkeypatch):
    # Given zones eight hours apart around the clock, with no hour in common
    zones = [ZoneInfo("UTC"), ZoneInfo("Asia/Shanghai"), ZoneInfo("Etc/GMT+8")]
    monkeypatch.setattr(
        quiet_hours,
        "recipient_zones_and_window",
        lambda recipient: (zones, DEFAULT_WINDOW),
    )
    at = datetime(2025, 6, 10, 22, 0, tzinfo=UTC)

    # Then only the first zone's window is kept
    assert next_allowed(Recipient(), at) == datetime(2025, 6, 11, 8, 0, tzinfo=UTC)


# --- Clocks ------------------------------------------------------------------------


def test_spring_forward_day_in_new_york_still_opens_at_0800_local():
    # Given 01:30 EST on the night clocks jump to EDT
    at = datetime(2025, 3, 9, 6, 30, tzinfo=UTC)

    opens = next_allowed(Recipient(state="NY"), at)

    assert opens.astimezone(NEW_YORK).time() == time(8)
    assert opens == datetime(2025, 3, 9, 12, 0, tzinfo=UTC)  # 08:00 EDT is UTC-4


def test_fall_back_day_in_new_york_still_opens_at_0800_local():
    at = datetime(2025, 11, 2, 5, 30, tzinfo=UTC)  # 01:30 EDT, before the repeat

    opens = next_allowed(Recipient(state="NY"), at)

    assert opens == datetime(2025, 11, 2, 13, 0, tzinfo=UTC)  # 08:00 EST is UTC-5


def test_window_end_is_exclusive():
    lead = Recipient(state="NY")

    assert not is_allowed(lead, datetime(2025, 6, 10, 21, 0, tzinfo=NEW_YORK))
    assert is_allowed(lead, datetime(2025, 6, 10, 20, 59, tzinfo=NEW_YORK))
    assert is_allowed(lead, datetime(2025, 6, 10, 20, 59, 59, 999999, tzinfo=NEW_YORK))


def test_window_start_is_inclusive():
    lead = Recipient(state="NY")

    assert is_allowed(lead, datetime(2025, 6, 10, 8, 0, tzinfo=NEW_YORK))
    assert not is_allowed(lead, datetime(2025, 6, 10, 7, 59, 59, tzinfo=NEW_YORK))


@pytest.mark.parametrize("state", ["NY", "CA", "FL", "TX", "HI", ""])
@pytest.mark.parametrize(
    "at",
    [
        datetime(2025, 6, 10, 3, 17, 42, 123456, tzinfo=UTC),
        datetime(2025, 6, 8, 14, 59, 59, tzinfo=UTC),
        datetime(2025, 12, 31, 23, 59, 30, tzinfo=UTC),
    ],
)
def test_next_allowed_is_a_whole_minute_no_earlier_than_asked(state, at):
    lead = Recipient(state=state)

    opens = next_allowed(lead, at)

    assert opens >= at
    assert is_allowed(lead, opens)
    if opens != at:
        assert (opens.second, opens.microsecond) == (0, 0)
        assert opens == first_allowed_minute_by_brute_force(lead, at)


def test_next_allowed_returns_the_moment_itself_when_already_allowed():
    at = datetime(2025, 6, 10, 12, 34, 56, 789, tzinfo=NEW_YORK)

    assert next_allowed(Recipient(state="NY"), at) is at


def test_local_times_show_the_moment_in_the_leads_zone():
    [local] = local_times(Recipient(state="CA"), TUESDAY_0830_NY)

    assert local.strftime("%H:%M %Z") == "05:30 PDT"


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="aware"):
        is_allowed(Recipient(state="NY"), datetime(2025, 6, 10, 12, 0))  # noqa: DTZ001
