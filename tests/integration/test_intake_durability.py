"""Durability against real outages: a Kafka broker stopped while partners post, and a
PostgreSQL server stopped under intake. Each test stops a server of its own, never the shared."""

import asyncio
from collections import defaultdict
from collections.abc import Callable

from services.intake.schemas import EXAMPLE_ESCALATION
from shared.events import EscalationReceived
from shared.kafka import KafkaAccess
from shared.kafka_admin import create_topics
from tests.conftest import FlareEnv, migrate
from tests.disposable import disposable_kafka, disposable_postgres
from tests.intake_support import PartnerClient, intake_app, new_partner
from tests.integration.conftest import fetch, running
from tests.kafka_reader import read_topic

DRAIN_DEADLINE_S = 90.0


async def post_steadily(
    partner: PartnerClient, accepted: list[tuple[str, str]], enough: asyncio.Event
) -> None:
    """Reports on a few subjects, one after another, recording each (dedup_key, id) accepted."""
    number = 0
    while not enough.is_set():
        number += 1
        dedup_key = f"subject-{number % 4}"
        response = await partner.post({**EXAMPLE_ESCALATION, "dedup_key": dedup_key})
        assert response.status_code == 202, response.text
        accepted.append((dedup_key, response.json()["id"]))
        await asyncio.sleep(0.05)  # a steady stream, so the outage falls in the middle of it


def first_occurrences(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


async def until(condition: Callable[[], bool], timeout_s: float = 30.0) -> None:
    async with asyncio.timeout(timeout_s):
        while True:
            if condition():
                return
            await asyncio.sleep(0.05)


async def outbox_empty(env: FlareEnv) -> None:
    async with asyncio.timeout(DRAIN_DEADLINE_S):
        while True:
            if not await fetch(env, "SELECT 1 FROM intake.outbox LIMIT 1"):
                return
            await asyncio.sleep(0.2)


async def test_kafka_stopped_while_posting_every_accepted_report_reaches_the_topic_as_one_event(
    flare_env: FlareEnv,
) -> None:
    key = await new_partner(flare_env)
    with disposable_kafka() as (broker, bootstrap):
        await create_topics(KafkaAccess(bootstrap), flare_env.topics)
        app = intake_app(flare_env, kafka_bootstrap_servers=bootstrap)
        accepted: list[tuple[str, str]] = []
        enough = asyncio.Event()
        async with running(app) as http:
            posting = asyncio.create_task(post_steadily(PartnerClient(http, key), accepted, enough))
            await until(lambda: len(accepted) >= 10)
            await broker.stop()  # while the posts go on
            down_at = len(accepted)
            await until(lambda: len(accepted) >= down_at + 10)
            enough.set()
            await posting  # every post, before, during and after the stop, answered 202
            await broker.start()
            await outbox_empty(flare_env)
        records = await read_topic(bootstrap, flare_env.topics.escalations, len(accepted))
    published = [EscalationReceived.model_validate_json(record.value) for record in records]
    event_ids: dict[str, set[str]] = defaultdict(set)
    for record, event in zip(records, published, strict=True):
        event_ids[str(event.escalation_id)].add(dict(record.headers)["ce_id"].decode())
    assert set(event_ids) == {escalation_id for _, escalation_id in accepted}, "none lost"
    # Exactly once as an event: a batch the broker half-took while shutting down may be sent
    # again, but as the same CloudEvent, which consumers apply once (ADR 0002).
    assert all(len(ids) == 1 for ids in event_ids.values()), "one event per report"
    # Per key, the topic holds the reports in the order intake accepted them.
    by_key: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for record, event in zip(records, published, strict=True):
        by_key[record.key.decode()].append((record.offset, str(event.escalation_id)))
    for dedup_key in {key for key, _ in accepted}:
        in_topic = [escalation_id for _, escalation_id in sorted(by_key[f"dedup:{dedup_key}"])]
        assert first_occurrences(in_topic) == [i for k, i in accepted if k == dedup_key]


async def test_postgres_stopped_is_503_with_retry_after_and_never_202(
    flare_env: FlareEnv,
) -> None:
    with disposable_postgres() as (server, database_url):
        await asyncio.to_thread(migrate, database_url, ("intake",))
        own = FlareEnv(database_url, flare_env.kafka, flare_env.topic_prefix)
        key = await new_partner(own)
        async with running(intake_app(own)) as http:
            partner = PartnerClient(http, key)
            before = await partner.post()
            await server.stop()
            during = [await partner.post() for _ in range(3)]
            ready = await http.get("/readyz")
            await server.start()
            after = await partner.post()
        stored = await fetch(own, "SELECT id FROM intake.escalations")
    assert before.status_code == 202
    for response in during:
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        assert int(response.headers["retry-after"]) > 0
    # Still ready: unready, every replica would leave the Service, and partners would get the
    # load balancer's bare 503 instead of this one with its Retry-After (DESIGN, guarantee 2).
    assert ready.status_code == 200
    assert ready.json()["checks"]["postgres"].startswith("unavailable")
    assert after.status_code == 202, "intake recovers when the database returns"
    assert sorted(str(row["id"]) for row in stored) == sorted(
        [before.json()["id"], after.json()["id"]]
    )
