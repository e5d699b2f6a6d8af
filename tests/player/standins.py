"""A fake HLS title and stand-in steering, appliances and origin, for MockTransport or uvicorn."""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from streamfleet import addressing, tokens
from streamfleet.httpkit import uvicorn_config

KEYRING = tokens.TokenSettings().keyring()
EXPIRES = 4_000_000_000


@dataclass
class FakeTitle:
    """Files of a title by cache key, like the origin would store them."""

    title: str
    files: dict[str, bytes]

    def catalog(self) -> dict[str, Any]:
        return {
            "id": self.title,
            "status": "ready",
            "files": {
                key: {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
                for key, data in self.files.items()
            },
        }


def make_title(
    title: str = "film",
    renditions: tuple[tuple[str, int], ...] = (("240p", 40_000), ("480p", 140_000)),
    segments: int = 4,
    duration: float = 4.0,
    audio: int = 0,
) -> FakeTitle:
    """Segments are sized so each rendition's bitrate equals its BANDWIDTH. ``audio``: the bitrate
    of an audio rendition of its own (the origin's layout: "audio/", one group every variant plays
    with, counted in their BANDWIDTH); 0 for none."""
    files: dict[str, bytes] = {}
    master = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS"]
    if audio:
        master.append('#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="Main",DEFAULT=YES,AUTOSELECT=YES,'
                      'CHANNELS="2",URI="audio/index.m3u8"')
        # AAC frames do not end on the video's boundaries: a few ms off, as the origin's are.
        _media_files(files, title, "audio", audio, segments, duration + 0.010667)
    for name, bandwidth in renditions:
        height = int(name[:-1])
        group = ',AUDIO="aud"' if audio else ""
        master += [
            f"#EXT-X-STREAM-INF:BANDWIDTH={bandwidth + audio},RESOLUTION={height * 16 // 9}x{height},"
            f'CODECS="avc1.64001e,mp4a.40.2"{group}',
            f"{name}/index.m3u8",
        ]
        _media_files(files, title, name, bandwidth, segments, duration)
    files[f"{title}/master.m3u8"] = ("\n".join(master) + "\n").encode()
    return FakeTitle(title, files)


def _media_files(files: dict[str, bytes], title: str, name: str, bandwidth: int, segments: int,
                 duration: float) -> None:
    media = ["#EXTM3U", "#EXT-X-VERSION:7", f"#EXT-X-TARGETDURATION:{round(duration)}",
             "#EXT-X-PLAYLIST-TYPE:VOD", '#EXT-X-MAP:URI="init.mp4"']  # fmt: skip
    files[f"{title}/{name}/init.mp4"] = f"init {title} {name}".encode() * 10
    size = int(bandwidth * duration / 8)
    for i in range(segments):
        seed = f"{title}/{name}/{i}:".encode()
        files[f"{title}/{name}/{addressing.segment_name(i)}"] = (seed * (size // len(seed) + 1))[:size]
        media += [f"#EXTINF:{duration:.6f},", addressing.segment_name(i)]
    media.append("#EXT-X-ENDLIST")
    files[f"{title}/{name}/index.m3u8"] = ("\n".join(media) + "\n").encode()


@dataclass
class Answer:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


class ContentServer:
    """An appliance (X-Cache, X-Served-By) or, with ``ident=None``, the origin (also /v1/titles)."""

    def __init__(
        self,
        ident: str | None,
        title: FakeTitle,
        *,
        fail_after: int | None = None,
        tamper: tuple[str, ...] = (),
        replace: dict[str, bytes] | None = None,
    ) -> None:
        self.ident = ident
        self.title = title
        self.fail_after = fail_after  # answer 500 to every request after this many
        self.tamper = set(tamper)  # cache keys served with one byte flipped
        self.replace = replace or {}  # cache keys served with other bytes
        self.seen: set[str] = set()
        self.requests: list[str] = []

    def answer(self, method: str, path: str) -> Answer:
        if self.ident is None and path == f"/v1/titles/{self.title.title}":
            return Answer(
                200, json.dumps(self.title.catalog()).encode(), {"content-type": "application/json"}
            )
        self.requests.append(path)
        if self.fail_after is not None and len(self.requests) > self.fail_after:
            return Answer(500, b'{"error": {"status": 500, "message": "disk on fire"}}')
        try:
            token, key = addressing.parse_signed_path(path)
            tokens.verify(KEYRING, token, key.title, now=0)
        except (addressing.AddressError, tokens.TokenError):
            return Answer(403)
        data = self.replace.get(key.cache_key, self.title.files.get(key.cache_key))
        if data is None:
            return Answer(404)
        if key.cache_key in self.tamper:
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        headers = {"content-type": key.content_type}
        if self.ident is not None:
            headers["x-cache"] = "HIT" if key.cache_key in self.seen else "MISS"
            headers["x-served-by"] = self.ident
        self.seen.add(key.cache_key)
        return Answer(200, data, headers)


class SteeringStandIn:
    """POST /v1/playback answers ``bases`` in order; (base URL, appliance id or None for the origin)."""

    def __init__(self, bases: list[tuple[str, str | None]], status: int = 200) -> None:
        self.bases = bases
        self.status = status

    def answer(self, method: str, path: str, body: bytes) -> Answer:
        if self.status != 200:
            return Answer(
                self.status,
                json.dumps({"error": {"status": self.status, "message": "no such title"}}).encode(),
            )
        title = json.loads(body)["title"]
        signed = addressing.master_key(title).signed_path(tokens.sign(KEYRING, title, EXPIRES))
        urls = [
            {
                "url": base + signed,
                "kind": "appliance" if ident else "origin",
                "appliance": ident,
                "site": "east" if ident else None,
                "reason": "client-site" if ident else "origin",
            }
            for base, ident in self.bases
        ]
        doc = {"title": title, "site": "east", "site_reason": "prefix", "expires_at": EXPIRES, "urls": urls}
        return Answer(200, json.dumps(doc).encode(), {"content-type": "application/json"})


Handler = Callable[[httpx.Request], httpx.Response]


def mock_network(hosts: dict[str, ContentServer | SteeringStandIn]) -> Handler:
    """A MockTransport handler dispatching on host:port; unknown hosts refuse connections."""

    def handle(request: httpx.Request) -> httpx.Response:
        server = hosts.get(f"{request.url.host}:{request.url.port}")
        if server is None:
            raise httpx.ConnectError("connection refused", request=request)
        if isinstance(server, SteeringStandIn):
            a = server.answer(request.method, request.url.path, request.read())
        else:
            a = server.answer(request.method, request.url.path)
        return httpx.Response(a.status, content=a.body, headers=a.headers)

    return handle


def asgi(server: ContentServer | SteeringStandIn) -> Starlette:
    async def endpoint(request: Request) -> Response:
        if isinstance(server, SteeringStandIn):
            a = server.answer(request.method, request.url.path, await request.body())
        else:
            a = server.answer(request.method, request.url.path)
        return Response(a.body, status_code=a.status, headers=a.headers)

    return Starlette(routes=[Route("/{path:path}", endpoint, methods=["GET", "POST"])])


def free_socket() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def serving(apps: list[Starlette]) -> Iterator[list[str]]:
    """Run ``apps`` under uvicorn in a background thread, on free ports; yields their base URLs."""
    sockets = [free_socket() for _ in apps]
    servers = [
        uvicorn.Server(uvicorn_config(app, "127.0.0.1", s.getsockname()[1], lifespan="off"))
        for app, s in zip(apps, sockets, strict=True)
    ]

    async def run_all() -> None:
        await asyncio.gather(*(srv.serve(sockets=[s]) for srv, s in zip(servers, sockets, strict=True)))

    thread = threading.Thread(target=asyncio.run, args=(run_all(),), daemon=True)
    thread.start()
    try:
        for _ in range(500):
            if all(srv.started for srv in servers):
                break
            threading.Event().wait(0.01)
        yield [f"http://127.0.0.1:{s.getsockname()[1]}" for s in sockets]
    finally:
        for srv in servers:
            srv.should_exit = True
        thread.join(10)
        for s in sockets:
            s.close()
