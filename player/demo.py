"""`streamfleet demo`: a whole fleet on 127.0.0.1 — ingest a generated clip, play it twice, report.

Starts origin, control plane, steering and three appliances in two sites as separate processes,
ingests a test clip, plays the title twice through steering (the second play is served from the
appliances' disks), runs the fill plan now (as the nightly window would) and plays once more as a
viewer of the other site, whose appliance now holds the title. It prints a human-readable report
and, last, one JSON line. Every process it started is stopped on the way out, also on Ctrl-C or
SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from player.session import PlayReport, play
from streamfleet.launcher import Fleet, terminate_on_signals

TITLE_ID = "demo-clip"
# Inside west-1's advertised prefix 127.77.0.0/16 (see streamfleet.launcher.DEMO_APPLIANCES).
WEST_VIEWER_IP = "127.77.0.10"


def _say(text: str) -> None:
    print(text, flush=True)


def _play_summary(n: int, report: PlayReport) -> list[str]:
    by_appliance = ", ".join(f"{k}={v}" for k, v in sorted(report.segments_by_appliance.items()))
    return [
        f"play {n}: {'ok' if report.ok else 'FAILED'} site={report.site} "
        f"renditions={','.join(report.renditions)}",
        f"  startup {report.startup_ms:.0f} ms, {report.bytes} bytes in {report.segments} segments"
        + (f" (+{report.audio_segments} {report.audio})" if report.audio else ""),
        f"  segments by appliance: {by_appliance or '-'}",
        f"  hits {report.hits}, misses {report.misses} (hit ratio {report.hit_ratio:.2f}), "
        f"stalls {report.stalls}, failovers {report.failovers}, bytes verified: {report.bytes_verified}",
        *(f"  error: {e}" for e in report.errors),
    ]


async def _play_from(fleet: Fleet, session: str, source_ip: str) -> PlayReport:
    """Play as a viewer whose address is ``source_ip`` (a loopback alias: steering localises by it)."""
    transport = httpx.AsyncHTTPTransport(local_address=source_ip)
    async with httpx.AsyncClient(transport=transport, timeout=10.0) as client:
        return await play(fleet.steering_url, TITLE_ID, client=client, origin_url=fleet.origin_url,
                          session=session)


def _fill_then_play_elsewhere(fleet: Fleet, session: str) -> dict[str, Any]:
    """Nightly fill, run now: every site gets the title; then a west viewer plays with no miss."""
    _say("filling every site from the plan (what the nightly window does), now ...")
    status = fleet.fill_now()
    for site, appliances in status.items():
        for a in appliances:
            done = "done" if a["done"] else "incomplete"
            _say(f"  {site}/{a['appliance_id']}: {a['bytes_done']}/{a['bytes_total']} bytes, {done}")
    west = asyncio.run(_play_from(fleet, session, WEST_VIEWER_IP))
    for line in _play_summary(3, west):
        _say(line)
    return {"west_play_after_fill_hit_ratio": round(west.hit_ratio, 4), "west_play_ok": west.ok,
            "fill_bytes": sum(a["bytes_done"] for apps in status.values() for a in apps)}


def run_demo(workdir: Path, clip_seconds: int) -> dict[str, Any]:
    """Run the whole demo in ``workdir``; returns the final summary (also on failure)."""
    summary: dict[str, Any] = {"plays": 0, "failed": 0, "second_play_hit_ratio": 0.0, "bytes_verified": False}
    fleet = Fleet(workdir)
    reports: list[PlayReport] = []
    started = time.monotonic()
    try:
        _say(f"streamfleet demo: working in {workdir}")
        fleet.start()
        for name, proc in fleet.processes.items():
            _say(f"  started {name:<14} pid {proc.pid:<7} {proc.health_url}")
        clip = workdir / "clip.mp4"
        _say(f"generating a {clip_seconds} s test clip with the bundled ffmpeg ...")
        made = fleet.run_cli("testclip", str(clip), "--seconds", str(clip_seconds))
        if made.returncode != 0:
            raise RuntimeError(f"test clip failed: {made.stderr.strip()[-500:]}")
        _say("ingesting (encode ladder, package CMAF/HLS, catalog) ...")
        ingested = fleet.ingest(clip, "Demo Clip", TITLE_ID)
        _say(
            f"  title {ingested['title']}: renditions {', '.join(ingested['renditions'])}, "
            f"{ingested['segments']} segments per rendition, {ingested['duration_s']:.1f} s"
        )
        fleet.wait_for_fleet(len(fleet.specs))
        _say(f"steering sees all {len(fleet.specs)} appliances healthy")
        session = fleet.sign_up_and_log_in("demo-viewer", "demo-viewer-password")
        _say("signed up and logged in as demo-viewer (argon2 account, signed session)")
        for n in (1, 2):
            report = asyncio.run(play(fleet.steering_url, TITLE_ID, origin_url=fleet.origin_url,
                                      session=session))
            reports.append(report)
            for line in _play_summary(n, report):
                _say(line)
        summary.update(_fill_then_play_elsewhere(fleet, session))
    except (RuntimeError, OSError) as exc:
        _say(f"demo failed: {exc}")
        summary["error"] = str(exc)
    finally:
        codes = fleet.stop()
        _say("stopped: " + ", ".join(f"{k} (exit {v})" for k, v in codes.items()))
    summary["plays"] = len(reports)
    summary["failed"] = sum(1 for r in reports if not r.ok) + (2 - len(reports))
    if summary.get("west_play_ok") is False:
        summary["failed"] += 1
    summary["second_play_hit_ratio"] = round(reports[1].hit_ratio, 4) if len(reports) == 2 else 0.0
    summary["bytes_verified"] = bool(reports) and all(r.bytes_verified is True for r in reports)
    summary["startup_ms"] = [round(r.startup_ms, 1) for r in reports]
    summary["bytes_per_play"] = [r.bytes for r in reports]
    summary["clean_shutdown"] = all(code == 0 for code in codes.values())
    summary["wall_s"] = round(time.monotonic() - started, 1)
    return summary


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="streamfleet demo", description=__doc__)
    parser.add_argument("--workdir", type=Path, help="keep everything here instead of a temp dir")
    parser.add_argument("--clip-seconds", type=int, default=12, help="length of the generated clip")
    args = parser.parse_args(argv)
    with terminate_on_signals():
        try:
            if args.workdir:
                args.workdir.mkdir(parents=True, exist_ok=True)
                summary = run_demo(args.workdir.resolve(), args.clip_seconds)
            else:
                with tempfile.TemporaryDirectory(prefix="streamfleet-demo-") as tmp:
                    summary = run_demo(Path(tmp), args.clip_seconds)
        except KeyboardInterrupt:
            print("interrupted: every process was stopped", file=sys.stderr)
            return 130
    print(json.dumps(summary), flush=True)
    return 0 if summary["failed"] == 0 and summary["plays"] == 2 else 1
