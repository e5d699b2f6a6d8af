"""Access logs: one structured JSON line per HTTP request, with signed and session tokens redacted.

Every HTTP service puts :func:`request_middleware` in front of its app: the request id (adopted
or minted, see :mod:`streamfleet.requestid`) wraps an :class:`AccessLogMiddleware`, so the line
logged when the response ends carries the id through the JSON formatter. The appliance's fast
path, which never enters ASGI, logs its (sampled) hits through :func:`log_access` directly.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Iterable
from urllib.parse import parse_qsl, urlencode

from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from streamfleet.clientip import ProxyTrust
from streamfleet.requestid import RequestIdMiddleware

LOGGER = "streamfleet.access"
REDACTED = "-"
# The path segment after any ``s`` segment is a signed URL token (``/s/{token}/...``, also
# behind prefixes such as the web page's relay): it grants access, so it is never logged.
_SIGNED_SEGMENT = re.compile(r"(^|/)s/[^/]+")
# Query parameters whose values could grant access (tokens, sessions, keys, passwords).
_SECRET_PARAM = re.compile(r"token|session|secret|password|passwd|key|sig|auth|credential", re.IGNORECASE)
# Probes from load balancers and Prometheus: logged at DEBUG so they do not drown the requests.
QUIET_PATHS = frozenset({"/healthz", "/metrics"})
# Longest path or query kept in a log line; the rest is cut (a client cannot bloat the log).
_MAX_TEXT = 512


def redact_path(path: str) -> str:
    """``path`` with every signed-URL token replaced by ``-`` and cut to 512 characters."""
    return _SIGNED_SEGMENT.sub(rf"\1s/{REDACTED}", path[: _MAX_TEXT * 2])[:_MAX_TEXT]


def redact_query(query: bytes | str) -> str:
    """The query string with the values of secret-looking parameters replaced by ``-``.

    Returns "" for an empty query. Parameter names are kept, so a log shows that one was sent.
    """
    text = query.decode("latin-1") if isinstance(query, bytes) else query
    if not text:
        return ""
    pairs = parse_qsl(text[: _MAX_TEXT * 2], keep_blank_values=True)
    cleaned = [(k, REDACTED if _SECRET_PARAM.search(k) else v) for k, v in pairs]
    return urlencode(cleaned)[:_MAX_TEXT]


def log_access(
    logger: logging.Logger,
    method: str,
    path: str,
    status: int,
    sent: int,
    duration_s: float,
    client: str,
    *,
    query: bytes | str = b"",
    request_id: str | None = None,
    peer: str | None = None,
) -> None:
    """Log one access line (INFO; DEBUG for /healthz and /metrics). ``path`` and ``query`` are
    redacted here; ``request_id`` is only needed outside a request context (the fast path);
    ``peer``, the proxy a request came through, is logged when it is not the client itself."""
    level = logging.DEBUG if path in QUIET_PATHS else logging.INFO
    if not logger.isEnabledFor(level):
        return
    fields: dict[str, object] = {
        "method": method,
        "path": redact_path(path),
        "status": status,
        "bytes": sent,
        "duration_ms": round(duration_s * 1000, 3),
        "client": client,
    }
    if peer is not None and peer != client:
        fields["peer"] = peer
    cleaned = redact_query(query)
    if cleaned:
        fields["query"] = cleaned
    if request_id is not None:
        fields["request_id"] = request_id
    logger.log(level, "request", extra=fields)


class AccessLogMiddleware:
    """Pure ASGI middleware logging one line per HTTP request when its response ends (or fails).

    ``bytes`` counts the body bytes the app sent (for ``http.response.pathsend``, the declared
    Content-Length); a request that raised before responding is logged as 500, one cancelled
    before responding (the client went away) as 499. Behind a load balancer, ``trust`` names the
    proxies whose X-Forwarded-For is believed, so ``client`` is the viewer and ``peer`` the proxy.
    Safe across tasks.
    """

    def __init__(
        self,
        app: ASGIApp,
        logger: logging.Logger | None = None,
        clock: Callable[[], float] = time.perf_counter,
        trust: ProxyTrust | None = None,
    ) -> None:
        self.app = app
        self.logger = logger or logging.getLogger(LOGGER)
        self.clock = clock
        self.trust = trust

    def _client(self, scope: Scope) -> tuple[str, str]:
        """(client, peer) of a request: the peer's address and, through trusted proxies, the client's."""
        peer = scope.get("client")
        host = str(peer[0]) if peer else ""
        if self.trust is None or not host:
            return host, host
        forwarded = [v.decode("latin-1") for k, v in scope.get("headers", ()) if k == b"x-forwarded-for"]
        address = self.trust.client_address(host, forwarded)
        return (str(address) if address is not None else host), host

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = self.clock()
        status = 0
        sent = 0
        declared = 0

        async def observe(message: Message) -> None:
            nonlocal status, sent, declared
            kind = message["type"]
            if kind == "http.response.start":
                status = int(message["status"])
                for name, value in message.get("headers", ()):
                    if name.lower() == b"content-length" and value.isdigit():
                        declared = int(value)
            elif kind == "http.response.body":
                sent += len(message.get("body", b""))
            elif kind in ("http.response.pathsend", "http.response.zerocopysend"):
                sent = declared  # the file goes out whole, below the app
            await send(message)

        try:
            await self.app(scope, receive, observe)
        except asyncio.CancelledError:
            status = status or 499
            raise
        except Exception:
            status = status or 500
            raise
        finally:
            client, peer = self._client(scope)
            log_access(
                self.logger, scope["method"], scope["path"], status, sent, self.clock() - started,
                client, query=scope.get("query_string", b""), peer=peer,
            )


def request_middleware(
    access_log: bool = True, mint: bool = True, trusted_proxies: Iterable[str] = ()
) -> list[Middleware]:
    """The request-id middleware (minting ids when ``mint``) and, when ``access_log``, the access
    log inside it, so each line carries the request's id. Put first in a Starlette app's list.
    ``trusted_proxies``: CIDRs whose X-Forwarded-For names the client logged (empty: the peer)."""
    stack = [Middleware(RequestIdMiddleware, mint=mint)]
    if access_log:
        trust = ProxyTrust(trusted_proxies) if trusted_proxies else None
        stack.append(Middleware(AccessLogMiddleware, trust=trust))
    return stack
