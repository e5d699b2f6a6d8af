"""A short, bounded run of bench/load.py: 20 real-time viewers for 15 s, an appliance killed at 7 s.

The full run (200 viewers, 60 s, kill at 30 s) is a benchmark, not a test; this one keeps the
same code path honest: no failed session, bytes verified, little rebuffering, and the kill
really happened mid-run.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def test_short_load_run_with_a_kill(tmp_path: Path) -> None:
    argv = [sys.executable, str(ROOT / "bench" / "load.py"), "--players", "20", "--seconds", "15",
            "--kill-appliance-at", "7", "--titles", "1", "--clip-seconds", "20", "--ramp", "3",
            "--workdir", str(tmp_path), "--quiet"]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=150, stdin=subprocess.DEVNULL)
    lines = done.stdout.strip().splitlines()
    assert lines, f"no output; stderr:\n{done.stderr[-3000:]}"
    result = json.loads(lines[-1])
    assert result["failed"] == 0, result
    assert result["sessions"] >= 20 and result["completed"] == result["sessions"]
    assert result["bytes_verified"] is True
    assert result["killed"] is not None and 6.5 < result["killed"]["at_s"] < 9
    survivors = {k for k, v in result["bytes_by_appliance"].items() if v > 0}
    assert survivors - {result["killed"]["appliance"], "origin"}, result["bytes_by_appliance"]
    # Generous bounds: this shares a 2-core machine with everything else the suite runs.
    assert result["rebuffer_ratio"] <= 0.05, result
    assert result["startup_p95_ms"] <= 3000, result
    assert set(result["peak_rss_mb"]) >= {"origin", "steering", "control-plane", "east-1", "east-2"}
    assert done.returncode == 0
