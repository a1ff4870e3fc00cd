"""Replaying the DLQ: letters go back to their source topic without DLQ headers, once each."""

import asyncio

import pytest
from aiokafka import AIOKafkaProducer

from shared.events import Topics
from shared.kafka_admin import NoSuchTopic, replay_dead_letters
from tests.conftest import FlareEnv
from tests.kafka_reader import read_topic


async def dead_letter(env: FlareEnv, value: bytes, consumer: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=env.kafka)
    await producer.start()
    try:
        await producer.send_and_wait(
            env.topics.dlq,
            value,
            key=b"k",
            headers=[
                ("ce_id", b"original-header"),
                ("flare_dlq_reason", b"handler failed: KeyError('x')"),
                ("flare_dlq_consumer", consumer.encode()),
                ("flare_dlq_source", f"{env.topics.escalations}/4/17".encode()),
            ],
        )
    finally:
        await producer.stop()


async def test_replay_republishes_to_the_source_topic_once(flare_env: FlareEnv) -> None:
    await dead_letter(flare_env, b"for the router", "router")
    await dead_letter(flare_env, b"for intake", "intake-status")

    listed = await replay_dead_letters(
        flare_env.kafka_access, flare_env.topics, "router", dry_run=True
    )
    assert [(letter.consumer, letter.reason) for letter in listed] == [
        ("router", "handler failed: KeyError('x')")
    ]
    assert await read_topic(flare_env.kafka, flare_env.topics.escalations, 0, timeout_s=1) == []

    replayed = await replay_dead_letters(
        flare_env.kafka_access, flare_env.topics, "router", dry_run=False
    )
    again = await replay_dead_letters(
        flare_env.kafka_access, flare_env.topics, "router", dry_run=False
    )
    assert len(replayed) == 1
    assert again == []
    records = await read_topic(flare_env.kafka, flare_env.topics.escalations, expected=1)
    assert [(record.key, record.value) for record in records] == [(b"k", b"for the router")]
    assert records[0].headers == (("ce_id", b"original-header"),)

    # The router's replays passed intake's letter over: it is still there for its own.
    theirs = await replay_dead_letters(
        flare_env.kafka_access, flare_env.topics, "intake-status", True
    )
    assert [letter.consumer for letter in theirs] == ["intake-status"]


async def test_replay_from_a_dlq_that_does_not_exist_fails_at_once(flare_env: FlareEnv) -> None:
    """A wrong prefix: the reader would never be given a partition and wait for ever."""
    elsewhere = Topics.with_prefix("no-such-prefix.")
    with pytest.raises(NoSuchTopic, match=r"no topic no-such-prefix\.flare\.dlq\.v1"):
        await asyncio.wait_for(
            replay_dead_letters(flare_env.kafka_access, elsewhere, None, dry_run=True), timeout=30
        )
