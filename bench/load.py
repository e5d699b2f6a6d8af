"""Load: N simulated viewers against a demo fleet on loopback, optionally killing an appliance.

Starts the demo fleet (origin, control plane, steering, three appliances in two sites) as
separate processes, ingests a generated clip as ``--titles`` titles, then runs ``--players``
viewers in this process for ``--seconds``: each is the player library with a real-time
playback clock (fetching ahead only up to ``--buffer-target`` seconds of media, then waiting
as playback consumes it), watching a title (popularity skewed towards the first) for 20-60 s
of media, then the next, until the time is up. Arrivals are spread over the first
``--ramp`` seconds. With ``--kill-appliance-at T`` the appliance with the most open
connections is SIGKILLed T seconds in. Prints ONE JSON line:
``{"players", "sessions", "completed", "failed", "rebuffer_ratio", "startup_p50_ms",
"startup_p95_ms", "bytes_by_appliance", "peak_rss_mb", ...}``.

Usage: python bench/load.py --players 200 --seconds 60 --kill-appliance-at 30
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from bench.viewers import ViewerPool, cpu_seconds, rss_of
from player.verify import FileCatalog
from streamfleet.launcher import Fleet, terminate_on_signals


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def setup(fleet: Fleet, titles: int, clip_seconds: int, say: Any) -> dict[str, FileCatalog]:
    """Start the fleet, ingest the clip as ``titles`` titles; their catalogs by title id."""
    fleet.start()
    clip = fleet.workdir / "clip.mp4"
    made = fleet.run_cli("testclip", str(clip), "--seconds", str(clip_seconds), "--width", "640",
                         "--height", "360")  # fmt: skip
    if made.returncode != 0:
        raise RuntimeError(f"test clip failed: {made.stderr.strip()[-500:]}")
    catalogs = {}
    for n in range(titles):
        title = f"load-{n}"
        say(f"ingesting {title} ...")
        fleet.ingest(clip, f"Load {n}", title)
        body = httpx.get(f"{fleet.origin_url}/v1/titles/{title}", timeout=10).json()
        catalogs[title] = FileCatalog.from_title(body)
    fleet.wait_for_fleet(len(fleet.specs))
    return catalogs


async def kill_busiest(
    fleet: Fleet, at: float, started: float, peaks: dict[str, float], cpu: dict[str, float]
) -> dict[str, Any]:
    """At ``at`` seconds: SIGKILL the appliance with the most open connections (its peak RSS kept)."""
    await asyncio.sleep(max(0.0, started + at - time.monotonic()))
    busiest, most = "", -1
    async with httpx.AsyncClient(timeout=2) as client:
        for spec in fleet.specs:
            try:
                health = (await client.get(f"{fleet.appliance_url(spec.id)}/healthz")).json()
                connections = int(health["connections"])
            except (httpx.HTTPError, ValueError, KeyError):
                continue
            if connections > most:
                busiest, most = spec.id, connections
    process = fleet.processes[busiest]
    peaks[busiest] = rss_of(process.pid)["VmHWM"]
    cpu[busiest] = cpu_seconds(process.pid) - cpu.get(busiest, 0.0)
    await asyncio.to_thread(process.kill)
    return {"appliance": busiest, "at_s": round(time.monotonic() - started, 2), "connections": most}


async def sample_rss(
    fleet: Fleet, every: float, samples: dict[str, list[float]], stop: asyncio.Event
) -> None:
    """VmRSS (MB) of every live service every ``every`` seconds, to see growth over the run."""
    while not stop.is_set():
        for name, process in fleet.processes.items():
            if process.alive():
                samples.setdefault(name, []).append(round(rss_of(process.pid)["VmRSS"], 1))
        try:
            await asyncio.wait_for(stop.wait(), every)
        except TimeoutError:
            pass


async def run(fleet: Fleet, catalogs: dict[str, FileCatalog], args: argparse.Namespace) -> dict[str, Any]:
    pool = ViewerPool(
        fleet.steering_url, catalogs, fleet.viewer_session, buffer_target_s=args.buffer_target,
        ramp_s=args.ramp, seed=args.seed,
    )  # fmt: skip
    started = time.monotonic()
    peaks: dict[str, float] = {}
    # CPU seconds each service used during the run (start values first, subtracted at the end).
    cpu = {name: cpu_seconds(process.pid) for name, process in fleet.processes.items()}
    samples: dict[str, list[float]] = {}
    sampler_stop = asyncio.Event()
    sampler = asyncio.create_task(sample_rss(fleet, 10.0, samples, sampler_stop))
    killer = None
    if args.kill_appliance_at is not None:
        killer = asyncio.create_task(kill_busiest(fleet, args.kill_appliance_at, started, peaks, cpu))
    reports = await pool.run(args.players, args.seconds)
    killed = await killer if killer is not None else None
    sampler_stop.set()
    await sampler
    for name, process in fleet.processes.items():
        if process.alive():
            peaks[name] = rss_of(process.pid)["VmHWM"]
            cpu[name] = cpu_seconds(process.pid) - cpu[name]
    cpu["load_generator"] = time.process_time()

    startups = [r.startup_ms for r in reports if r.segments > 0]
    # Sessions that began after every viewer had arrived (the ramp is a burst of cold starts).
    began = pool.began_s
    settled = [r.startup_ms for r, b in zip(reports, began, strict=True) if r.segments and b > args.ramp]
    # Sessions that began in the 5 s after the kill (steering may still rank the dead appliance
    # first, and the survivors take over its viewers' misses).
    kill_at = args.kill_appliance_at if args.kill_appliance_at is not None else -1e9
    after_kill = [r.startup_ms for r, b in zip(reports, began, strict=True)
                  if r.segments and kill_at <= b < kill_at + 5]  # fmt: skip
    stall_s = sum(r.stall_ms for r in reports) / 1000
    watch_s = sum(r.played_s for r in reports) + stall_s
    by_appliance: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    for r in reports:
        by_appliance.update(r.bytes_by_appliance)
        if not r.ok:
            errors.update(e.split(":")[0] for e in r.errors[-1:])
    failed = [r for r in reports if not r.ok]
    return {
        "players": args.players,
        "seconds": args.seconds,
        "sessions": len(reports),
        "completed": len(reports) - len(failed),
        "failed": len(failed),
        "rebuffer_ratio": round(stall_s / watch_s, 5) if watch_s else 0.0,
        "startup_p50_ms": round(percentile(startups, 0.5), 1),
        "startup_p95_ms": round(percentile(startups, 0.95), 1),
        "startup_max_ms": round(max(startups, default=0.0), 1),
        "startup_p95_after_ramp_ms": round(percentile(settled, 0.95), 1),
        "startup_p95_5s_after_kill_ms": round(percentile(after_kill, 0.95), 1),
        "bytes_by_appliance": dict(sorted(by_appliance.items())),
        "peak_rss_mb": {k: round(v, 1) for k, v in sorted(peaks.items())},
        "rss_mb_every_10s": samples,
        "cpu_s": {k: round(v, 1) for k, v in sorted(cpu.items())},
        "stalls": sum(r.stalls for r in reports),
        "stall_s": round(stall_s, 3),
        "watch_s": round(watch_s, 1),
        "failovers": sum(r.failovers for r in reports),
        "stopped_at_deadline": sum(r.stopped for r in reports),
        "hit_ratio": round(sum(r.hits for r in reports) / max(1, sum(r.hits + r.misses for r in reports)), 4),
        "bytes_verified": all(r.bytes_verified is not False for r in reports),
        "killed": killed,
        "errors": dict(errors.most_common(5)),
        "load_generator_peak_rss_mb": round(rss_of()["VmHWM"], 1),
        # The machine's 1-minute load average at the end (2 cores here: above ~2, everything,
        # the services and this load generator included, waits for CPU).
        "machine_load_avg_1m": round(os.getloadavg()[0], 2),
        # Late timers of the viewers' own event loop: a lagging load generator inflates startup.
        "load_generator_loop_lag_ms": {
            "p50": round(percentile(pool.loop_lag_s, 0.5) * 1000, 1),
            "p95": round(percentile(pool.loop_lag_s, 0.95) * 1000, 1),
            "max": round(max(pool.loop_lag_s, default=0.0) * 1000, 1),
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--players", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--kill-appliance-at", type=float, default=None, metavar="T")
    parser.add_argument("--titles", type=int, default=3)
    parser.add_argument("--clip-seconds", type=int, default=60)
    parser.add_argument("--buffer-target", type=float, default=12.0, help="media seconds fetched ahead")
    parser.add_argument("--ramp", type=float, default=10.0, help="arrivals spread over this many seconds")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=None, help="keep the fleet's files and logs here")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)

    def say(text: str) -> None:
        if not args.quiet:
            print(text, file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="streamfleet-load-") as tmp, terminate_on_signals():
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        with Fleet(workdir) as fleet:
            catalogs = setup(fleet, args.titles, args.clip_seconds, say)
            say(f"running {args.players} viewers for {args.seconds:.0f} s ...")
            result = asyncio.run(run(fleet, catalogs, args))
    print(json.dumps(result), flush=True)
    return 0 if result["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
