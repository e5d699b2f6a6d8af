"""``streamfleet web serve``: the viewer, creator and operator pages on one port."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from streamfleet.config import ConfigError
from streamfleet.httpkit import serve
from streamfleet.logs import configure_logging

from .app import build_app
from .config import load

log = logging.getLogger(__name__)


def main(argv: list[str]) -> int:
    """Entry point of ``streamfleet web``. Returns the exit code (2 for a bad config)."""
    parser = argparse.ArgumentParser(prog="streamfleet web", description="serve the web pages")
    sub = parser.add_subparsers(dest="command", required=True)
    p_serve = sub.add_parser("serve", help="serve the pages and the same-origin API proxy")
    p_serve.add_argument("--config", type=Path, default=None, help="TOML config file (WEB_* overrides)")
    args = parser.parse_args(argv)
    try:
        config = load(args.config)
        app = build_app(config)
    except (ConfigError, ValueError) as exc:
        print(f"streamfleet web: {exc}")
        return 2
    configure_logging("web", config.log_level)
    log.info("web server starting", extra={"host": config.host, "port": config.port,
                                           "origin": config.origin_url, "steering": config.steering_url,
                                           "media_relay": config.media_relay})
    serve(app, config.host, config.port, config.http)
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
