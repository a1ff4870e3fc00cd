"""Case changes that arrive from outside or late: a tool's resolution, a report after an ack."""

from datetime import timedelta
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.router import case_actions
from services.router.service import handle_events
from shared.events import EscalationResolved, EventType
from shared.kafka import Envelope
from tests.conftest import FlareEnv
from tests.integration.conftest import fetch
from tests.integration.router_helpers import (
    NO_LAG,
    POLICY,
    T0,
    escalation,
    handle_all,
    received,
    router_sessions,
    uncached,
)


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


async def handle(
    sessions: async_sessionmaker[AsyncSession], env: FlareEnv, event: Envelope
) -> list[UUID]:
    return await handle_events(sessions, env.topics, POLICY, uncached(), [event], NO_LAG)


async def test_the_tools_resolution_resolves_the_case_once(flare_env: FlareEnv) -> None:
    report = received(escalation())
    [case_id] = await handle_all(flare_env, report)
    resolution = resolved_by_tool(report.data["escalation_id"])
    async with router_sessions(flare_env) as sessions:
        first = await handle(sessions, flare_env, resolution)
        again = await handle(sessions, flare_env, resolution)
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
        await handle(sessions, flare_env, resolved_by_tool(report.data["escalation_id"]))
        later = await handle(sessions, flare_env, resolved_by_tool(report.data["escalation_id"]))
    assert later == []
    assert len(await fetch(flare_env, "SELECT 1 FROM router.outbox")) == 2


async def test_a_case_with_other_reports_stays_open_with_a_note(flare_env: FlareEnv) -> None:
    from_tool, from_flagger = received(escalation()), received(escalation())
    case_ids = await handle_all(flare_env, from_tool, from_flagger)
    assert case_ids[0] == case_ids[1], "same dedup key, one case"
    async with router_sessions(flare_env) as sessions:
        resolved = await handle(
            sessions, flare_env, resolved_by_tool(from_tool.data["escalation_id"])
        )
    assert resolved == []
    [case] = await fetch(flare_env, "SELECT status FROM router.cases")
    assert case["status"] == "open"
    notes = await fetch(
        flare_env, "SELECT actor, detail FROM router.case_timeline WHERE action = 'note_added'"
    )
    assert [row["actor"] for row in notes] == ["source:prometheus"]


async def test_a_case_resolves_once_every_tool_behind_it_has_resolved_its_own(
    flare_env: FlareEnv,
) -> None:
    """Two tools' alerts on one subject: each resolution names its own reports only. The
    first is noted; the second, finding none left open, resolves the case."""
    first_tool, second_tool = received(escalation()), received(escalation())
    await handle_all(flare_env, first_tool, second_tool)
    async with router_sessions(flare_env) as sessions:
        first = await handle(
            sessions, flare_env, resolved_by_tool(first_tool.data["escalation_id"])
        )
        second = await handle(
            sessions, flare_env, resolved_by_tool(second_tool.data["escalation_id"])
        )
    [case] = await fetch(flare_env, "SELECT id, status, resolution_code FROM router.cases")
    assert (first, second) == ([], [case["id"]])
    assert (case["status"], case["resolution_code"]) == ("resolved", "resolved_at_source")


async def test_a_late_report_never_moves_the_cases_clock_back(flare_env: FlareEnv) -> None:
    [case_id] = await handle_all(flare_env, received(escalation()))
    assert case_id is not None
    async with router_sessions(flare_env) as sessions, sessions.begin() as session:
        await case_actions.acknowledge(
            session, flare_env.topics, case_id, "ana", None, T0 + timedelta(minutes=10)
        )
    # Received before the acknowledgement, consumed after it (a backlog): it joins, and the clock
    # moves on by a tick, not back, so the join's snapshot is the newer one.
    await handle_all(flare_env, received(escalation(), at=T0 + timedelta(minutes=5)))
    [case] = await fetch(flare_env, "SELECT updated_at, report_count FROM router.cases")
    assert case["report_count"] == 2
    assert case["updated_at"] == T0 + timedelta(minutes=10, microseconds=1)
