from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from streamfleet import accesslog

from ..logcapture import captured_access_lines

pytestmark = pytest.mark.anyio

TOKEN = "demo.2000000000.c2VjcmV0LW1hYy1ieXRlcy1ub3QtZm9yLWxvZ3M"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def lines() -> Iterator[list[dict[str, Any]]]:
    with captured_access_lines("test") as captured:
        yield captured


def _app(access_log: bool = True, mint: bool = True) -> Starlette:
    async def chunk(request: Request) -> Response:
        return PlainTextResponse("x" * 1234)

    async def boom(request: Request) -> Response:
        raise RuntimeError("boom")

    async def ok(request: Request) -> Response:
        return PlainTextResponse("ok")

    return Starlette(
        routes=[Route("/s/{rest:path}", chunk), Route("/boom", boom), Route("/healthz", ok),
                Route("/v1/x", ok)],
        middleware=accesslog.request_middleware(access_log, mint=mint),
    )


def _client(app: Any) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=("10.1.2.3", 5555))
    return httpx.AsyncClient(transport=transport, base_url="http://t")


async def test_one_line_per_request_with_redacted_token_and_request_id(lines: list[dict[str, Any]]) -> None:
    async with _client(_app()) as c:
        response = await c.get(f"/s/{TOKEN}/my-title/720p/seg_00001.m4s", headers={"X-Request-Id": "play-1"})
    assert response.status_code == 200
    [line] = lines
    assert line["msg"] == "request" and line["logger"] == accesslog.LOGGER
    assert line["method"] == "GET"
    assert line["path"] == "/s/-/my-title/720p/seg_00001.m4s"
    assert line["status"] == 200 and line["bytes"] == 1234
    assert line["request_id"] == "play-1" == response.headers["X-Request-Id"]
    assert line["client"] == "10.1.2.3"
    assert 0 <= line["duration_ms"] < 5000
    assert TOKEN not in json.dumps(line) and "c2VjcmV0" not in json.dumps(line)


async def test_secret_query_values_are_redacted_names_kept(lines: list[dict[str, Any]]) -> None:
    async with _client(_app()) as c:
        params = {"q": "cats", "session": "abc.def", "access_token": "zzz", "api_key": "k"}
        await c.get("/v1/x", params=params)
    [line] = lines
    assert line["query"] == "q=cats&session=-&access_token=-&api_key=-"
    assert "abc.def" not in json.dumps(line) and "zzz" not in json.dumps(line)


async def test_a_failing_request_is_logged_as_500(lines: list[dict[str, Any]]) -> None:
    async with _client(_app()) as c:
        response = await c.get("/boom")
    assert response.status_code == 500
    assert [(line["path"], line["status"]) for line in lines] == [("/boom", 500)]


async def test_probes_log_at_debug_only(lines: list[dict[str, Any]]) -> None:
    async with _client(_app()) as c:
        await c.get("/healthz")
        await c.get("/v1/x")
    assert [line["path"] for line in lines] == ["/v1/x"]


async def test_switched_off_logs_nothing_but_ids_still_flow(lines: list[dict[str, Any]]) -> None:
    async with _client(_app(access_log=False)) as c:
        response = await c.get("/v1/x")
    assert lines == []
    assert response.headers["X-Request-Id"]


async def test_without_minting_a_request_without_id_logs_none(lines: list[dict[str, Any]]) -> None:
    async with _client(_app(mint=False)) as c:
        await c.get("/v1/x")
    [line] = lines
    assert "request_id" not in line and line["status"] == 200


async def test_behind_a_trusted_proxy_the_viewer_is_logged(lines: list[dict[str, Any]]) -> None:
    async def ok(request: Request) -> Response:
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/v1/x", ok)],
                    middleware=accesslog.request_middleware(trusted_proxies=["10.1.2.0/24"]))
    async with _client(app) as c:  # the peer, 10.1.2.3, is the load balancer
        await c.get("/v1/x", headers={"X-Forwarded-For": "192.0.2.1, 198.51.100.7"})
        await c.get("/v1/x")
    # The right-most address the proxy vouches for is the client; what it was handed is not.
    assert [(line["client"], line.get("peer")) for line in lines] == [
        ("198.51.100.7", "10.1.2.3"), ("10.1.2.3", None)]
    lines.clear()
    async with _client(_app()) as c:  # no trusted proxies: the header is a client's claim
        await c.get("/v1/x", headers={"X-Forwarded-For": "198.51.100.7"})
    [line] = lines
    assert line["client"] == "10.1.2.3" and "peer" not in line


async def test_pathsend_counts_the_declared_length(lines: list[dict[str, Any]]) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 206,
                    "headers": [(b"content-length", b"4096")]})
        await send({"type": "http.response.pathsend", "path": "/nonexistent"})

    sent: list[dict[str, Any]] = []

    async def collect(message: Any) -> None:
        sent.append(message)

    async def nothing() -> Any:
        return {"type": "http.request", "body": b"", "more_body": False}

    scope: Scope = {"type": "http", "method": "HEAD", "path": "/a/s/tok/t/init.mp4", "query_string": b"",
             "headers": [], "client": None}
    await accesslog.AccessLogMiddleware(app)(scope, nothing, collect)
    [line] = lines
    assert (line["status"], line["bytes"], line["client"]) == (206, 4096, "")
    assert line["path"] == "/a/s/-/t/init.mp4"
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.pathsend"]


@pytest.mark.parametrize(("path", "expected"), [
    ("/s/tok/t/master.m3u8", "/s/-/t/master.m3u8"),
    ("/api/relay/appliance/east-1/s/tok/t/a.mp4", "/api/relay/appliance/east-1/s/-/t/a.mp4"),
    ("/v1/titles/s", "/v1/titles/s"),
    ("/videos/x", "/videos/x"),
    ("/" + "a" * 5000, "/" + "a" * 511),
])
def test_redact_path(path: str, expected: str) -> None:
    assert accesslog.redact_path(path) == expected
