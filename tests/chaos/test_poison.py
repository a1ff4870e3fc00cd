"""Poison on every consumed topic (garbage bytes, a body of the wrong schema, a valid body
without its CloudEvents headers): each consumer dead-letters what it cannot handle, with the
reason, and goes on with the reports behind it."""

import asyncio
import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import httpx
import pytest

from shared.events import EventType
from shared.kafka import Envelope
from tests.chaos.system import Load, flare_running, settle
from tests.chaos.table import Row
from tests.conftest import FlareEnv
from tests.intake_support import bearer
from tests.integration.notifier_peers import wait_until
from tests.kafka_reader import Message, publish_messages, read_topic

pytestmark = pytest.mark.chaos("poison")
REPORTS = 10


def poison(event_type: str) -> list[Message]:
    wrong_schema = Envelope(uuid4(), event_type, "/chaos", datetime.now(UTC), {"case": 42})
    key, value, headers = wrong_schema.to_message("poison")
    body_only = json.dumps({"category": "crisis", "title": "no headers"}).encode()
    return [(key, b"\x00\xffgarbage", []), (key, value, headers), (key, body_only, [])]


async def test_poison_on_every_topic_is_dead_lettered_and_the_consumers_go_on(
    flare_env: FlareEnv, tmp_path: Path, chaos_row: Row
) -> None:
    topics = flare_env.topics
    async with flare_running(flare_env, tmp_path) as flare:
        for topic, event_type in (
            (topics.escalations, EventType.ESCALATION_RECEIVED),
            (topics.cases, EventType.CASE_CREATED),
        ):
            await publish_messages(flare_env.kafka, topic, poison(event_type))
        load = Load(flare, "poison")
        await load.run(REPORTS, per_second=20)
        await settle(flare, load, chaos_row)
        async with httpx.AsyncClient(
            base_url=flare.intake.url, headers=bearer(flare.partner)
        ) as partner:

            async def all_routed() -> bool:
                statuses = await asyncio.gather(
                    *(partner.get(f"/v1/escalations/{i}") for i in load.accepted.values())
                )
                return all(status.json()["status"] == "routed" for status in statuses)

            await wait_until(all_routed, 30, "intake's status reader went on past the poison")
    letters = await read_topic(flare_env.kafka, topics.dlq, expected=6)
    headers = [dict(letter.headers) for letter in letters]
    by_consumer = Counter(h["flare_dlq_consumer"].decode() for h in headers)
    # intake's status reader and the notifier's live stream log and skip poison: they have
    # nothing another run could redo.
    assert by_consumer == {"router": 3, "notifier_deliveries": 3}
    assert all(h["flare_dlq_reason"] for h in headers)
    sources = {h["flare_dlq_source"].decode().rsplit("/", 2)[0] for h in headers}
    assert sources == {topics.escalations, topics.cases}
