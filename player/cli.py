"""``streamfleet play TITLE --steering URL [--origin URL] [--json]``: play a title and report."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys

from .report import PlayReport
from .session import play


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="streamfleet play", description="Play a title through steering like a viewer would, and report."
    )
    parser.add_argument("title", help="title id, e.g. demo-clip")
    parser.add_argument("--steering", default="http://127.0.0.1:8080", help="steering base URL")
    parser.add_argument("--origin", default=None, help="origin base URL: verify every file's sha256")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")
    parser.add_argument("--initial-bandwidth", type=float, default=5_000_000, help="bits/s before measuring")
    parser.add_argument("--max-segments", type=int, default=None, help="stop after this many segments")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    parser.add_argument("--session", default=os.environ.get("STREAMFLEET_SESSION"),
                        help="viewer session token (default: $STREAMFLEET_SESSION)")
    args = parser.parse_args(argv)
    report = asyncio.run(
        play(
            args.steering,
            args.title,
            origin_url=args.origin,
            initial_bandwidth_bps=args.initial_bandwidth,
            max_segments=args.max_segments,
            timeout_s=args.timeout,
            session=args.session,
        )
    )
    print(json.dumps(report.to_dict()) if args.json else render(report))
    return 0 if report.ok else 1


def render(report: PlayReport) -> str:
    """The report as a few lines of text for a person."""
    verified = {True: "yes", False: "NO", None: "not checked"}[report.bytes_verified]
    by_appliance = ", ".join(f"{k}={v}" for k, v in report.segments_by_appliance.items()) or "-"
    lines = [
        f"{report.title}: {'ok' if report.ok else 'FAILED'}",
        f"  site          {report.site or '-'} ({report.site_reason or '-'})",
        f"  ranked        {', '.join(report.ranked) or '-'}",
        f"  renditions    {', '.join(report.renditions) or '-'} (mostly {report.rendition or '-'})",
        f"  startup       {report.startup_ms:.0f} ms; whole playback {report.elapsed_ms:.0f} ms",
        f"  segments      {report.segments}/{report.segments_total}, {report.media_s:.1f} s of media, "
        f"{report.bytes} bytes",
        *([f"  audio         {report.audio}: {report.audio_segments} segments"] if report.audio else []),
        f"  served by     {by_appliance}",
        f"  cache         {report.hits} hits, {report.misses} misses (hit ratio {report.hit_ratio:.2f})",
        f"  stalls        {report.stalls} ({report.stall_ms:.0f} ms)",
        f"  failovers     {report.failovers}",
        f"  bytes match origin: {verified}",
    ]
    lines += [f"  error: {e}" for e in report.errors]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
