"""Media relay: players fetch signed video files through this server, from the appliance or origin
steering named, when those do not send CORS headers a page on another origin could use.

Only signed content paths pass (parsed by the kernel's addressing, token checked by the target),
only to appliances the control plane lists or to the origin, only GET and HEAD. A dead appliance
fails fast (short connect timeout) so the player moves on to the next ranked URL.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import Response

from streamfleet.addressing import AddressError, parse_signed_path
from streamfleet.httpkit import json_error

from .errors import NotFound, UpstreamUnavailable
from .proxy import response_headers, streamed

# x-request-id: the playback's id from steering, so the appliance and origin log lines join up.
REQUEST_HEADERS = (
    "range", "if-range", "if-none-match", "if-modified-since", "accept-encoding", "x-request-id",
)
RESPONSE_HEADERS = frozenset({
    "content-type", "content-length", "content-range", "content-encoding", "accept-ranges", "etag",
    "cache-control", "last-modified", "x-served-by", "x-cache",
})
# How long the appliance id -> URL map from the control plane is used before it is read again.
DIRECTORY_SECONDS = 5.0


class MediaRelay:
    """Relays signed content requests. Use from one event loop."""

    def __init__(self, client: httpx.AsyncClient, origin_url: str,
                 fleet: Callable[[], Awaitable[dict[str, Any]]], connect_timeout: float,
                 read_timeout: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._client = client
        self._origin = origin_url.rstrip("/")
        self._fleet = fleet
        self._timeout = httpx.Timeout(read_timeout, connect=connect_timeout)
        self._clock = clock
        self._directory: dict[str, str] = {}
        self._read_at = float("-inf")

    async def appliance_base(self, appliance_id: str) -> str:
        """The appliance's base URL. Raises NotFound or UpstreamUnavailable."""
        fresh = self._clock() - self._read_at < DIRECTORY_SECONDS
        if appliance_id not in self._directory or not fresh:
            fleet = await self._fleet()
            self._directory = {str(a["appliance_id"]): str(a["http_url"]).rstrip("/")
                               for a in fleet.get("appliances", []) if a.get("http_url")}
            self._read_at = self._clock()
        try:
            return self._directory[appliance_id]
        except KeyError:
            raise NotFound(f"unknown appliance {appliance_id[:80]!r}") from None

    async def relay(self, request: Request, appliance_id: str | None, rest: str) -> Response:
        """Relay ``/s/{rest}`` to the appliance (None: the origin)."""
        path = "/s/" + rest
        try:
            parse_signed_path(path)
        except AddressError:
            return json_error(404, "no such content")
        try:
            base = self._origin if appliance_id is None else await self.appliance_base(appliance_id)
        except NotFound as exc:
            return json_error(404, str(exc))
        except UpstreamUnavailable as exc:
            return json_error(502, str(exc))
        headers = {k: request.headers[k] for k in REQUEST_HEADERS if k in request.headers}
        upstream = self._client.build_request(request.method, base + path, headers=headers,
                                              timeout=self._timeout)
        name = "the origin" if appliance_id is None else f"appliance {appliance_id}"
        try:
            answer = await self._client.send(upstream, stream=True)
        except httpx.TimeoutException:
            return json_error(504, f"{name} did not answer in time")
        except httpx.HTTPError:
            return json_error(502, f"{name} is unreachable")
        return streamed(answer, response_headers(answer, base, "", keep=RESPONSE_HEADERS))
