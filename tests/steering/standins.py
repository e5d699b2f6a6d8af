"""Stand-ins for steering's neighbours: a WatchFleet server and an origin catalog on loopback."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from streamfleet.httpkit import uvicorn_config
from streamfleet.v1 import fleet_pb2, fleet_pb2_grpc


class StandInFleet(fleet_pb2_grpc.FleetServicer):  # type: ignore[misc]
    """WatchFleet like the control plane's: the current snapshot first, then every change."""

    def __init__(self, current: fleet_pb2.FleetState) -> None:
        self.current = current
        self.streams: list[asyncio.Queue[fleet_pb2.FleetState]] = []
        self.watchers: list[str] = []

    def publish(self, new: fleet_pb2.FleetState) -> None:
        self.current = new
        for queue in self.streams:
            queue.put_nowait(new)

    async def WatchFleet(
        self, request: fleet_pb2.WatchFleetRequest, context: object
    ) -> AsyncIterator[fleet_pb2.FleetState]:
        self.watchers.append(request.watcher)
        queue: asyncio.Queue[fleet_pb2.FleetState] = asyncio.Queue()
        self.streams.append(queue)
        try:
            yield self.current
            while True:
                yield await queue.get()
        finally:
            self.streams.remove(queue)


async def start_grpc(servicer: StandInFleet, port: int = 0) -> tuple[grpc.aio.Server, int]:
    server = grpc.aio.server()
    fleet_pb2_grpc.add_FleetServicer_to_server(servicer, server)
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    return server, bound


def origin_catalog_app(titles: dict[str, str]) -> Starlette:
    """GET /v1/titles/{title}: {"id", "status"} for known titles, 404 JSON otherwise."""

    async def title(request: Request) -> JSONResponse:
        ident = request.path_params["title"]
        if ident not in titles:
            return JSONResponse({"error": {"status": 404, "message": "unknown title"}}, status_code=404)
        return JSONResponse({"id": ident, "status": titles[ident], "files": {}})

    return Starlette(routes=[Route("/v1/titles/{title}", title)])


@asynccontextmanager
async def serve_http(app: Starlette) -> AsyncIterator[str]:
    """Run ``app`` under uvicorn on a free loopback port; yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn_config(app, "127.0.0.1", sock.getsockname()[1], lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()
