"""The prefill benchmark at small scale: its JSON contract, the fill window, routing, the targets."""

from __future__ import annotations

import json
import zoneinfo
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from bench.prefill import DEFAULT_TRACE, main
from bench.prefill_model import Outcome, Workload, peak_bytes, summary
from bench.prefill_sim import SiteReplay, replay
from bench.prefill_synthetic import synthetic_workload
from bench.prefill_trace import trace_times, trace_workload

KEYS = {
    "workload",
    "pull_through_peak_upstream_bytes",
    "prefill_peak_upstream_bytes",
    "peak_upstream_reduction",
    "fill_bytes",
    "pull_through_byte_hit_ratio",
    "prefill_byte_hit_ratio",
}
WINDOW_HOURS = {2, 3, 4, 5}  # 02:00-06:00 local


@dataclass
class Run:
    workload: Workload
    line: dict[str, object]
    pull: Outcome
    pre: Outcome
    replay: SiteReplay


def run(workload: Workload) -> Run:
    pull = replay(workload, prefill=False)
    site = SiteReplay(workload, prefill=True)
    pre = site.run()
    return Run(workload, summary(workload, pull, pre), pull, pre, site)


@pytest.fixture(scope="module")
def synthetic() -> Run:
    return run(synthetic_workload(scale=0.1, days=2, seed=1))


@pytest.fixture(scope="module")
def trace() -> Run:
    if not DEFAULT_TRACE.exists():
        pytest.skip(f"trace {DEFAULT_TRACE} is absent (shared/traces must sit beside the repository)")
    return run(trace_workload(DEFAULT_TRACE, seed=1))


def num(line: dict[str, object], key: str) -> float:
    value = line[key]
    assert isinstance(value, int | float), (key, value)
    return float(value)


def local_hour(workload: Workload, bucket: int) -> int:
    at = datetime.fromtimestamp(workload.start_s + bucket * 3600, zoneinfo.ZoneInfo(workload.tz))
    return at.hour


def test_cli_prints_one_line_with_exactly_the_contract_keys(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--workload", "synthetic", "--scale", "0.05", "--days", "1", "--seed", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    line = json.loads(lines[0])
    assert set(line) == KEYS
    assert line["workload"] == "synthetic"
    assert num(line, "fill_bytes") > 0
    assert 0.0 < num(line, "pull_through_byte_hit_ratio") < 1.0


def test_summaries_have_the_contract_keys(synthetic: Run, trace: Run) -> None:
    assert set(synthetic.line) == KEYS and synthetic.line["workload"] == "synthetic"
    assert set(trace.line) == KEYS and trace.line["workload"] == "trace"


@pytest.mark.parametrize("name", ["synthetic", "trace"])
def test_fill_bytes_move_only_inside_the_window(name: str, request: pytest.FixtureRequest) -> None:
    r: Run = request.getfixturevalue(name)
    hours = {local_hour(r.workload, h) for h, b in enumerate(r.pre.fill) if b}
    assert hours and hours <= WINDOW_HOURS
    assert sum(r.pre.fill) == num(r.line, "fill_bytes") > 0
    assert not any(r.pull.fill), "pull-through never fills"
    # Both modes replay the very same requests; fill bytes are not upstream bytes.
    assert r.pull.requested == r.pre.requested
    assert r.pre.plans > 0 and r.pull.plans == 0


def test_synthetic_prefill_cuts_the_peak_upstream_by_at_least_30_percent(synthetic: Run) -> None:
    line = synthetic.line
    assert num(line, "peak_upstream_reduction") >= 0.30, line
    assert num(line, "prefill_byte_hit_ratio") > num(line, "pull_through_byte_hit_ratio")


def test_trace_prefill_is_never_worse_than_pull_through(trace: Run) -> None:
    line = trace.line
    assert num(line, "prefill_peak_upstream_bytes") <= num(line, "pull_through_peak_upstream_bytes")
    assert num(line, "prefill_byte_hit_ratio") >= num(line, "pull_through_byte_hit_ratio")
    assert num(line, "peak_upstream_reduction") >= 0.0


def test_new_releases_are_filled_before_their_premiere(synthetic: Run) -> None:
    w, held = synthetic.workload, synthetic.replay.held_since
    catalog = w.catalog
    released = catalog.released_s.tolist()
    premieres = [i for i, at in enumerate(released) if w.measure_from_s <= at < w.measure_to_s]
    assert premieres
    for i in premieres:
        assert i in held and held[i] < catalog.released_s[i], catalog.ids[i]


@pytest.mark.parametrize("name", ["synthetic", "trace"])
def test_viewers_are_routed_where_the_title_was_filled(name: str, request: pytest.FixtureRequest) -> None:
    r: Run = request.getfixturevalue(name)
    site = r.replay
    ids = r.workload.catalog.ids
    assert site.holders
    for title, holders in site.holders.items():
        planned = [k for k, m in enumerate(site.members) if ids[title] in site.previous.get(m.id, {})]
        assert set(holders) <= set(planned)
        ranking = site.ranking[title]
        assert holders == sorted(holders, key=ranking.index)


def test_peak_is_the_busiest_four_consecutive_hours_of_each_measured_day(synthetic: Run) -> None:
    w = synthetic.workload
    first = round((w.measure_from_s - w.start_s) / 3600)
    hourly = [0] * (first + 48)
    hourly[first + 20:first + 24] = [5, 5, 5, 5]  # day 1: 20:00-24:00
    hourly[first + 2] = 100  # day 1: one busy night hour beats the evening
    hourly[first + 24 + 8:first + 24 + 12] = [1, 2, 3, 4]  # day 2
    hourly[first - 1] = 10**6  # before the measured period: ignored
    assert peak_bytes(hourly, w) == 100 + 10
    assert peak_bytes(hourly, replace(w, measure_to_s=w.measure_from_s + 86400)) == 100


def test_trace_times_follow_the_file_and_skip_outliers(tmp_path: Path) -> None:
    path = tmp_path / "tiny.dat"
    start = datetime(2007, 9, 15, 0, 30, tzinfo=zoneinfo.ZoneInfo("America/New_York")).timestamp()
    rows = [
        (start, "GETVIDEO", "aaaaaaaaaaa"),
        (start + 60, "LLNWD", "ignored"),
        (594956655.0, "GETVIDEO", "bbbbbbbbbbb&feature=x"),  # the 1988 outlier
        (start + 120, "GETVIDEO", "aaaaaaaaaaa"),
        (start + 30, "GETVIDEO", "ccccccccccc"),  # goes backwards
        ("not-a-time", "GETVIDEO", "ddddddddddd"),  # malformed: read_trace skips it too
        (start + 9 * 3600, "GETVIDEO", "eeeeeeeeeee"),
    ]
    path.write_text("".join(f"{t} 1.1.1.1 2.2.2.2 {kind} {video} 3.3.3.3\n" for t, kind, video in rows))
    assert trace_times(path) == [start, start, start + 120, start + 120, start + 9 * 3600]
    w = trace_workload(path, seed=3)
    assert len(w.viewings) == 5 and w.catalog.ids == ("v00000", "v00001", "v00002", "v00003")
    assert w.viewings.title.tolist() == [0, 1, 0, 2, 3]
    assert np.all(w.viewings.segments <= w.catalog.segments[w.viewings.title])
    assert local_hour(w, round((w.measure_from_s - w.start_s) / 3600)) == 6
