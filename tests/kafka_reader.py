"""Kafka as tests see it: what landed on a topic (every partition from the start, to a
deadline), records published again, and a consumer group rewound or caught up."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition


async def read_topic(
    bootstrap: str, topic: str, expected: int, timeout_s: float = 20.0
) -> list[ConsumerRecord[bytes, bytes]]:
    """Collect records until `expected` arrived (then briefly more, to catch duplicates)."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    try:
        while loop.time() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            records.extend(record for part in batch.values() for record in part)
            if len(records) >= expected:
                deadline = min(deadline, loop.time() + 1.0)
    finally:
        await consumer.stop()
    return records


Message = tuple[bytes | None, bytes, list[tuple[str, bytes]]]  # key, value, headers


async def publish_messages(bootstrap: str, topic: str, messages: list[Message]) -> None:
    """Messages exactly as given, in order: poison, or records delivered again."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for key, value, headers in messages:
            await producer.send_and_wait(topic, value, key=key, headers=headers)
    finally:
        await producer.stop()


async def republish(
    bootstrap: str, records: list[ConsumerRecord[bytes, bytes]], topic: str
) -> None:
    """The records again, byte for byte (key, value, headers), in the order given."""
    messages = [(record.key, record.value, list(record.headers)) for record in records]
    await publish_messages(bootstrap, topic, messages)


@asynccontextmanager
async def _group_member(
    bootstrap: str, group: str, topic: str, partitions: int
) -> AsyncIterator[AIOKafkaConsumer]:
    """A consumer of `group` given every partition of `topic` by hand: it joins no rebalance."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, number) for number in range(partitions)])
        yield consumer
    finally:
        await consumer.stop()


async def rewind_group(bootstrap: str, group: str, topic: str, partitions: int) -> None:
    """Commit offset 0 on every partition, for a consumer group none of whose members runs."""
    async with _group_member(bootstrap, group, topic, partitions) as consumer:
        await consumer.commit({partition: 0 for partition in consumer.assignment()})


async def wait_caught_up(
    bootstrap: str, group: str, topic: str, partitions: int, timeout_s: float = 60
) -> None:
    """Until the group has committed up to the end of every partition of the topic."""
    async with (
        _group_member(bootstrap, group, topic, partitions) as consumer,
        asyncio.timeout(timeout_s),
    ):
        while True:
            ends = await consumer.end_offsets(list(consumer.assignment()))
            committed = {p: await consumer.committed(p) for p in ends}
            if all(committed[p] == end for p, end in ends.items() if end):
                return
            await asyncio.sleep(0.2)
