"""PopularityBook: exponential decay, the new-release boost, validation and SQLite persistence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from control_plane.catalog import CatalogTitle
from control_plane.errors import InvalidRequest
from control_plane.fill_store import MemoryFillStore, SqlFillStore
from control_plane.popularity import PopularityBook, PopularityPolicy

from .fakes import FakeClock

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
POLICY = PopularityPolicy(half_life_s=86400.0, new_release_window_s=7 * 86400.0, new_release_quantile=0.9)


def book(clock: FakeClock, policy: PopularityPolicy = POLICY) -> PopularityBook:
    return PopularityBook(MemoryFillStore(), policy, clock)


def test_counts_halve_every_half_life_and_add_up() -> None:
    clock = FakeClock()
    b = book(clock)
    assert b.record("ams", {"film-a": 100, "film-b": 0}) == 100
    assert b.score("ams", "film-a") == pytest.approx(100)
    clock.advance(DAY_MS)
    assert b.score("ams", "film-a") == pytest.approx(50)
    b.record("ams", {"film-a": 10})
    clock.advance(DAY_MS)
    assert b.score("ams", "film-a") == pytest.approx(30)  # (50 + 10) / 2
    assert b.score("ams", "film-b") == 0.0  # a zero count creates nothing
    assert b.score("fra", "film-a") == 0.0  # sites are separate
    assert b.scores("ams") == {"film-a": pytest.approx(30)}


def test_recent_starts_outweigh_older_ones() -> None:
    clock = FakeClock()
    b = book(clock)
    b.record("ams", {"old-hit": 1000})
    clock.advance(4 * DAY_MS)
    b.record("ams", {"new-hit": 100})
    assert b.score("ams", "new-hit") > b.score("ams", "old-hit")  # 100 > 1000 / 16


def test_new_release_without_history_is_boosted_to_the_site_quantile() -> None:
    clock = FakeClock()
    b = book(clock)
    b.record("ams", {f"t{i:02d}": i + 1 for i in range(20)})  # counts 1..20
    now_s = clock.wall_ms() / 1000
    titles = [
        CatalogTitle("t00", 1, released_unix_s=now_s - 400 * 86400),
        CatalogTitle("fresh", 1, released_unix_s=now_s),
        CatalogTitle("last-week", 1, released_unix_s=now_s - 8 * 86400),
        CatalogTitle("flagged", 1, released_unix_s=None, new=True),
        CatalogTitle("unknown-date", 1),
        CatalogTitle("t19", 1, released_unix_s=now_s - 3600),
    ]
    p = b.predicted("ams", titles)
    level = float(np.quantile(np.arange(1, 21), 0.9))
    assert p[0] == pytest.approx(1)  # old title: its history only
    assert p[1] == pytest.approx(level)  # released now: the quantile
    assert p[2] == 0.0  # outside the new-release window
    assert p[3] == pytest.approx(level)  # flagged new
    assert p[4] == 0.0  # no history, no date: nothing
    assert p[5] == pytest.approx(20)  # new, but its history already beats the boost
    # The boost decays with the half-life since the release.
    clock.advance(DAY_MS)
    p = b.predicted("ams", titles)
    assert p[1] == pytest.approx(level / 2 / 2)  # the bar halved and the title aged a half-life


def test_no_boost_when_quantile_is_zero() -> None:
    clock = FakeClock()
    b = book(clock, PopularityPolicy(86400.0, 7 * 86400.0, 0.0))
    b.record("ams", {"a": 5})
    p = b.predicted("ams", [CatalogTitle("new", 1, released_unix_s=clock.wall_ms() / 1000)])
    assert p.tolist() == [0.0]


def test_site_without_history_uses_the_whole_fleet() -> None:
    clock = FakeClock()
    b = book(clock)
    b.record("ams", {"a": 4, "b": 1})
    b.record("fra", {"b": 2})
    titles = [CatalogTitle("a", 1), CatalogTitle("b", 1), CatalogTitle("c", 1)]
    assert b.predicted("new-site", titles).tolist() == pytest.approx([4, 3, 0])
    assert b.predicted("fra", titles).tolist() == pytest.approx([0, 2, 0])


def test_new_titles_rank_first_on_a_fleet_without_any_history() -> None:
    clock = FakeClock()
    b = book(clock)
    p = b.predicted("ams", [CatalogTitle("old", 1, 0.0), CatalogTitle("new", 1, clock.wall_ms() / 1000)])
    assert p[1] > p[0] == 0


@pytest.mark.parametrize(("site", "starts", "field"), [
    ("", {"a": 1}, "site"),
    ("AMS!", {"a": 1}, "site"),
    ("ams", {"Bad Title": 1}, "starts"),
    ("ams", {"a": -1}, "starts.a"),
    ("ams", {"a": 1.5}, "starts.a"),
    ("ams", {"a": True}, "starts.a"),
])
def test_bad_reports_name_the_field_and_record_nothing(site: str, starts: dict[str, object],
                                                       field: str) -> None:
    clock = FakeClock()
    b = book(clock)
    with pytest.raises(InvalidRequest, match=field.replace(".", r"\.")):
        b.record(site, {"good": 1, **starts})  # type: ignore[dict-item]
    assert b.sites() == []


def test_scores_survive_a_restart_and_faded_ones_are_forgotten(db_target: Path | str) -> None:
    clock = FakeClock()
    path = db_target
    store = SqlFillStore(path)
    b = PopularityBook(store, POLICY, clock)
    b.record("ams", {"a": 64, "b": 1})
    b.record("fra", {"a": 2})
    store.close()
    clock.advance(DAY_MS)
    store = SqlFillStore(path)
    b = PopularityBook(store, POLICY, clock)
    assert b.score("ams", "a") == pytest.approx(32)
    assert b.score("fra", "a") == pytest.approx(1)
    assert b.sites() == ["ams", "fra"]
    clock.advance(20 * DAY_MS)  # "b": 1 / 2**21 is below FORGET_BELOW, "a": 64 / 2**21 is not
    assert b.forget_faded() == 2  # ams/b and fra/a
    store.close()
    store = SqlFillStore(path)
    b = PopularityBook(store, POLICY, clock)
    assert set(b.scores("ams")) == {"a"}
    assert b.sites() == ["ams"]
    store.close()
