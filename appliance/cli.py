"""``streamfleet appliance ...``: run a cache appliance."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from streamfleet.config import ConfigError
from streamfleet.httpkit import serve
from streamfleet.logs import configure_logging

from . import config as appliance_config
from .app import build_app


def main(argv: list[str]) -> int:
    """Entry point of ``streamfleet appliance``; returns the process exit code."""
    parser = argparse.ArgumentParser(prog="streamfleet appliance", description="Run a cache appliance.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_cmd = commands.add_parser("serve", help="serve chunks over HTTP until SIGTERM")
    serve_cmd.add_argument(
        "--config", metavar="FILE", help="TOML config file (APPLIANCE_* env vars override)"
    )
    args = parser.parse_args(argv)

    if args.command == "serve":
        try:
            config = appliance_config.load(args.config)
        except ConfigError as exc:
            print(f"streamfleet appliance: {exc}", file=sys.stderr)
            return 2
        configure_logging("appliance", config.log_level)
        # SIGTERM/SIGINT: uvicorn finishes in-flight requests, then the lifespan stops the agent.
        with _exit_zero_after_graceful_shutdown():
            serve(build_app(config), config.host, config.port)
        return 0
    parser.error(f"unknown command {args.command!r}")
    return 2


@contextmanager
def _exit_zero_after_graceful_shutdown() -> Iterator[None]:
    """Make a graceful SIGTERM/SIGINT shutdown end the process with exit code 0.

    uvicorn re-raises the signal that stopped it once shutdown is complete, which with the
    default handlers kills the process (exit -15). uvicorn restores the handlers it found, so a
    no-op handler installed here turns that re-raise into nothing.
    """
    previous = {sig: signal.signal(sig, _ignore_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _ignore_signal(signum: int, frame: object) -> None:
    return None
