"""Client-side commands talking to an origin over HTTP: ``upload`` (tus), ``titles``, ``search``."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

import httpx

from streamfleet.config import ConfigError

from .config import OriginConfig, load


def _load(path: Path | None, prog: str) -> OriginConfig | None:
    try:
        return load(path)
    except ConfigError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return None


class _ByteProgress:
    """An upload progress bar on stderr: redrawn in place on a terminal, one line per 10% otherwise."""

    def __init__(self, label: str, stream: TextIO, clock: Callable[[], float] = time.monotonic) -> None:
        self.label = label
        self.stream = stream
        self.tty = stream.isatty()
        self.clock = clock
        self.started = clock()
        self.first: int | None = None
        self.shown = -1

    def __call__(self, done: int, total: int) -> None:
        if self.first is None:
            self.first = done
        percent = 100 if total == 0 else int(done * 100 / total)
        step = 1 if self.tty else 10
        if self.shown >= 0 and percent // step <= self.shown // step:
            return
        self.shown = percent
        elapsed = max(1e-6, self.clock() - self.started)
        rate = (done - self.first) / elapsed / 1e6
        bar = "#" * (percent // 4) + "." * (25 - percent // 4)
        text = (f"upload {self.label} [{bar}] {percent:3d}% {done / 1e6:,.1f}/{total / 1e6:,.1f} MB "
                f"{rate:,.1f} MB/s")
        end = "" if self.tty and percent < 100 else "\n"
        print(("\r" if self.tty else "") + text, end=end, file=self.stream, flush=True)


def _default_state_file() -> Path:
    return Path.home() / ".cache" / "streamfleet" / "uploads.json"


def upload_main(argv: list[str]) -> int:
    """``streamfleet upload FILE --title T [--description D] [--tags a,b] [--origin URL] [--token T]``.

    Resumable (tus): run it again after an interruption and it continues where the origin stopped.
    Progress goes to stderr; the last stdout line is JSON ``{"title", "upload", "bytes", "sent"}``.
    Exit 1 when the origin refuses the upload (e.g. not a video), 2 on usage errors.
    """
    parser = argparse.ArgumentParser(prog="streamfleet upload",
                                     description="Upload a video (resumable, tus).")
    parser.add_argument("file", type=Path)
    parser.add_argument("--title", required=True, help="title name")
    parser.add_argument("--description", default="")
    parser.add_argument("--tags", default="", help="comma-separated")
    parser.add_argument("--cast", default="", help="comma-separated names")
    parser.add_argument("--release-date", default="", help="YYYY-MM-DD")
    parser.add_argument("--id", dest="title_id", default="", help="title id (default: derived from --title)")
    parser.add_argument("--origin", default=None, help="origin base URL (default: from --config, else "
                                                        "http://127.0.0.1:8000)")
    parser.add_argument("--config", type=Path, help="origin TOML config (for its URL)")
    parser.add_argument("--token", default=None, help="session token of a creator (POST /v1/sessions)")
    parser.add_argument("--chunk-mb", type=int, default=256, help="PATCH size in MiB")
    parser.add_argument("--no-checksum", action="store_true", help="skip the per-PATCH sha1")
    parser.add_argument("--state", type=Path, default=None, help="resume state file")
    args = parser.parse_args(argv)
    if not args.file.is_file():
        print(f"streamfleet upload: {args.file}: no such file", file=sys.stderr)
        return 2
    base = args.origin
    if base is None:
        config = _load(args.config, "streamfleet upload") if args.config else OriginConfig()
        if config is None:
            return 2
        base = config.base_url
    from .tus_client import ResumeState, TusClientError, TusUploader, upload_file

    metadata = {"filename": args.file.name, "title": args.title, "description": args.description,
                "tags": args.tags, "cast": args.cast, "release_date": args.release_date}
    if args.title_id:
        metadata["id"] = args.title_id
    metadata = {k: v for k, v in metadata.items() if v}
    state = ResumeState(args.state or _default_state_file())
    try:
        with TusUploader(base.rstrip("/") + "/v1/uploads", args.token, args.chunk_mb << 20,
                         checksum=not args.no_checksum) as uploader:
            bar = _ByteProgress(args.file.name, sys.stderr)
            outcome = upload_file(uploader, args.file, metadata, state, bar)
    except TusClientError as exc:
        print(f"streamfleet upload: {exc}", file=sys.stderr)
        return 1
    except (httpx.HTTPError, OSError) as exc:
        print(f"streamfleet upload: interrupted ({exc}); run the same command again to resume",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("streamfleet upload: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    print(json.dumps({"title": outcome.title, "upload": outcome.url, "bytes": outcome.length,
                      "sent": outcome.sent}), flush=True)
    return 0


def _origin_url(args: argparse.Namespace, prog: str) -> str | None:
    if args.origin:
        return str(args.origin).rstrip("/")
    config = _load(args.config, prog) if args.config else OriginConfig()
    return None if config is None else config.base_url


def _print_progress(detail: dict[str, object]) -> None:
    progress = detail.get("progress")
    if not isinstance(progress, dict) or not progress:
        return
    print(f"  stage: {progress.get('stage')}")
    renditions = progress.get("renditions")
    if isinstance(renditions, dict):
        for name, entry in renditions.items():
            done, total = entry["chunks_done"], entry["chunks"]
            bar = "#" * (20 * done // max(1, total))
            print(f"  {name:>6} [{bar:<20}] {done}/{total} chunks")
    if "audio" in progress:
        print(f"   audio {progress['audio']}")


def titles_main(argv: list[str]) -> int:
    """``streamfleet titles list|show ID [--origin URL] [--json]``: the catalog as the origin serves it."""
    parser = argparse.ArgumentParser(prog="streamfleet titles", description="List or show titles.")
    sub = parser.add_subparsers(dest="command", required=True)
    p_list = sub.add_parser("list")
    p_list.add_argument("--sort", choices=["created", "new", "popular"], default="created")
    p_show = sub.add_parser("show")
    p_show.add_argument("title")
    for p in (p_list, p_show):
        p.add_argument("--origin", default=None)
        p.add_argument("--config", type=Path)
        p.add_argument("--json", action="store_true", help="print the raw JSON")
    args = parser.parse_args(argv)
    base = _origin_url(args, "streamfleet titles")
    if base is None:
        return 2
    try:
        if args.command == "list":
            response = httpx.get(f"{base}/v1/titles", params={"sort": args.sort}, timeout=10)
        else:
            response = httpx.get(f"{base}/v1/titles/{args.title}", timeout=10)
    except httpx.HTTPError as exc:
        print(f"streamfleet titles: cannot reach {base}: {exc}", file=sys.stderr)
        return 1
    if response.status_code != 200:
        print(f"streamfleet titles: HTTP {response.status_code}: {response.text[:200]}", file=sys.stderr)
        return 1
    body = response.json()
    if args.json:
        print(json.dumps(body))
        return 0
    if args.command == "list":
        for t in body["titles"]:
            print(f"{t['id']:<40} {t['status']:<11} {t['duration_s']:8.1f} s  {t['name']}")
        return 0
    print(f"{body['id']}: {body['name']} ({body['status']}, {body['duration_s']:.1f} s)")
    if body.get("error"):
        print(f"  error: {body['error']}")
    if body.get("tags"):
        print(f"  tags: {', '.join(body['tags'])}")
    for r in body.get("renditions", []):
        print(f"  {r['name']:>6} {r['width']}x{r['height']} {r['bandwidth'] / 1000:,.0f} kb/s")
    _print_progress(body)
    return 0


def search_main(argv: list[str]) -> int:
    """``streamfleet search QUERY [--tag T] [--limit N] [--origin URL] [--json]``: search ready titles."""
    parser = argparse.ArgumentParser(prog="streamfleet search", description="Search the catalog.")
    parser.add_argument("query", nargs="?", default="")
    parser.add_argument("--tag", default=None)
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--origin", default=None)
    parser.add_argument("--config", type=Path)
    parser.add_argument("--json", action="store_true", help="print the raw JSON")
    args = parser.parse_args(argv)
    base = _origin_url(args, "streamfleet search")
    if base is None:
        return 2
    params = {"q": args.query, "limit": str(args.limit), **({"tag": args.tag} if args.tag else {})}
    try:
        response = httpx.get(f"{base}/v1/search", params=params, timeout=10)
    except httpx.HTTPError as exc:
        print(f"streamfleet search: cannot reach {base}: {exc}", file=sys.stderr)
        return 1
    if response.status_code != 200:
        print(f"streamfleet search: HTTP {response.status_code}: {response.text[:200]}", file=sys.stderr)
        return 1
    body = response.json()
    if args.json:
        print(json.dumps(body))
        return 0
    if body.get("corrected"):
        print(f"(showing results for {body['corrected']!r})")
    for hit in body["results"]:
        print(f"{hit['id']:<40} {hit['name']}")
    return 0 if body["results"] else 1
