"""A stand-in origin catalog (GET /v1/titles, /v1/titles/{id}) for planning tests, in-process or on a port."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .harness import free_port


@dataclass
class StandInCatalog:
    """Titles by id: (status, file sizes, created); ``requests`` counts the paths served."""

    titles: dict[str, tuple[str, list[int], float]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)

    def add(self, title: str, sizes: list[int], status: str = "ready", created: float = 1.7e9) -> None:
        self.titles[title] = (status, sizes, created)


def build_origin_app(catalog: StandInCatalog) -> Starlette:
    async def titles(request: Request) -> Response:
        catalog.requests.append(request.url.path)
        return JSONResponse({"titles": [
            {"id": t, "name": t.title(), "status": status, "duration_s": 10.0, "created": created}
            for t, (status, _, created) in sorted(catalog.titles.items())
        ]})

    async def title(request: Request) -> Response:
        catalog.requests.append(request.url.path)
        ident = request.path_params["title"]
        if ident not in catalog.titles:
            return JSONResponse({"error": {"status": 404, "message": "no such title"}}, status_code=404)
        status, sizes, created = catalog.titles[ident]
        files: dict[str, Any] = {f"{ident}/480p/seg_{i:05d}.m4s": {"size": size, "sha256": "0" * 64}
                                 for i, size in enumerate(sizes)}
        return JSONResponse({"id": ident, "name": ident, "status": status, "duration_s": 10.0,
                             "created": created, "renditions": [], "files": files})

    return Starlette(routes=[Route("/v1/titles", titles), Route("/v1/titles/{title}", title)])


@contextmanager
def origin_on_a_port(catalog: StandInCatalog) -> Iterator[str]:
    """Serve the stand-in on a free loopback port from a thread; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(build_origin_app(catalog), host="127.0.0.1", port=port,
                                           log_config=None, access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise AssertionError("stand-in origin did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
