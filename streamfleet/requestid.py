"""Request ids: one id per playback, carried from steering to the appliance to the origin.

Steering mints the id and returns it with its answer; the player sends it as ``X-Request-Id`` on
every request of that playback; an appliance forwards it on its upstream fetch. Each service
keeps the id of the request it is handling in a context variable, and the JSON log formatter
adds it to every line logged meanwhile, so one grep follows a viewer through the whole fleet.
"""

from __future__ import annotations

import contextvars
import re
import secrets

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = "X-Request-Id"
_HEADER_BYTES = HEADER.lower().encode()
_VALID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

# The id of the request being handled by this task (None outside a request).
current: contextvars.ContextVar[str | None] = contextvars.ContextVar("streamfleet_request_id", default=None)


def new_request_id() -> str:
    """A fresh random id (64 bits, hex)."""
    return secrets.token_hex(8)


def accept(value: str | bytes | None) -> str | None:
    """``value`` when it is a well-formed id, else None (a client cannot inject log text)."""
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    return value if value is not None and _VALID.match(value) else None


def from_scope(scope: Scope) -> str | None:
    """The well-formed request id an ASGI request carries, if any."""
    for name, value in scope.get("headers", ()):
        if name == _HEADER_BYTES:
            return accept(value)
    return None


class RequestIdMiddleware:
    """Pure ASGI middleware: adopt the caller's id (or mint one), expose it to logging for the
    duration of the request, and echo it in the response headers. Safe across tasks."""

    def __init__(self, app: ASGIApp, mint: bool = True) -> None:
        self.app = app
        self.mint = mint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = from_scope(scope) or (new_request_id() if self.mint else None)
        if rid is None:
            await self.app(scope, receive, send)
            return
        token = current.set(rid)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).setdefault(HEADER, rid)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            current.reset(token)
