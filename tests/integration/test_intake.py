"""intake on real Postgres and Kafka: 202 means stored; the relay sends exactly what was stored."""

import asyncio
import json
from uuid import UUID

from prometheus_client import CollectorRegistry

from services.intake.models import outbox
from services.intake.schemas import EXAMPLE_ESCALATION, FULL_EXAMPLE_ESCALATION, EscalationIn
from services.intake.service import accept_escalation
from shared.db import make_engine, make_sessions
from shared.events import Escalation, EscalationReceived
from shared.group_commit import GroupCommit
from shared.kafka import EventProducer
from shared.outbox import OutboxRelay
from tests.conftest import FlareEnv
from tests.intake_support import intake_app, new_partner, partner_session
from tests.integration.conftest import fetch, running
from tests.kafka_reader import read_topic

UNREACHABLE = "127.0.0.1:1"


def escalation(**changes: object) -> EscalationIn:
    return EscalationIn.model_validate({**EXAMPLE_ESCALATION, **changes})


async def test_accepted_escalation_is_stored_and_reaches_kafka_once(flare_env: FlareEnv) -> None:
    async with partner_session(flare_env) as partner:
        response = await partner.post(FULL_EXAMPLE_ESCALATION)
        assert response.status_code == 202
        receipt = response.json()
        assert receipt["status"] == "accepted"
        records = await read_topic(flare_env.kafka, flare_env.topics.escalations, expected=1)
    stored = await fetch(flare_env, "SELECT id, status, partner_id FROM intake.escalations")
    assert [(str(row["id"]), row["status"]) for row in stored] == [(receipt["id"], "accepted")]
    assert stored[0]["partner_id"] == partner.key.partner.id
    assert len(records) == 1
    headers = dict(records[0].headers)
    assert headers["ce_type"] == b"flare.escalation.received"
    assert records[0].key == b"dedup:video:123"
    event = EscalationReceived.model_validate_json(records[0].value)
    assert str(event.escalation_id) == receipt["id"]
    assert event.escalation == Escalation.model_validate(FULL_EXAMPLE_ESCALATION)
    assert await fetch(flare_env, "SELECT 1 FROM intake.outbox") == []


async def test_unreachable_database_is_503_with_retry_after_never_202(flare_env: FlareEnv) -> None:
    key = await new_partner(flare_env)
    broken = intake_app(
        flare_env, database_url="postgresql+asyncpg://flare:flare@127.0.0.1:1/flare"
    )
    async with running(broken) as client:
        response = await client.post(
            "/v1/escalations",
            json=EXAMPLE_ESCALATION,
            headers={"Authorization": f"Bearer {key.api_key}"},
        )
        ready = await client.get("/readyz")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.headers["content-type"] == "application/problem+json"
    assert ready.status_code == 503


async def test_kafka_down_keeps_accepting_and_the_outbox_keeps_the_backlog(
    flare_env: FlareEnv,
) -> None:
    async with partner_session(flare_env, kafka_bootstrap_servers=UNREACHABLE) as partner:
        statuses = [(await partner.post()).status_code for _ in range(3)]
        ready = (await partner.http.get("/readyz")).json()
    assert statuses == [202, 202, 202]
    assert ready["status"] == "ready"
    assert ready["checks"]["kafka"].startswith("unavailable")
    assert len(await fetch(flare_env, "SELECT 1 FROM intake.outbox")) == 3
    # Kafka is back: the backlog drains, in order, each event once.
    async with running(intake_app(flare_env)):
        records = await read_topic(flare_env.kafka, flare_env.topics.escalations, expected=3)
    stored = [row["id"] for row in await fetch(flare_env, "SELECT id FROM intake.escalations")]
    published = [UUID(json.loads(record.value)["escalation_id"]) for record in records]
    assert sorted(published) == sorted(stored)
    assert len({record.partition for record in records}) == 1, "one correlation key, one partition"
    assert [record.offset for record in records] == sorted(record.offset for record in records)


async def test_two_relays_at_once_publish_every_row_once_in_commit_order(
    flare_env: FlareEnv,
) -> None:
    partner = (await new_partner(flare_env)).partner
    engine = make_engine(flare_env.database_url)
    sessions = make_sessions(engine)
    topics = flare_env.topics
    accepted = [
        str(
            (
                await accept_escalation(
                    sessions,
                    GroupCommit(sessions),
                    topics,
                    partner,
                    escalation(dedup_key=f"k{number % 7}"),
                    None,
                )
            ).id
        )
        for number in range(60)
    ]
    producers = [EventProducer(flare_env.kafka_access, f"relay-{n}") for n in range(2)]
    relays = [
        OutboxRelay(sessions, outbox, producer, CollectorRegistry(), batch_size=5)
        for producer in producers
    ]

    async def drain(relay: OutboxRelay) -> None:
        # A relay that finds the other one publishing gets 0 and tries again.
        while await fetch(flare_env, "SELECT 1 FROM intake.outbox LIMIT 1"):
            await relay.publish_batch()

    try:
        await asyncio.gather(*(drain(relay) for relay in relays))
    finally:
        for producer in producers:
            await producer.stop()
        await engine.dispose()
    records = await read_topic(flare_env.kafka, topics.escalations, expected=60)
    event_ids = [dict(record.headers)["ce_id"] for record in records]
    assert len(event_ids) == 60
    assert len(set(event_ids)) == 60
    for key in {record.key for record in records}:
        on_partition = sorted((r for r in records if r.key == key), key=lambda r: r.offset)
        published = [json.loads(record.value)["escalation_id"] for record in on_partition]
        assert published == [i for i in accepted if i in set(published)], f"order of {key!r}"
