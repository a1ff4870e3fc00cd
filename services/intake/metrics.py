"""intake's outcome metrics: every partner request counted as accepted or rejected, with why."""

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from prometheus_client import CollectorRegistry, Counter

# The routes a partner reports through; status reads are not reports.
REPORT_ROUTES = frozenset({"/v1/escalations", "/v1/integrations/alertmanager", "/v2/enqueue"})
REJECTION_REASONS = {
    400: "malformed",
    401: "unauthorized",
    404: "not_found",
    409: "idempotency_conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "rate_limited",
    503: "unavailable",
}


def outcome(status_code: int) -> str:
    if status_code < 400:
        return "accepted"
    return REJECTION_REASONS.get(status_code, "server_error" if status_code >= 500 else "other")


def count_outcomes(app: FastAPI, registry: CollectorRegistry) -> None:
    """flare_intake_reports_total{route, partner, outcome}: outcome is `accepted` or the reason."""
    reports = Counter(
        "flare_intake_reports_total",
        "Partner reports by route, partner and outcome (accepted, or why rejected).",
        ["route", "partner", "outcome"],
        registry=registry,
    )

    @app.middleware("http")
    async def count(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        if request.method == "POST" and request.url.path in REPORT_ROUTES:
            # Set by authentication; an unknown caller's key never becomes a label.
            partner = getattr(request.state, "partner", "unauthenticated")
            reports.labels(request.url.path, partner, outcome(response.status_code)).inc()
        return response
