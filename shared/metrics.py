"""Prometheus metrics: one registry per app, HTTP request metrics and the /metrics endpoint."""

import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.routing import Match


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

    def route_of(request: Request) -> str:
        for route in app.router.routes:
            match, _ = route.matches(request.scope)
            if match == Match.FULL:
                return str(getattr(route, "path", "other"))
        return "unmatched"

    @app.middleware("http")
    async def measure(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = route_of(request)
        requests.labels(request.method, route, str(response.status_code)).inc()
        latency.labels(request.method, route).observe(time.perf_counter() - started)
        return response

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
