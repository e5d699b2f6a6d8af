"""``streamfleet appliance ...``: run a cache appliance (serve) or change its drain state (drain)."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from streamfleet.config import ConfigError
from streamfleet.httpguard import HttpSettings
from streamfleet.httpkit import serve
from streamfleet.logs import configure_logging

from . import config as appliance_config
from .app import build_app
from .config import ApplianceConfig
from .fastpath import FastServer


def main(argv: list[str]) -> int:
    """Entry point of ``streamfleet appliance``; returns the process exit code."""
    parser = argparse.ArgumentParser(prog="streamfleet appliance", description="Run a cache appliance.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_cmd = commands.add_parser("serve", help="serve chunks over HTTP until SIGTERM")
    serve_cmd.add_argument(
        "--config", metavar="FILE", help="TOML config file (APPLIANCE_* env vars override)"
    )
    drain_cmd = commands.add_parser(
        "drain", help="report DRAINING to the control plane while still serving (--undo: back to ACTIVE)"
    )
    drain_cmd.add_argument("--url", default=None, help="appliance base URL (default: from the config)")
    drain_cmd.add_argument("--config", metavar="FILE", help="TOML config file (for the URL and admin token)")
    drain_cmd.add_argument("--token", default=None, help="admin token (default: admin_token from the config)")
    drain_cmd.add_argument("--undo", action="store_true", help="stop draining")
    args = parser.parse_args(argv)

    try:
        config = appliance_config.load(args.config)
    except ConfigError as exc:
        print(f"streamfleet appliance: {exc}", file=sys.stderr)
        return 2
    if args.command == "drain":
        return _drain(config, args.url, args.token, args.undo)
    configure_logging("appliance", config.log_level)
    if config.server == "fast":
        _serve_fast(config)
        return 0
    # SIGTERM/SIGINT: uvicorn finishes in-flight requests, then the lifespan stops the agent.
    with _exit_zero_after_graceful_shutdown():
        serve(build_app(config), config.host, config.port, _http_settings(config))
    return 0


def _http_settings(config: ApplianceConfig) -> HttpSettings:
    """The fast server's limits, for uvicorn mode: one set of keys whichever server runs."""
    return HttpSettings(
        request_timeout_seconds=config.header_timeout_s,
        max_header_bytes=config.max_header_bytes,
        keepalive_timeout_seconds=config.keepalive_timeout_s,
        max_connections=config.max_connections,
    )


def _serve_fast(config: ApplianceConfig) -> None:
    """Run the fast server until SIGTERM/SIGINT, then stop gracefully (exit code 0)."""
    app = build_app(config)
    server = FastServer(app, app.state.appliance, config)

    async def run() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, server.request_stop)
        await server.serve()

    asyncio.run(run())


def _drain(config: ApplianceConfig, url: str | None, token: str | None, undo: bool) -> int:
    base = (url or f"http://{config.host}:{config.port}").rstrip("/")
    try:
        response = httpx.post(
            f"{base}/admin/drain",
            params={"undo": "1"} if undo else None,
            headers={"authorization": f"Bearer {token if token is not None else config.admin_token}"},
            timeout=5.0,
        )
    except httpx.HTTPError as exc:
        print(f"streamfleet appliance drain: cannot reach {base}: {exc}", file=sys.stderr)
        return 1
    if response.status_code != 200:
        print(f"streamfleet appliance drain: {response.status_code} {response.text}", file=sys.stderr)
        return 1
    doc = response.json()
    print(f"{doc.get('appliance')}: {'draining' if doc.get('draining') else 'active'}")
    return 0


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
