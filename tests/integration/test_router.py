"""router against real Postgres: one case per received event, however often it is delivered."""

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from services.intake.schemas import EXAMPLE_ESCALATION
from services.router.service import open_case
from shared.db import make_engine, make_sessions
from shared.events import Escalation, EscalationReceived, EventType
from shared.kafka import Envelope, InvalidEvent
from tests.conftest import FlareEnv
from tests.integration.conftest import fetch

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def received_event() -> Envelope:
    escalation_id = uuid4()
    body = EscalationReceived(
        escalation_id=escalation_id,
        received_at=datetime.now(UTC),
        correlation_key="dedup:video:123",
        escalation=Escalation.model_validate(EXAMPLE_ESCALATION),
    )
    return Envelope.new(EventType.ESCALATION_RECEIVED, "/flare/intake", body, TRACEPARENT)


async def test_received_event_opens_a_case_and_queues_case_created(flare_env: FlareEnv) -> None:
    engine = make_engine(flare_env.database_url)
    event = received_event()
    try:
        case_id = await open_case(make_sessions(engine), flare_env.topics, event)
    finally:
        await engine.dispose()
    cases = await fetch(flare_env, "SELECT id, escalation_id, status, category FROM router.cases")
    assert [
        (row["id"], str(row["escalation_id"]), row["status"], row["category"]) for row in cases
    ] == [(case_id, event.data["escalation_id"], "open", "crisis")]
    queued = await fetch(flare_env, "SELECT topic, key, event_type, traceparent FROM router.outbox")
    assert [tuple(row) for row in queued] == [
        (flare_env.topics.cases, str(case_id), "flare.case.created", TRACEPARENT)
    ]


async def test_redelivered_event_changes_nothing(flare_env: FlareEnv) -> None:
    engine = make_engine(flare_env.database_url)
    sessions = make_sessions(engine)
    event = received_event()
    try:
        first = await open_case(sessions, flare_env.topics, event)
        again = await open_case(sessions, flare_env.topics, event)
    finally:
        await engine.dispose()
    assert first is not None
    assert again is None
    assert len(await fetch(flare_env, "SELECT 1 FROM router.cases")) == 1
    assert len(await fetch(flare_env, "SELECT 1 FROM router.outbox")) == 1


async def test_event_of_another_type_is_invalid_and_stores_nothing(flare_env: FlareEnv) -> None:
    engine = make_engine(flare_env.database_url)
    event = received_event()
    wrong = Envelope(
        id=event.id,
        event_type="flare.case.created",
        source=event.source,
        time=event.time,
        data=event.data,
    )
    try:
        with pytest.raises(InvalidEvent, match="cannot handle"):
            await open_case(make_sessions(engine), flare_env.topics, wrong)
    finally:
        await engine.dispose()
    assert await fetch(flare_env, "SELECT 1 FROM router.processed_events") == []
