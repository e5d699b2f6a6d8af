"""Command line of the origin: ``origin serve|delete``, ``ingest`` and ``testclip``; wires objects."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from pathlib import Path
from typing import TextIO

from streamfleet.config import ConfigError
from streamfleet.httpkit import serve
from streamfleet.logs import configure_logging
from streamfleet.signals import sigterm_as_interrupt

# Client commands live in client_cli; the kernel's command table names them here.
from .client_cli import search_main, titles_main, upload_main
from .config import OriginConfig, load
from .errors import FfmpegError, IngestError

log = logging.getLogger("origin")


def _load(path: Path | None, prog: str) -> OriginConfig | None:
    try:
        return load(path)
    except ConfigError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return None


def main(argv: list[str]) -> int:
    """``streamfleet origin serve [--config FILE]`` and ``streamfleet origin delete TITLE``."""
    parser = argparse.ArgumentParser(prog="streamfleet origin", description="Run or manage the origin.")
    sub = parser.add_subparsers(dest="command", required=True)
    p_serve = sub.add_parser("serve", help="serve the catalog and files over HTTP")
    p_serve.add_argument("--config", type=Path, help="TOML config file (ORIGIN_* variables override it)")
    p_delete = sub.add_parser("delete", help="remove a title's files and catalog rows (any status)")
    p_delete.add_argument("title", help="title id")
    p_delete.add_argument("--config", type=Path)
    p_worker = sub.add_parser("worker", help="run a pipeline worker (encodes queued titles)")
    p_worker.add_argument("--config", type=Path)
    p_account = sub.add_parser("account", help="create an account or change its role (e.g. an operator)")
    p_account.add_argument("action", choices=["create", "set-role"])
    p_account.add_argument("username")
    p_account.add_argument("--role", default="viewer", choices=["viewer", "creator", "operator"])
    p_account.add_argument("--config", type=Path)
    args = parser.parse_args(argv)
    config = _load(args.config, "streamfleet origin")
    if config is None:
        return 2
    configure_logging("origin", config.log_level)
    if args.command == "worker":
        return _run_worker(config)
    if args.command == "account":
        return _account(config, args.action, args.username, args.role)
    if args.command == "delete":
        from .ingest import delete_title

        try:
            removed = delete_title(config, args.title)
        except IngestError as exc:
            print(f"streamfleet origin delete: {exc}", file=sys.stderr)
            return 1
        print(json.dumps({"title": args.title, "deleted": removed}))
        return 0 if removed else 1

    from .app import build_app

    app = build_app(config)
    log.info("origin serving", extra={"host": config.host, "port": config.port,
                                      "data_dir": str(config.data_dir), "url": config.base_url})
    serve(app, config.host, config.port, config.http)  # returns after a graceful SIGTERM/SIGINT shutdown
    log.info("origin stopped")
    return 0


def _run_worker(config: OriginConfig) -> int:
    import threading

    from .worker import Worker

    stop = threading.Event()

    def handler(signum: int, frame: object) -> None:
        stop.set()  # finish the current job, then exit

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    worker = Worker(config)
    log.info("worker started", extra={"worker": worker.id, "data_dir": str(config.data_dir)})
    try:
        worker.run(stop)
    finally:
        worker.close()
    log.info("worker stopped", extra={"worker": worker.id})
    return 0


def _account(config: OriginConfig, action: str, username: str, role: str) -> int:
    """Operators are made here, on the origin host: sign-up over HTTP never grants that role."""
    import getpass

    from .accounts import AccountStore
    from .errors import AccountError

    store = AccountStore(config.accounts_db, config.accounts)
    try:
        if action == "create":
            tty = sys.stdin.isatty()
            password = getpass.getpass("password: ") if tty else sys.stdin.readline().rstrip("\n")
            account = store.create(username, password, role)
        else:
            account = store.set_role(username, role)
    except AccountError as exc:
        print(f"streamfleet origin account: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
    print(json.dumps({"id": account.id, "username": account.username, "role": account.role}))
    return 0


class _Progress:
    """Percentages on stderr: rewritten in place on a terminal, one line per 10% otherwise."""

    def __init__(self, title: str, stream: TextIO) -> None:
        self.title = title
        self.stream = stream
        self.tty = stream.isatty()
        self.shown = -1

    def __call__(self, fraction: float) -> None:
        percent = int(fraction * 100)
        step = 1 if self.tty else 10
        if percent // step <= self.shown // step and self.shown >= 0:
            return
        self.shown = percent
        end = "" if self.tty and percent < 100 else "\n"
        prefix = "\r" if self.tty else ""
        print(f"{prefix}ingest {self.title}: {percent:3d}%", end=end, file=self.stream, flush=True)



def ingest_main(argv: list[str]) -> int:
    """``streamfleet ingest FILE --title NAME [--id ID] [--config FILE]``.

    Runs the title through the pipeline's job queue with workers in this process and returns once
    it is ready. Progress goes to stderr; the last stdout line is the JSON result. Exit 1 on
    IngestError, 130 when interrupted (Ctrl-C, SIGTERM); nothing is left behind then.
    """
    parser = argparse.ArgumentParser(prog="streamfleet ingest", description="Ingest a video file as a title.")
    parser.add_argument("file", type=Path, help="source video")
    parser.add_argument("--title", required=True, help="human title name")
    parser.add_argument("--id", dest="title_id", help="title id (default: derived from --title)")
    parser.add_argument("--config", type=Path, help="origin TOML config (for data_dir and [ingest])")
    args = parser.parse_args(argv)
    config = _load(args.config, "streamfleet ingest")
    if config is None:
        return 2
    configure_logging("origin", config.log_level)
    from .ingest import ingest
    from .submit import title_id_for

    try:
        with sigterm_as_interrupt():
            tid = title_id_for(args.title, args.title_id)
            result = ingest(config, args.file, args.title, tid, progress=_Progress(tid, sys.stderr))
    except IngestError as exc:
        print(f"streamfleet ingest: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("streamfleet ingest: interrupted; nothing was stored", file=sys.stderr)
        return 130
    print(json.dumps(result.summary()), flush=True)
    return 0


def testclip_main(argv: list[str]) -> int:
    """``streamfleet testclip PATH [--seconds S] [--width W] [--height H] [--fps F] [--no-audio]``."""
    parser = argparse.ArgumentParser(prog="streamfleet testclip",
                                     description="Generate a test clip with the bundled ffmpeg.")
    parser.add_argument("path", type=Path)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--width", type=int, default=854)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--fps", type=int, default=24)
    parser.add_argument("--no-audio", action="store_true", help="video only")
    args = parser.parse_args(argv)
    from .testclip import generate_test_clip

    try:
        path = generate_test_clip(args.path, args.seconds, args.width, args.height, args.fps,
                                  audio=not args.no_audio)
    except (FfmpegError, ValueError, OSError) as exc:
        print(f"streamfleet testclip: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"path": str(path), "seconds": args.seconds, "width": args.width,
                      "height": args.height, "fps": args.fps, "audio": not args.no_audio}))
    return 0

__all__ = ["ingest_main", "main", "search_main", "testclip_main", "titles_main", "upload_main"]
