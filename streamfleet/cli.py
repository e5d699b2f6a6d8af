"""The ``streamfleet`` command: a thin dispatcher to each room's own command-line module.

Rooms are imported only when their command runs, so installing or running one role never
imports another's code.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence

# command -> (module, function, one-line help). Each function takes argv and returns an exit code.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "origin": ("origin.cli", "main", "run the origin (serve)"),
    "ingest": ("origin.cli", "ingest_main", "ingest a video file as a title"),
    "control-plane": ("control_plane.cli", "main", "run the control plane (serve)"),
    "fill": ("control_plane.fill_cli", "fill_main", "fill windows and plans (schedule, run-now, status)"),
    "steering": ("steering.cli", "main", "run the steering service (serve)"),
    "appliance": ("appliance.cli", "main", "run or manage a cache appliance (serve, drain)"),
    "cache-sim": ("appliance.cache_sim", "main", "replay a request trace through an eviction policy"),
    "upload": ("origin.cli", "upload_main", "upload a video (resumable, tus) with a progress bar"),
    "search": ("origin.cli", "search_main", "search the catalog"),
    "titles": ("origin.cli", "titles_main", "list titles, or show one with its processing progress"),
    "web": ("web.cli", "main", "serve the viewer, creator and operator pages"),
    "play": ("player.cli", "main", "play a title through steering and print a report"),
    "testclip": ("origin.cli", "testclip_main", "generate a test clip with the bundled ffmpeg"),
    "demo": ("player.demo", "main", "run a whole fleet on 127.0.0.1, play a title twice, report"),
    "config": ("streamfleet.configref", "main", "configuration reference: example, check FILE, docs"),
    "healthcheck": ("streamfleet.healthcheck", "main", "exit 0 when a /healthz URL answers 200 (probes)"),
}


def _usage() -> str:
    lines = ["usage: streamfleet COMMAND [ARGS...]", "", "commands:"]
    for name, (_, _, text) in COMMANDS.items():
        lines.append(f"  {name:<15} {text}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    if args[0] in ("--version", "version"):
        from streamfleet import __version__

        print(__version__)
        return 0
    entry = COMMANDS.get(args[0])
    if entry is None:
        print(f"streamfleet: unknown command {args[0]!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module, function, _ = entry
    func: Callable[[list[str]], int] = getattr(importlib.import_module(module), function)
    return func(args[1:])


if __name__ == "__main__":
    sys.exit(main())
