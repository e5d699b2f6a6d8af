"""Fill domain: the window in its time zone (fake clock), fill order, the diff, the state file."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from appliance.catalog import FileInfo
from appliance.fill import (
    FillEntry,
    FillManifest,
    FillWindow,
    diff,
    load_state,
    save_state,
    seconds_until_open,
    title_chunks,
    window_open,
)
from streamfleet.addressing import ChunkKey, make_key, master_key, segment_name


def at(text: str) -> float:
    """Unix seconds of an ISO UTC timestamp such as "2025-01-15T01:30"."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp()


PARIS_NIGHT = FillWindow("02:00", "06:00", "Europe/Paris", 500_000_000)


def test_window_is_local_time_in_its_zone_and_follows_daylight_saving() -> None:
    # January: Paris is UTC+1, so 02:00-06:00 local is 01:00-05:00 UTC.
    assert not window_open(PARIS_NIGHT, at("2025-01-15T00:59"))
    assert window_open(PARIS_NIGHT, at("2025-01-15T01:00"))
    assert window_open(PARIS_NIGHT, at("2025-01-15T04:59"))
    assert not window_open(PARIS_NIGHT, at("2025-01-15T05:00"))
    # July: UTC+2, so the same window is 00:00-04:00 UTC.
    assert window_open(PARIS_NIGHT, at("2025-07-15T00:30"))
    assert not window_open(PARIS_NIGHT, at("2025-07-15T04:30"))
    assert window_open(PARIS_NIGHT, at("2025-01-15T04:30")), "04:30 UTC is 05:30 in Paris in winter"


def test_windows_wrap_past_midnight_and_may_end_at_24_00() -> None:
    late = FillWindow("22:00", "02:00", "UTC")
    evening = [window_open(late, at(f"2025-01-15T{t}")) for t in ("21:59", "22:00", "23:59")]
    morning = [window_open(late, at(f"2025-01-16T{t}")) for t in ("00:00", "01:59", "02:00")]
    assert evening == [False, True, True] and morning == [True, True, False]
    until_midnight = FillWindow("20:00", "24:00", "UTC")
    assert window_open(until_midnight, at("2025-01-15T23:59"))
    assert not window_open(until_midnight, at("2025-01-16T00:00"))


def test_no_window_means_any_time_and_run_now_overrides_a_closed_window() -> None:
    noon = at("2025-01-15T12:00")
    assert window_open(FillWindow(), noon)
    assert seconds_until_open(FillWindow(), noon) == 0.0
    assert not window_open(PARIS_NIGHT, noon)
    run_now = FillWindow("02:00", "06:00", "Europe/Paris", 0, run_now_until=int(noon) + 60)
    assert window_open(run_now, noon) and window_open(run_now, noon + 59)
    assert not window_open(run_now, noon + 60), "run-now has ended: the window rules again"


def test_seconds_until_open_lands_exactly_on_the_opening() -> None:
    # 13:00 in Paris (UTC+1): the window opens at 02:00 local tomorrow, 13 hours later.
    assert seconds_until_open(PARIS_NIGHT, at("2025-01-15T12:00")) == 13 * 3600
    # Every 17 minutes for three days across the spring-forward night (2025-03-30 in Paris),
    # and across one where the opening time itself does not exist locally.
    for window in (PARIS_NIGHT, FillWindow("02:30", "05:00", "Europe/Paris")):
        start = at("2025-03-28T00:00")
        for step in range(3 * 24 * 60 // 17):
            now = start + step * 17 * 60
            wait = seconds_until_open(window, now)
            assert window_open(window, now + wait), (window, now)
            if wait > 60:
                assert not window_open(window, now + wait - 60), (window, now)


def test_an_unknown_zone_falls_back_to_utc_and_malformed_windows_are_refused() -> None:
    unknown = FillWindow("02:00", "06:00", "Mars/Olympus_Mons")
    assert window_open(unknown, at("2025-01-15T03:00"))
    assert not window_open(unknown, at("2025-01-15T07:00"))
    for start, end in (("2:00", "06:00"), ("02:00", "24:30"), ("24:00", "02:00"), ("02:60", "03:00")):
        with pytest.raises(ValueError):
            FillWindow(start, end, "UTC")
    with pytest.raises(ValueError, match="invalid title"):
        FillEntry("../admin", 0, 1)


def files_of(
    title: str, renditions: tuple[str, ...] = ("720p", "480p"), segments: int = 3
) -> dict[str, FileInfo]:
    files = {master_key(title).cache_key: FileInfo(100, "0" * 64)}
    for rendition in renditions:
        files[make_key(title, rendition, "index.m3u8").cache_key] = FileInfo(200, "1" * 64)
        files[make_key(title, rendition, "init.mp4").cache_key] = FileInfo(300, "2" * 64)
        for n in range(segments):
            files[make_key(title, rendition, segment_name(n)).cache_key] = FileInfo(1000 + n, "3" * 64)
    return files


def test_title_chunks_come_in_fill_order_so_a_partial_fill_plays_from_the_start() -> None:
    files = dict(reversed(list(files_of("film").items())))
    files["film/manifest.mpd"] = FileInfo(150, "5" * 64)
    files["other/master.m3u8"] = FileInfo(1, "4" * 64)  # another title's file: ignored
    files["film/720p/../../etc"] = FileInfo(1, "4" * 64)  # not an address: ignored
    keys = [c.key.cache_key for c in title_chunks("film", files)]
    assert keys == [
        "film/master.m3u8", "film/manifest.mpd", "film/480p/index.m3u8", "film/720p/index.m3u8",
        "film/480p/init.mp4", "film/720p/init.mp4",
        "film/480p/seg_00000.m4s", "film/720p/seg_00000.m4s",
        "film/480p/seg_00001.m4s", "film/720p/seg_00001.m4s",
        "film/480p/seg_00002.m4s", "film/720p/seg_00002.m4s",
    ]


def test_diff_lists_what_the_store_lacks_in_order_and_counts_bytes() -> None:
    chunks = title_chunks("film", files_of("film", ("480p",), segments=4))
    held: set[ChunkKey] = {chunks[0].key, chunks[3].key}
    plan = diff(chunks, held.__contains__)
    assert [c.key for c in plan.missing] == [c.key for c in chunks if c.key not in held]
    assert plan.chunks_total == len(chunks) == 7
    assert plan.bytes_total == 100 + 200 + 300 + 1000 + 1001 + 1002 + 1003
    assert plan.bytes_present == 100 + 1000
    assert not plan.complete
    assert diff(chunks, lambda key: True).complete


def test_state_file_round_trips_the_manifest_and_ignores_garbage(tmp_path: Path) -> None:
    manifest = FillManifest(7, (FillEntry("film", 0, 5000), FillEntry("show", 1, 300)),
                            FillWindow("22:00", "02:00", "Europe/Paris", 200_000_000, 1_700_000_000),
                            "http://origin:8000")
    path = tmp_path / "fill_state.json"
    assert load_state(path) is None
    save_state(path, manifest)
    assert load_state(path) == manifest
    assert manifest.titles == {"film", "show"} and manifest.planned_bytes == 5300
    path.write_text('{"version": 3, "entries": [{"title": "../x", "priority": 0, "bytes": 1}]}')
    assert load_state(path) is None
    path.write_text("not json")
    assert load_state(path) is None
