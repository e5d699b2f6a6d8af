"""``streamfleet steering serve [--config FILE]``: wires config, logging and the app, then serves."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from streamfleet.config import ConfigError
from streamfleet.httpkit import serve
from streamfleet.logs import configure_logging

from .app import build_app
from .config import load
from .errors import GeoDatabaseError

log = logging.getLogger(__name__)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="streamfleet steering", description="Run the steering service.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_cmd = commands.add_parser("serve", help="answer playback requests with ranked, signed URLs")
    serve_cmd.add_argument(
        "--config", type=Path, default=None, help="TOML file (STEERING_* env vars overlay it)"
    )
    args = parser.parse_args(argv)
    try:
        config = load(args.config)
    except ConfigError as exc:
        print(f"steering: {exc}", file=sys.stderr)
        return 2
    configure_logging("steering", config.log_level)
    try:
        app = build_app(config)
    except GeoDatabaseError as exc:
        print(f"steering: {exc}", file=sys.stderr)
        return 2
    log.info(
        "steering starting",
        extra={
            "host": config.host,
            "port": config.port,
            "control_plane": config.control_plane,
            "origin": config.origin_url,
        },
    )
    # serve leaves X-Forwarded-For alone (proxy_headers=False): steering applies trusted_proxies.
    serve(app, config.host, config.port, config.http)
    log.info("steering stopped")
    return 0
