"""Prometheus metrics of the origin's HTTP side: one registry per app, an ASGI counting layer."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class OriginMetrics:
    """The origin's counters, registered in their own CollectorRegistry (no global state)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        # Requests by route (endpoint name, "none" when no route matched), method and status.
        self.requests = Counter("origin_http_requests", "HTTP requests answered",
                                ["route", "method", "status"], registry=self.registry)
        # Response body bytes actually sent, by route.
        self.bytes_served = Counter("origin_http_bytes_served", "Response body bytes sent",
                                    ["route"], registry=self.registry)
        self.latency = Histogram("origin_http_request_seconds", "Time to answer a request",
                                 ["route"], registry=self.registry)
        # Signed-path requests refused before the store was touched.
        self.token_rejections = Counter("origin_token_rejections", "Requests refused for their token",
                                        registry=self.registry)


class MetricsMiddleware:
    """Counts every HTTP request's status and body bytes; the route label is the endpoint name."""

    def __init__(self, app: ASGIApp, metrics: OriginMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Without pathsend the body passes through ``send`` and can be counted.
        extensions = {k: v for k, v in scope.get("extensions", {}).items() if k != "http.response.pathsend"}
        scope = {**scope, "extensions": extensions}
        status = 500
        sent = 0
        started = time.perf_counter()

        async def counting_send(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        finally:
            endpoint = scope.get("endpoint")
            route = getattr(endpoint, "__name__", "none") if endpoint is not None else "none"
            self.metrics.requests.labels(route, scope["method"], str(status)).inc()
            self.metrics.bytes_served.labels(route).inc(sent)
            self.metrics.latency.labels(route).observe(time.perf_counter() - started)
