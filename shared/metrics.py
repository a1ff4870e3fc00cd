"""Prometheus metrics: one registry per app, HTTP request metrics and the /metrics endpoint."""

import time
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Called after each HTTP response with the request's scope, the status sent and the seconds taken.
Observer = Callable[[Scope, int, float], None]


class ObserveResponses:
    """Plain ASGI middleware calling `observe` after every HTTP response (or failure: 500).
    Not Starlette's BaseHTTPMiddleware: that one costs a task and a stream per request."""

    def __init__(self, app: ASGIApp, observe: Observer) -> None:
        self.app, self.observe = app, observe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            self.observe(scope, status, time.perf_counter() - started)


def route_of(scope: Scope) -> str:
    """The matched route's template (set in the scope by the router), not the raw path."""
    route: Any = scope.get("route")
    return str(getattr(route, "path", "unmatched"))


def instrument(app: FastAPI, registry: CollectorRegistry) -> None:
    """Count and time every request by route template (not raw path: ids would explode labels)."""
    requests = Counter(
        "flare_http_requests_total",
        "HTTP requests.",
        ["method", "route", "status"],
        registry=registry,
    )
    latency = Histogram(
        "flare_http_request_seconds",
        "HTTP request latency.",
        ["method", "route"],
        registry=registry,
    )

    def measure(scope: Scope, status: int, seconds: float) -> None:
        route = route_of(scope)
        requests.labels(scope["method"], route, str(status)).inc()
        latency.labels(scope["method"], route).observe(seconds)

    app.add_middleware(ObserveResponses, observe=measure)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
