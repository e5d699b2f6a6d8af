"""Fill schedules: parsing windows, time zones and rates; open intervals across DST; ETAs."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from control_plane.errors import InvalidRequest
from control_plane.schedules import (
    FillSchedule,
    fill_eta,
    is_open,
    open_intervals,
    parse_rate,
    parse_schedule,
    parse_tz,
    parse_window,
)

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
_UTC = zoneinfo.ZoneInfo("UTC")


def at(year: int, month: int, day: int, hour: int, minute: int = 0, tz: zoneinfo.ZoneInfo = PARIS) -> float:
    return dt.datetime(year, month, day, hour, minute, tzinfo=tz).timestamp()


@pytest.mark.parametrize(("text", "bits"), [
    ("500Mbps", 500_000_000),
    ("1Gbps", 1_000_000_000),
    ("200Mbit", 200_000_000),
    ("1.5 Gbit/s", 1_500_000_000),
    ("800kbps", 800_000),
    ("50MB/s", 400_000_000),
    ("10MBps", 80_000_000),
    ("100 mbps", 100_000_000),
    ("1000000", 1_000_000),
    (250_000, 250_000),
])
def test_rates(text: str | int, bits: int) -> None:
    assert parse_rate(text) == bits


@pytest.mark.parametrize("text", ["", "fast", "500 Mibps", "-5Mbps", "0", "1e3", "20Pbps", None, True])
def test_bad_rates_name_the_field(text: object) -> None:
    with pytest.raises(InvalidRequest, match=r"^rate "):
        parse_rate(text)


@pytest.mark.parametrize(("text", "window"), [
    ("02:00-06:00", ("02:00", "06:00")),
    (" 22:30 - 04:15 ", ("22:30", "04:15")),
    ("18:00-24:00", ("18:00", "24:00")),
])
def test_windows(text: str, window: tuple[str, str]) -> None:
    assert parse_window(text) == window


@pytest.mark.parametrize("text", ["2-6", "02:00", "25:00-06:00", "02:60-03:00", "03:00-03:00",
                                  "00:00-24:00", "24:00-02:00", "02:00-24:30", 200, None])
def test_bad_windows_name_the_field(text: object) -> None:
    with pytest.raises(InvalidRequest, match=r"^window "):
        parse_window(text)


def test_time_zones() -> None:
    assert parse_tz("Europe/Paris") == "Europe/Paris"
    assert parse_tz("UTC") == "UTC"
    for bad in ("Mars/Olympus", "", "../../etc/passwd", None, "Europe/"):
        with pytest.raises(InvalidRequest, match=r"^tz "):
            parse_tz(bad)


def test_parse_schedule_keeps_a_pending_run_now_and_names_bad_fields() -> None:
    previous = FillSchedule("ams", run_now_until=1234)
    s = parse_schedule("ams", {"window": "02:00-06:00", "tz": "Europe/Paris", "rate": "500Mbps"}, previous)
    assert s == FillSchedule("ams", "02:00", "06:00", "Europe/Paris", 500_000_000, 1234)
    cases: list[tuple[dict[str, object], str]] = [
        ({"tz": "UTC", "rate": "1Gbps"}, "window is missing"),
        ({"window": "2am", "tz": "UTC", "rate": "1Gbps"}, "window"),
        ({"window": "02:00-06:00", "rate": "1Gbps"}, "tz is missing"),
        ({"window": "02:00-06:00", "tz": "Nowhere/Else", "rate": "1Gbps"}, "tz"),
        ({"window": "02:00-06:00", "tz": "UTC"}, "rate is missing"),
        ({"window": "02:00-06:00", "tz": "UTC", "rate": "quick"}, "rate"),
        ({"window": "02:00-06:00", "tz": "UTC", "rate": "1Gbps", "speed": 1}, "speed: unknown field"),
    ]
    for body, message in cases:
        with pytest.raises(InvalidRequest, match=f"^{message}"):
            parse_schedule("ams", body, None)


def test_window_in_local_time_follows_daylight_saving() -> None:
    s = FillSchedule("ams", "02:00", "06:00", "Europe/Paris", 8)
    winter = list(open_intervals(s, at(2026, 1, 10, 12), 86400))
    assert winter == [(at(2026, 1, 11, 2), at(2026, 1, 11, 6))]
    assert winter[0][1] - winter[0][0] == 4 * 3600
    # 29 March 2026: clocks jump from 02:00 to 03:00, so that night's window is 3 hours long.
    spring = list(open_intervals(s, at(2026, 3, 28, 12), 86400))
    assert [b - a for a, b in spring] == [3 * 3600]
    summer = list(open_intervals(s, at(2026, 7, 1, 3), 86400))
    assert summer[0] == (at(2026, 7, 1, 3), at(2026, 7, 1, 6))  # already open: from now


def test_windows_across_midnight_and_run_now_merge() -> None:
    s = FillSchedule("ams", "22:00", "02:00", "UTC", 8, run_now_until=int(at(2026, 5, 1, 23, tz=_UTC)))
    now = at(2026, 5, 1, 20, tz=_UTC)
    spans = list(open_intervals(s, now, 2 * 86400))
    assert spans == [
        (now, at(2026, 5, 2, 2, tz=_UTC)),  # run-now until 23:00 merges into the 22:00-02:00 window
        (at(2026, 5, 2, 22, tz=_UTC), at(2026, 5, 3, 2, tz=_UTC)),
    ]
    assert is_open(s, now)
    assert not is_open(FillSchedule("ams", "22:00", "02:00", "UTC", 8), now)
    assert is_open(FillSchedule("ams"), now)  # no window: always


def test_eta_counts_only_open_time() -> None:
    rate = 8_000_000  # 1 MB/s
    s = FillSchedule("ams", "02:00", "06:00", "UTC", rate)
    now = at(2026, 5, 1, 12, tz=_UTC)
    # 3 hours of fill fit into the next window.
    assert fill_eta(s, 3 * 3600 * 10**6, now) == at(2026, 5, 2, 5, tz=_UTC)
    # 6 hours need two nights.
    assert fill_eta(s, 6 * 3600 * 10**6, now) == at(2026, 5, 3, 4, tz=_UTC)
    assert fill_eta(s, 0, now) == now
    assert fill_eta(FillSchedule("ams"), 10, now) is None  # no rate: unknown
    assert fill_eta(FillSchedule("ams", rate_bits_per_second=rate), 10**6, now) == now + 1
    assert s.window().rate_bits_per_second == rate

