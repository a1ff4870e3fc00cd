"""Status read-back: intake learns from the cases topic where each report went."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from services.intake.service import record_case_events
from shared.db import make_engine, make_sessions
from shared.events import (
    CaseEvent,
    CaseSnapshot,
    CaseStatus,
    Category,
    EventType,
    Product,
    Severity,
)
from shared.kafka import Envelope, EventProducer, OutgoingMessage
from tests.conftest import FlareEnv
from tests.intake_support import PartnerClient, partner_session
from tests.integration.conftest import fetch

DEADLINE_S = 20.0


def case_event(case_id: UUID, escalation_id: UUID | None, **changes: Any) -> CaseEvent:
    now = datetime.now(UTC)
    snapshot = {
        "case_id": case_id,
        "status": CaseStatus.OPEN,
        "title": "t",
        "category": Category.CRISIS,
        "product": Product.FACEBOOK,
        "correlation_key": "dedup:video:123",
        "created_at": now,
        "updated_at": now,
        "severity": Severity.SEV1,
        "score": 91,
        "team": "Global Operations",
        "watchers": ["Public Policy", "Communications"],
    }
    return CaseEvent(
        case=CaseSnapshot.model_validate(snapshot | changes),
        escalation_id=escalation_id,
        actor="router",
    )


async def publish(env: FlareEnv, event_type: EventType, event: CaseEvent) -> Envelope:
    producer = EventProducer(env.kafka_access, "test-router")
    try:
        envelope = Envelope.new(event_type, "/flare/router", event)
        await producer.send_all(
            [OutgoingMessage(env.topics.cases, str(event.case.case_id), envelope)]
        )
    finally:
        await producer.stop()
    return envelope


async def record(env: FlareEnv, events: list[tuple[CaseEvent, datetime]]) -> None:
    """intake's status consumer's step, on its own engine: the events recorded in one go."""
    engine = make_engine(env.database_url, pool_size=1)
    try:
        await record_case_events(make_sessions(engine), events)
    finally:
        await engine.dispose()


async def status_when(partner: PartnerClient, escalation_id: str, **expected: Any) -> Any:
    """The escalation's status once it shows `expected`, failing at the deadline."""
    async with asyncio.timeout(DEADLINE_S):
        while True:
            shown = (await partner.get(escalation_id)).json()
            if all(shown.get(name) == value for name, value in expected.items()):
                return shown
            await asyncio.sleep(0.1)


async def test_escalation_is_accepted_then_routed_with_its_case(flare_env: FlareEnv) -> None:
    async with partner_session(flare_env) as partner:
        accepted = (await partner.post()).json()
        escalation_id, received_at = accepted["id"], datetime.fromisoformat(accepted["received_at"])
        assert (await partner.get(escalation_id)).json()["status"] == "accepted"
        case_id = uuid4()
        # As the router makes it: the case's clock starts at its report's arrival.
        created = case_event(
            case_id, UUID(escalation_id), created_at=received_at, updated_at=received_at
        )
        sent = await publish(flare_env, EventType.CASE_CREATED, created)
        routed = await status_when(partner, escalation_id, status="routed")
        # A later change to the case (no report named) still shows on every report in it.
        await publish(
            flare_env,
            EventType.CASE_REASSIGNED,
            case_event(case_id, None, team="Legal", severity=Severity.SEV2, score=70),
        )
        reassigned = await status_when(partner, escalation_id, team="Legal")
    assert routed["case_id"] == str(case_id)
    assert datetime.fromisoformat(routed["routed_at"]) == sent.time > received_at
    assert routed["severity"] == "SEV1"
    assert routed["score"] == 91
    assert routed["team"] == "Global Operations"
    assert routed["watchers"] == ["Public Policy", "Communications"]
    assert (reassigned["severity"], reassigned["score"]) == ("SEV2", 70)


async def test_unreadable_case_event_is_skipped_and_status_keeps_flowing(
    flare_env: FlareEnv,
) -> None:
    async with partner_session(flare_env) as partner:
        escalation_id = (await partner.post()).json()["id"]
        producer = EventProducer(flare_env.kafka_access, "test-router")
        case_id = uuid4()
        try:
            # Same key as the good event: same partition, so the poison comes first.
            await producer.send_raw(flare_env.topics.cases, str(case_id).encode(), b"{", [])
        finally:
            await producer.stop()
        await publish(flare_env, EventType.CASE_CREATED, case_event(case_id, UUID(escalation_id)))
        routed = await status_when(partner, escalation_id, status="routed")
    assert routed["case_id"] == str(case_id)


async def test_a_polls_case_events_apply_in_order_as_one_by_one(flare_env: FlareEnv) -> None:
    """One statement run once per event (executemany): the order of the events still holds."""
    async with partner_session(flare_env) as partner:
        first, joined = [(await partner.post()).json()["id"] for _ in range(2)]
        case_id, opened = uuid4(), datetime.now(UTC) + timedelta(minutes=1)
        events = [
            (case_event(case_id, UUID(first)), opened),
            (case_event(case_id, UUID(joined)), opened + timedelta(minutes=1)),
            (case_event(case_id, None, team="Legal"), opened + timedelta(minutes=2)),
        ]
        await record(flare_env, events)
        shown = [(await partner.get(escalation)).json() for escalation in (first, joined)]
    assert [(s["status"], s["case_id"], s["team"]) for s in shown] == [
        ("routed", str(case_id), "Legal"),
        ("routed", str(case_id), "Legal"),
    ], "the last event wins on every report of the case"
    assert [datetime.fromisoformat(s["routed_at"]) for s in shown] == [
        opened,
        opened + timedelta(minutes=1),
    ], "each report keeps the time the event naming it was routed"


async def test_a_report_is_never_routed_before_it_arrived(flare_env: FlareEnv) -> None:
    """A router whose clock is behind intake's: the report shows routed when it arrived."""
    async with partner_session(flare_env) as partner:
        accepted = (await partner.post()).json()
        behind = datetime.fromisoformat(accepted["received_at"]) - timedelta(seconds=3)
        await record(flare_env, [(case_event(uuid4(), UUID(accepted["id"])), behind)])
        shown = (await partner.get(accepted["id"])).json()
    assert shown["routed_at"] == accepted["received_at"]


async def test_a_case_event_rewrites_only_the_reports_it_changes(flare_env: FlareEnv) -> None:
    """In a surge a case holds thousands of reports: an event that moves none of a report's
    fields (here the case's next report joining) leaves that report's row as it was."""
    async with partner_session(flare_env) as partner:
        first, joined = [(await partner.post()).json()["id"] for _ in range(2)]
        case_id = uuid4()
        engine = make_engine(flare_env.database_url, pool_size=1)
        try:
            sessions = make_sessions(engine)
            now = datetime.now(UTC)
            await record_case_events(sessions, [(case_event(case_id, UUID(first)), now)])
            before = await row_versions(flare_env)
            await record_case_events(sessions, [(case_event(case_id, UUID(joined)), now)])
            after = await row_versions(flare_env)
        finally:
            await engine.dispose()
        shown = (await partner.get(joined)).json()
    assert after[first] == before[first], "the first report did not change: not rewritten"
    assert after[joined] != before[joined]
    assert shown["case_id"] == str(case_id)


async def row_versions(env: FlareEnv) -> dict[str, str]:
    rows = await fetch(env, "SELECT id::text, xmin::text FROM intake.escalations")
    return {row["id"]: row["xmin"] for row in rows}
