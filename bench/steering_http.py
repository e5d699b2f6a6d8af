"""HTTP part of the steering benchmark: wrk POSTing /v1/playback to a real steering process."""

from __future__ import annotations

import tempfile
from pathlib import Path

from bench.tools import run_wrk
from streamfleet.launcher import Fleet

TITLE = "bench-clip"


def measure_http(seconds: float) -> dict[str, float]:
    """Start a small fleet, ingest a short clip, load steering with wrk; return rps and p99."""
    with tempfile.TemporaryDirectory(prefix="sf-bench-steering-") as tmp:
        workdir = Path(tmp)
        with Fleet(workdir) as fleet:
            fleet.start()
            clip = workdir / "clip.mp4"
            made = fleet.run_cli("testclip", str(clip), "--seconds", "4", "--width", "320", "--height", "240")
            if made.returncode != 0:
                raise RuntimeError(made.stderr)
            fleet.ingest(clip, "Bench Clip", TITLE)
            fleet.wait_for_fleet(len(fleet.specs))
            session = fleet.viewer_session(ttl=7200)
            script = workdir / "post.lua"
            script.write_text(
                'wrk.method = "POST"\n'
                'wrk.headers["Content-Type"] = "application/json"\n'
                f'wrk.headers["Authorization"] = "Bearer {session}"\n'
                f'wrk.body = \'{{"title": "{TITLE}"}}\'\n'
            )
            url = f"{fleet.steering_url}/v1/playback"
            run_wrk(url, 2, 16, script=script)  # warm caches and connections
            result = run_wrk(url, seconds, 32, script=script)
    return {
        "http_rps": round(result["rps"], 1),
        "http_p99_ms": round(result["p99_ms"], 2),
        "http_p50_ms": round(result["p50_ms"], 2),
        "http_non_2xx": result["non_2xx"],
    }
