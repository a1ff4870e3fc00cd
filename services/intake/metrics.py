"""intake's outcome metrics: every partner request counted as accepted or rejected, with why."""

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Counter
from starlette.types import Scope

from shared.metrics import ObserveResponses

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

    def count(scope: Scope, status: int, _: float) -> None:
        if scope["method"] == "POST" and scope["path"] in REPORT_ROUTES:
            # request.state.partner, set by authentication; an unknown caller's key never
            # becomes a label.
            partner = scope.get("state", {}).get("partner", "unauthenticated")
            reports.labels(scope["path"], partner, outcome(status)).inc()

    app.add_middleware(ObserveResponses, observe=count)
