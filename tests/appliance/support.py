"""Test helpers: uvicorn servers in threads on free ports, and a stand-in origin with counters."""

from __future__ import annotations

import asyncio
import hashlib
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from appliance.app import build_app
from appliance.config import ApplianceConfig
from appliance.fastpath import FastServer
from streamfleet import tokens
from streamfleet.addressing import (
    AddressError,
    ChunkKey,
    make_key,
    master_key,
    parse_signed_path,
    segment_name,
)
from streamfleet.httpkit import json_error, uvicorn_config

TITLE = "clip"
SETTINGS = tokens.TokenSettings()
KEYRING = SETTINGS.keyring()


def sign(title: str = TITLE, ttl: int = 600) -> str:
    return tokens.sign(KEYRING, title, int(time.time()) + ttl)


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServerThread:
    """Runs an ASGI app under a real uvicorn server on a free loopback port, in a thread."""

    def __init__(self, app: ASGIApp, graceful_s: float = 1.0) -> None:
        self.server = uvicorn.Server(
            uvicorn_config(app, "127.0.0.1", 0, timeout_graceful_shutdown=graceful_s)
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = ""

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        assert not self.thread.is_alive(), "server thread did not stop"


class FastServerThread:
    """Runs the appliance's fast server (own event loop) on a free loopback port, in a thread."""

    def __init__(
        self, config: ApplianceConfig, graceful_s: float = 1.0, listener: socket.socket | None = None
    ) -> None:
        app = build_app(config)
        listener = listener or socket.create_server(("127.0.0.1", 0))
        self.server = FastServer(app, app.state.appliance, config, sock=listener, graceful_s=graceful_s)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self.url = ""

    def _run(self) -> None:
        try:
            asyncio.run(self.server.serve(lambda port: self.ready.set()))
        except BaseException as exc:  # surfaced by __enter__
            self.error = exc
            self.ready.set()

    def __enter__(self) -> FastServerThread:
        self.thread.start()
        if not self.ready.wait(10) or self.error is not None:
            raise RuntimeError(f"fast server did not start: {self.error!r}")
        self.url = f"http://127.0.0.1:{self.server.port}"
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.request_stop()
        self.thread.join(10)
        assert not self.thread.is_alive(), "fast server thread did not stop"


def make_title(title: str = TITLE, segments: int = 6, segment_bytes: int = 150_000) -> dict[str, bytes]:
    """Deterministic pseudo-random files of one title, by cache key."""
    rng = random.Random(title)
    files: dict[str, bytes] = {master_key(title).cache_key: b"#EXTM3U\n480p/index.m3u8\n"}
    files[make_key(title, "480p", "index.m3u8").cache_key] = b'#EXTM3U\n#EXT-X-MAP:URI="init.mp4"\n'
    files[make_key(title, "480p", "init.mp4").cache_key] = rng.randbytes(1234)
    for n in range(segments):
        files[make_key(title, "480p", segment_name(n)).cache_key] = rng.randbytes(segment_bytes + n)
    return files


def segment(n: int, title: str = TITLE) -> ChunkKey:
    return make_key(title, "480p", segment_name(n))


@dataclass
class StandInOrigin:
    """The two origin endpoints of the contract, serving in-memory files, with counters.

    ``corrupt`` keys are served with one byte flipped (right size, wrong sha256); ``delay_s``
    holds every chunk response back (so concurrent misses overlap); ``status`` is the title
    document's status.
    """

    titles: dict[str, dict[str, bytes]] = field(default_factory=lambda: {TITLE: make_title()})
    corrupt: set[str] = field(default_factory=set)
    delay_s: float = 0.0
    # Chunk bodies are sent in two halves this far apart (a slow origin mid-body).
    trickle_s: float = 0.0
    status: str = "ready"
    chunk_requests: Counter[str] = field(default_factory=Counter)
    catalog_requests: Counter[str] = field(default_factory=Counter)
    token_rejections: int = 0
    # Every token presented on a chunk request.
    tokens_seen: list[str] = field(default_factory=list)

    @property
    def total_requests(self) -> int:
        return sum(self.chunk_requests.values()) + sum(self.catalog_requests.values())

    async def _halves(self, body: bytes) -> AsyncIterator[bytes]:
        yield body[: len(body) // 2]
        await asyncio.sleep(self.trickle_s)
        yield body[len(body) // 2 :]

    def app(self) -> Starlette:
        async def title_doc(request: Request) -> Response:
            title = request.path_params["title"]
            self.catalog_requests[title] += 1
            files = self.titles.get(title)
            if files is None:
                return json_error(404, f"unknown title {title!r}")
            return JSONResponse(
                {
                    "id": title,
                    "name": title,
                    "status": self.status,
                    "duration_s": 24.0,
                    "renditions": [{"name": "480p", "width": 854, "height": 480, "bandwidth": 1_400_000}],
                    "files": {
                        k: {"size": len(v), "sha256": hashlib.sha256(v).hexdigest()} for k, v in files.items()
                    },
                }
            )

        async def chunk(request: Request) -> Response:
            try:
                token, key = parse_signed_path(request.url.path)
            except AddressError as exc:
                return json_error(404, str(exc))
            self.chunk_requests[key.cache_key] += 1
            self.tokens_seen.append(token)
            try:
                tokens.verify(KEYRING, token, key.title, time.time())
            except tokens.TokenError:
                self.token_rejections += 1
                return json_error(403, "bad token")
            body = self.titles.get(key.title, {}).get(key.cache_key)
            if body is None:
                return json_error(404, "no such file")
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            if key.cache_key in self.corrupt:
                body = bytes([body[0] ^ 0xFF]) + body[1:]
            if self.trickle_s:
                return StreamingResponse(
                    self._halves(body),
                    media_type=key.content_type,
                    headers={"content-length": str(len(body))},
                )
            return Response(body, media_type=key.content_type, headers={"etag": '"x"'})

        return Starlette(
            routes=[
                Route("/v1/titles/{title}", title_doc),
                Route("/s/{rest:path}", chunk, methods=["GET", "HEAD"]),
            ]
        )


def appliance_config(data_dir: Path, origin_url: str, **overrides: Any) -> ApplianceConfig:
    """A config for tests: nothing listens on its control-plane port, so the agent just retries."""
    base = ApplianceConfig(
        id="test-appliance",
        site="test",
        data_dir=data_dir,
        origin_url=origin_url,
        control_plane=f"127.0.0.1:{free_port()}",
        upstream_timeout_s=2.0,
    )
    return replace(base, **overrides)


@contextmanager
def running_appliance(config: ApplianceConfig) -> Iterator[str]:
    """A real appliance server (the config's ``server`` kind); yields its base URL."""
    if config.server == "fast":
        with FastServerThread(config) as fast:
            yield fast.url
        return
    with ServerThread(build_app(config)) as server:
        yield server.url


@contextmanager
def fleet(tmp_path: Path, origin: StandInOrigin | None = None, **overrides: Any) -> Iterator[tuple[str, str]]:
    """A stand-in origin and an appliance in front of it; yields (appliance URL, origin URL)."""
    origin = origin if origin is not None else StandInOrigin()
    with ServerThread(origin.app()) as origin_server:
        config = appliance_config(tmp_path / "appliance", origin_server.url, **overrides)
        with running_appliance(config) as url:
            yield url, origin_server.url


def url_of(base: str, key: ChunkKey, token: str | None = None) -> str:
    return base + key.signed_path(token if token is not None else sign(key.title))


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def files_of(origin: StandInOrigin, title: str = TITLE) -> Mapping[str, bytes]:
    return origin.titles[title]
