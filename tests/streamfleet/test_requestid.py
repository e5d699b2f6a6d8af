from __future__ import annotations

import json
import logging

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from streamfleet import requestid
from streamfleet.logs import JsonFormatter

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def app(seen: list[str | None]) -> requestid.RequestIdMiddleware:
    async def handler(request: Request) -> PlainTextResponse:
        seen.append(requestid.current.get())
        record = logging.LogRecord("t", logging.INFO, __file__, 1, "handled", (), None)
        return PlainTextResponse(JsonFormatter("test").format(record))

    return requestid.RequestIdMiddleware(Starlette(routes=[Route("/", handler)]))


async def test_caller_id_is_adopted_logged_and_echoed() -> None:
    seen: list[str | None] = []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app(seen)), base_url="http://t") as c:
        response = await c.get("/", headers={"X-Request-Id": "play-42.a_b"})
    assert response.headers["X-Request-Id"] == "play-42.a_b"
    assert seen == ["play-42.a_b"]
    assert json.loads(response.text)["request_id"] == "play-42.a_b"
    assert requestid.current.get() is None  # reset after the request


@pytest.mark.parametrize("bad", ["", "has space", "x" * 65, "new\nline", "semi;colon"])
async def test_malformed_ids_are_replaced(bad: str) -> None:
    seen: list[str | None] = []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app(seen)), base_url="http://t") as c:
        response = await c.get("/", headers={"X-Request-Id": bad})
    minted = response.headers["X-Request-Id"]
    assert minted != bad and requestid.accept(minted) == minted
    assert seen == [minted]


def test_log_lines_outside_requests_have_no_id() -> None:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "idle", (), None)
    assert "request_id" not in json.loads(JsonFormatter("test").format(record))
