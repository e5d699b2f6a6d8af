"""Reverse proxy from the browser's same-origin ``/api/...`` paths to the services (httpx, streaming).

Bodies stream both ways (a tus upload never sits in memory). Hop-by-hop headers are dropped;
``X-Forwarded-For`` carries the browser's address so a service that trusts this server (steering's
``trusted_proxies``) can still localise the viewer. ``Location`` headers that point into the
service are rewritten under the mount path, so tus-js-client's follow-up requests come back here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import httpx
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from streamfleet.httpkit import json_error

HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
    "trailers", "transfer-encoding", "upgrade", "host",
})
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def forwarded_headers(request: Request, drop: Iterable[str] = (),
                      add: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
    """The request's headers as they go upstream: hop-by-hop and ``drop`` removed, ``add`` set,
    X-Forwarded-For/-Proto/-Host appended."""
    skip = HOP_BY_HOP | {d.lower() for d in drop} | {k.lower() for k in (add or {})}
    skip |= {"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"}
    headers = [(k, v) for k, v in request.headers.items() if k.lower() not in skip]
    headers.extend((add or {}).items())
    client = request.client.host if request.client else ""
    previous = request.headers.get("x-forwarded-for")
    if client:
        headers.append(("x-forwarded-for", f"{previous}, {client}" if previous else client))
    headers.append(("x-forwarded-proto", request.url.scheme))
    if "host" in request.headers:
        headers.append(("x-forwarded-host", request.headers["host"]))
    return headers


async def forward(client: httpx.AsyncClient, request: Request, upstream_base: str, path: str, *,
                  mount: str, drop: Iterable[str] = (), add: Mapping[str, str] | None = None,
                  timeout: httpx.Timeout | None = None, name: str = "service") -> Response:
    """Send ``request`` to ``upstream_base/path`` (query string kept) and stream the answer back.

    A service that cannot be reached becomes a 502 (504 on timeout) JSON error naming ``name``.
    """
    base = upstream_base.rstrip("/")
    url = f"{base}/{path}"
    if request.url.query:
        url += "?" + request.url.query
    content = request.stream() if request.method in BODY_METHODS else None
    upstream = client.build_request(request.method, url, headers=forwarded_headers(request, drop, add),
                                    content=content, timeout=timeout or client.timeout)
    try:
        answer = await client.send(upstream, stream=True)
    except httpx.TimeoutException:
        return json_error(504, f"{name} did not answer in time")
    except httpx.HTTPError:
        return json_error(502, f"{name} is unreachable")
    return streamed(answer, response_headers(answer, base, mount))


def response_headers(answer: httpx.Response, upstream_base: str, mount: str,
                     keep: frozenset[str] | None = None) -> list[tuple[bytes, bytes]]:
    """The answer's headers for the browser: hop-by-hop dropped (or only ``keep``), Location
    rewritten under ``mount`` when it points into the service."""
    out: list[tuple[bytes, bytes]] = []
    for raw_key, raw_value in answer.headers.raw:
        key = raw_key.decode("latin-1").lower()
        if key in HOP_BY_HOP or (keep is not None and key not in keep):
            continue
        value = raw_value
        if key == "location":
            value = rewrite_location(raw_value.decode("latin-1"), upstream_base, mount).encode("latin-1")
        out.append((key.encode("latin-1"), value))
    return out


def rewrite_location(location: str, upstream_base: str, mount: str) -> str:
    """``/v1/uploads/x`` or ``{upstream_base}/v1/uploads/x`` -> ``{mount}/v1/uploads/x``."""
    if location.startswith(upstream_base + "/"):
        return mount + location[len(upstream_base):]
    if location.startswith("/") and not location.startswith("//"):
        return mount + location
    return location


def streamed(answer: httpx.Response, headers: list[tuple[bytes, bytes]]) -> Response:
    """A response that streams ``answer``'s raw body (encoding untouched) and closes it after."""
    response = StreamingResponse(answer.aiter_raw(), status_code=answer.status_code,
                                 background=BackgroundTask(answer.aclose))
    response.raw_headers = headers
    return response
