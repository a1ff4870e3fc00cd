"""intake's /metrics: reports accepted and rejected by reason and partner; the outbox backlog."""

from prometheus_client.parser import text_string_to_metric_families

from services.intake.schemas import EXAMPLE_ESCALATION
from tests.conftest import FlareEnv
from tests.intake_support import partner_session


def samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    }


async def test_metrics_count_reports_by_outcome_and_partner_and_show_the_outbox(
    flare_env: FlareEnv,
) -> None:
    async with partner_session(flare_env) as partner:
        await partner.post()
        await partner.post()
        await partner.post({**EXAMPLE_ESCALATION, "category": "riot"})
        await partner.http.post("/v1/escalations", json=EXAMPLE_ESCALATION)
        text = (await partner.http.get("/metrics")).text
    reports = samples(text, "flare_intake_reports_total")
    route = ("route", "/v1/escalations")
    assert reports[(("outcome", "accepted"), ("partner", "safenet"), route)] == 2
    assert reports[(("outcome", "invalid"), ("partner", "safenet"), route)] == 1
    assert reports[(("outcome", "unauthorized"), ("partner", "unauthenticated"), route)] == 1
    for outbox_metric in ("flare_outbox_backlog", "flare_outbox_publish_seconds_count"):
        assert samples(text, outbox_metric), f"{outbox_metric} is exported"


async def test_request_metrics_are_labelled_by_route_template_not_raw_path(
    flare_env: FlareEnv,
) -> None:
    async with partner_session(flare_env) as partner:
        accepted = await partner.post()
        await partner.get(accepted.json()["id"])
        await partner.http.get("/no/such/page")
        text = (await partner.http.get("/metrics")).text
    requests = samples(text, "flare_http_requests_total")
    by_route = ("method", "GET"), ("route", "/v1/escalations/{escalation_id}"), ("status", "200")
    assert requests[by_route] == 1
    assert requests[("method", "GET"), ("route", "unmatched"), ("status", "404")] == 1
    assert requests[("method", "POST"), ("route", "/v1/escalations"), ("status", "202")] == 1
