"""``streamfleet cache-sim`` end to end, through the kernel's command dispatcher."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from appliance.cache_sim import main
from streamfleet.cli import main as streamfleet_main

from .conftest import YOUTUBE_S1


def test_cache_sim_on_the_youtube_trace(capsys: pytest.CaptureFixture[str]) -> None:
    if not YOUTUBE_S1.is_file():
        pytest.skip(f"trace {YOUTUBE_S1} is absent")
    argv = ["cache-sim", "--trace", str(YOUTUBE_S1), "--format", "umass", "--size-fraction", "0.1"]
    assert streamfleet_main([*argv, "--policy", "lru"]) == 0
    human, line = capsys.readouterr().out.strip().splitlines()
    assert "object miss ratio 0.7403" in human and "capacity 2195 objects" in human
    result = json.loads(line)
    assert result["policy"] == "lru" and result["requests"] == 37_411
    assert result["object_miss_ratio"] == pytest.approx(0.7403, abs=5e-5) == result["byte_miss_ratio"]


def test_cache_sim_expands_a_csv_trace(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trace = tmp_path / "videos.csv"
    trace.write_text("key,size\n" + "".join(f"v{i % 7},1\n" for i in range(60)) + "oops\n")
    argv = ["--trace", str(trace), "--format", "csv", "--size-fraction", "0.2", "--policy", "streamfleet"]
    assert main([*argv, "--expand-chunks", "--seed", "3"]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out.strip().splitlines()[-1])
    assert result["capacity_unit"] == "bytes" and result["requests"] > 60 and result["malformed_lines"] == 1
    assert 0.0 < result["byte_miss_ratio"] < 1.0
    assert "skipped 1 malformed lines" in captured.err


def test_cache_sim_reports_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = ["--trace", str(tmp_path / "none.dat"), "--format", "umass", "--size-fraction", "0.1"]
    assert main([*missing, "--policy", "fifo"]) == 1
    assert "cannot read trace" in capsys.readouterr().err
    tiny = tmp_path / "tiny.csv"
    tiny.write_text("a,1\nb,1\n")
    assert main(["--trace", str(tiny), "--format", "csv", "--size-fraction", "0.1", "--policy", "lru"]) == 1
    assert "holds nothing" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["--trace", str(tiny), "--format", "csv", "--size-fraction", "0.1", "--policy", "lfu"])
    assert exc.value.code == 2
