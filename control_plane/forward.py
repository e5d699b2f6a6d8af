"""Forwarding the operator requests only the planning replica can answer (plan now, the last plan,
top titles) from whichever replica a load balancer picked to the one holding the planner lease."""

from __future__ import annotations

from typing import Protocol

import httpx
from starlette.requests import Request
from starlette.responses import Response

from streamfleet import requestid
from streamfleet.httpkit import json_error

from .lease import Lease

# Marks a forwarded request, so two replicas that disagree about the leader never bounce it.
FORWARDED_HEADER = "X-Streamfleet-Forwarded"
# Planning thousands of titles after a catalog read can take a while.
TIMEOUT_S = 120.0


class Leadership(Protocol):
    """What the HTTP adapter needs of the planner lease (``lease.LeaderLease``)."""

    def holding(self) -> bool: ...

    def leader(self) -> Lease | None: ...


async def to_leader(request: Request, leadership: Leadership) -> Response:
    """The planning replica's answer to ``request``: 503 when no replica holds the lease (or the
    request was forwarded already), 502 when the holder cannot be reached."""
    lease = leadership.leader()
    if lease is None or request.headers.get(FORWARDED_HEADER):
        return json_error(503, "no control-plane replica holds the planner lease right now; retry shortly")
    headers = {FORWARDED_HEADER: "1"}
    for name in ("authorization", "content-type"):
        if name in request.headers:
            headers[name] = request.headers[name]
    rid = requestid.current.get()
    if rid is not None:
        headers[requestid.HEADER] = rid
    url = lease.address.rstrip("/") + request.url.path
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT_S) as client:
            answer = await client.request(request.method, url, params=request.query_params,
                                          content=await request.body(), headers=headers)
    except httpx.HTTPError as exc:
        return json_error(502, f"the planning replica {lease.holder} at {lease.address} did not answer: "
                               f"{type(exc).__name__}")
    return Response(answer.content, answer.status_code, media_type=answer.headers.get("content-type"))
