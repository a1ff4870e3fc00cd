"""A partner's tool resolving its alert resolves the case, once, in the timeline and on the wire."""

from services.router.service import handle_source_resolution
from shared.events import EscalationResolved, EventType
from shared.kafka import Envelope
from tests.conftest import FlareEnv
from tests.integration.conftest import fetch
from tests.integration.router_helpers import T0, escalation, handle_all, received, router_sessions


def resolved_by_tool(*escalation_ids: object) -> Envelope:
    body = EscalationResolved.model_validate(
        {
            "escalation_ids": list(escalation_ids),
            "correlation_key": "dedup:video:123",
            "partner": "prometheus",
            "resolved_at": T0.isoformat(),
        }
    )
    return Envelope.new(EventType.ESCALATION_RESOLVED, "/flare/intake", body)


async def test_the_tools_resolution_resolves_the_case_once(flare_env: FlareEnv) -> None:
    report = received(escalation())
    [case_id] = await handle_all(flare_env, report)
    resolution = resolved_by_tool(report.data["escalation_id"])
    async with router_sessions(flare_env) as sessions:
        first = await handle_source_resolution(sessions, flare_env.topics, resolution)
        again = await handle_source_resolution(sessions, flare_env.topics, resolution)
    assert first == [case_id]
    assert again == []
    [case] = await fetch(flare_env, "SELECT status, resolution_code FROM router.cases")
    assert (case["status"], case["resolution_code"]) == ("resolved", "resolved_at_source")
    events = await fetch(flare_env, "SELECT event_type, data FROM router.outbox ORDER BY id")
    assert [row["event_type"] for row in events] == ["flare.case.created", "flare.case.resolved"]


async def test_an_already_resolved_case_is_left_alone(flare_env: FlareEnv) -> None:
    report = received(escalation())
    await handle_all(flare_env, report)
    async with router_sessions(flare_env) as sessions:
        await handle_source_resolution(
            sessions, flare_env.topics, resolved_by_tool(report.data["escalation_id"])
        )
        later = await handle_source_resolution(
            sessions, flare_env.topics, resolved_by_tool(report.data["escalation_id"])
        )
    assert later == []
    assert len(await fetch(flare_env, "SELECT 1 FROM router.outbox")) == 2
