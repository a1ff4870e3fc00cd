"""The shared consumer loop on a real broker: poison to the DLQ, retries in order, late commits."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from prometheus_client import CollectorRegistry

from services.intake.schemas import EXAMPLE_ESCALATION
from shared.events import Escalation
from shared.kafka import ConsumerLoop, Envelope, EventProducer
from shared.lifecycle import Workers
from tests.conftest import FlareEnv
from tests.integration.notifier_peers import wait_until
from tests.kafka_reader import read_topic

KEY = b"one-partition"


def valid_message(title: str) -> tuple[bytes, list[tuple[str, bytes]]]:
    body = Escalation.model_validate({**EXAMPLE_ESCALATION, "title": title})
    _, value, headers = Envelope.new("test.event", "/tests", body).to_message("k")
    return value, headers


async def produce(env: FlareEnv, *messages: tuple[bytes, list[tuple[str, bytes]]]) -> int:
    producer = AIOKafkaProducer(bootstrap_servers=env.kafka)
    await producer.start()
    try:
        partition = 0
        for value, headers in messages:
            metadata = await producer.send_and_wait(
                env.topics.escalations, value, key=KEY, headers=headers
            )
            partition = metadata.partition
        return partition
    finally:
        await producer.stop()


async def run_until(loop: ConsumerLoop, done: asyncio.Event, timeout_s: float = 20) -> None:
    stopping = asyncio.Event()
    task = asyncio.create_task(loop.run(stopping))
    try:
        async with asyncio.timeout(timeout_s):
            await done.wait()
    finally:
        stopping.set()
        await task


async def committed(env: FlareEnv, group: str, partition: int) -> int | None:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=env.kafka, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        offset: int | None = await consumer.committed(
            TopicPartition(env.topics.escalations, partition)
        )
        return offset
    finally:
        await consumer.stop()


def consumer_loop(
    env: FlareEnv,
    group: str,
    handle: Callable[[Sequence[Envelope]], Awaitable[None]],
    dead_letters: EventProducer,
    batches: bool = False,
    commit_every_s: float = 1.0,
    registry: CollectorRegistry | None = None,
) -> ConsumerLoop:
    def make_consumer() -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            env.topics.escalations,
            bootstrap_servers=env.kafka,
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )

    return ConsumerLoop(
        "test",
        make_consumer,
        handle,
        registry or CollectorRegistry(),
        dead_letters=dead_letters,
        dlq_topic=env.topics.dlq,
        retry_delay_s=0.05,
        batches=batches,
        commit_every_s=commit_every_s,
    )


@asynccontextmanager
async def running(
    env: FlareEnv, group: str, recorder: "Recorder", commit_every_s: float
) -> AsyncIterator["asyncio.Task[None]"]:
    """A batch loop running meanwhile (its task), stopped at the end of the block."""
    stopping = asyncio.Event()
    dead_letters = EventProducer(env.kafka, "dlq")
    loop = consumer_loop(
        env, group, recorder.handle, dead_letters, batches=True, commit_every_s=commit_every_s
    )
    task = asyncio.create_task(loop.run(stopping))
    try:
        yield task
    finally:
        stopping.set()
        await task
        await dead_letters.stop()


async def test_handled_offsets_are_committed_at_most_every_interval_and_when_the_loop_stops(
    flare_env: FlareEnv,
) -> None:
    partition = await produce(flare_env, *(valid_message(title) for title in "abc"))
    recorder = Recorder(expected=3)
    async with running(flare_env, "g-interval", recorder, commit_every_s=60):
        async with asyncio.timeout(20):
            await recorder.done.wait()
        await asyncio.sleep(0.5)  # a few more polls, none of them a minute after the start
        assert await committed(flare_env, "g-interval", partition) is None
    assert await committed(flare_env, "g-interval", partition) == 3


async def test_handled_offsets_are_committed_while_the_loop_runs_once_the_interval_passes(
    flare_env: FlareEnv,
) -> None:
    partition = await produce(flare_env, *(valid_message(title) for title in "abc"))

    async def all_committed() -> bool:
        return await committed(flare_env, "g-running", partition) == 3

    async with running(flare_env, "g-running", Recorder(expected=3), commit_every_s=0.2) as task:
        await wait_until(all_committed, 20, "the offset after the three records committed")
        assert not task.done(), "committed by the running loop, not by its stop"


async def test_poison_goes_to_the_dlq_with_its_reason_and_the_loop_goes_on(
    flare_env: FlareEnv,
) -> None:
    partition = await produce(flare_env, (b"\x00garbage", []), valid_message("after the poison"))
    handled: list[str] = []
    done = asyncio.Event()

    async def handle(envelopes: Sequence[Envelope]) -> None:
        [envelope] = envelopes
        handled.append(envelope.data["title"])
        done.set()

    dead_letters = EventProducer(flare_env.kafka, "dlq")
    try:
        await run_until(consumer_loop(flare_env, "g-poison", handle, dead_letters), done)
    finally:
        await dead_letters.stop()
    assert handled == ["after the poison"]
    dlq = await read_topic(flare_env.kafka, flare_env.topics.dlq, expected=1)
    assert [record.value for record in dlq] == [b"\x00garbage"]
    headers = dict(dlq[0].headers)
    assert b"content-type" in headers["flare_dlq_reason"]
    assert headers["flare_dlq_source"] == f"{flare_env.topics.escalations}/{partition}/0".encode()
    assert await committed(flare_env, "g-poison", partition) == 2


async def test_transient_failure_is_retried_in_order_and_committed_only_after(
    flare_env: FlareEnv,
) -> None:
    partition = await produce(flare_env, valid_message("first"), valid_message("second"))
    attempts: list[str] = []
    done = asyncio.Event()

    async def handle(envelopes: Sequence[Envelope]) -> None:
        [envelope] = envelopes
        attempts.append(envelope.data["title"])
        if attempts == ["first"]:
            raise ConnectionRefusedError("database restarting")
        if envelope.data["title"] == "second":
            done.set()

    dead_letters = EventProducer(flare_env.kafka, "dlq")
    try:
        await run_until(consumer_loop(flare_env, "g-retry", handle, dead_letters), done)
    finally:
        await dead_letters.stop()
    assert attempts == ["first", "first", "second"]
    assert await committed(flare_env, "g-retry", partition) == 2
    assert await read_topic(flare_env.kafka, flare_env.topics.dlq, expected=0, timeout_s=1) == []


@pytest.mark.parametrize("batches", [False, True], ids=["one by one", "whole polls"])
async def test_lag_counts_the_records_a_stuck_partition_has_not_finished(
    flare_env: FlareEnv, batches: bool
) -> None:
    partition = await produce(flare_env, valid_message("stuck"), valid_message("waiting"))
    registry = CollectorRegistry()
    measured = asyncio.Event()
    labels = {
        "consumer": "test",
        "topic": flare_env.topics.escalations,
        "partition": str(partition),
    }

    async def handle(envelopes: Sequence[Envelope]) -> None:
        if registry.get_sample_value("flare_consumer_lag", labels) == 2:
            measured.set()
        raise ConnectionRefusedError("database down")

    def make_consumer() -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            flare_env.topics.escalations,
            bootstrap_servers=flare_env.kafka,
            group_id="g-lag",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )

    stuck = ConsumerLoop(
        "test", make_consumer, handle, registry, retry_delay_s=0.05, batches=batches
    )
    await run_until(stuck, measured)
    assert registry.get_sample_value("flare_consumer_lag", labels) == 2
    assert await committed(flare_env, "g-lag", partition) is None


class Recorder:
    """A handler that records what it was given: whole polls, and records one at a time."""

    def __init__(self, expected: int, fail: Callable[[list[str]], None] = lambda _: None) -> None:
        self.batches: list[list[str]] = []
        self.singles: list[str] = []
        self.expected, self.fail = expected, fail
        self.done = asyncio.Event()

    async def handle(self, envelopes: Sequence[Envelope]) -> None:
        titles = [envelope.data["title"] for envelope in envelopes]
        if len(titles) > 1:
            self.batches.append(titles)
        else:
            self.singles += titles
        self.fail(titles)
        self.expected -= len(titles)
        if self.expected <= 0:
            self.done.set()


async def run_recorder(env: FlareEnv, group: str, recorder: Recorder) -> None:
    dead_letters = EventProducer(env.kafka, "dlq")
    try:
        loop = consumer_loop(env, group, recorder.handle, dead_letters, batches=True)
        await run_until(loop, recorder.done)
    finally:
        await dead_letters.stop()


async def test_a_poll_is_handled_in_one_batch_and_committed_after_it(flare_env: FlareEnv) -> None:
    partition = await produce(flare_env, *(valid_message(title) for title in "abc"))
    recorder = Recorder(expected=3)
    await run_recorder(flare_env, "g-batch", recorder)
    assert recorder.batches == [["a", "b", "c"]]
    assert recorder.singles == []
    assert await committed(flare_env, "g-batch", partition) == 3


async def test_a_failed_batch_is_handled_one_by_one_and_only_its_poison_is_dead_lettered(
    flare_env: FlareEnv,
) -> None:
    partition = await produce(
        flare_env, valid_message("a"), valid_message("poison"), valid_message("c")
    )

    def refuse_poison(titles: list[str]) -> None:
        if "poison" in titles:
            raise ValueError("a bug this record triggers")

    recorder = Recorder(expected=2, fail=refuse_poison)
    await run_recorder(flare_env, "g-batch-poison", recorder)
    assert recorder.batches == [["a", "poison", "c"]], "tried once as a whole"
    assert recorder.singles == ["a", "poison", "c"]
    dlq = await read_topic(flare_env.kafka, flare_env.topics.dlq, expected=1)
    assert b"a bug this record triggers" in dict(dlq[0].headers)["flare_dlq_reason"]
    assert await committed(flare_env, "g-batch-poison", partition) == 3


async def test_a_batch_failing_transiently_is_retried_whole(flare_env: FlareEnv) -> None:
    partition = await produce(flare_env, valid_message("a"), valid_message("b"))

    def database_restarts_once(_: list[str]) -> None:
        if len(recorder.batches) == 1:
            raise ConnectionRefusedError("database restarting")

    recorder = Recorder(expected=2, fail=database_restarts_once)
    await run_recorder(flare_env, "g-batch-retry", recorder)
    assert recorder.batches == [["a", "b"], ["a", "b"]]
    assert recorder.singles == []
    assert await committed(flare_env, "g-batch-retry", partition) == 2


async def test_a_consumer_put_out_of_its_group_mid_handler_is_back_and_commits(
    flare_env: FlareEnv,
) -> None:
    """A handler that outlasts `max_poll_interval_ms` while another member joins gets its
    consumer put out of the group: the commit after it is refused, and aiokafka's coordinator
    ends with a CancelledError. The loop is restarted, and its records are handled again from
    the last commit, then committed."""
    group, topic = "g-rebalance", flare_env.topics.escalations
    partition = await produce(flare_env, *(valid_message(title) for title in "abc"))
    first_call, release, handled = asyncio.Event(), asyncio.Event(), list[str]()

    async def handle(envelopes: Sequence[Envelope]) -> None:
        first_call.set()
        await release.wait()
        handled.extend(envelope.data["title"] for envelope in envelopes)

    def make_consumer() -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            topic,
            bootstrap_servers=flare_env.kafka,
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_interval_ms=1000,
        )

    loop = ConsumerLoop(
        "test", make_consumer, handle, CollectorRegistry(), retry_delay_s=0.05, commit_every_s=0
    )
    workers, other = Workers(), make_consumer()
    workers.start("test", loop.run)
    try:
        async with asyncio.timeout(20):
            await first_call.wait()
        await other.start()  # joins while the handler holds the loop: the group rebalances

        async def other_joined() -> bool:
            await other.getmany(timeout_ms=100)
            return bool(other.assignment())

        await wait_until(other_joined, 30, "the second member's assignment")
        release.set()  # the handler ends; the loop's commit is refused
        await asyncio.sleep(1)
        await other.stop()  # the loop's consumer owns every partition again

        async def all_committed() -> bool:
            return await committed(flare_env, group, partition) == 3

        await wait_until(all_committed, 30, "the offset after the three records committed")
    finally:
        await workers.stop(timeout_s=10)
    assert handled == ["a", "b", "c"] * 2, "handled again from the last commit, once"


def lag_partitions(registry: CollectorRegistry) -> set[str]:
    """The partitions with a `flare_consumer_lag` series in `registry`."""
    return {
        sample.labels["partition"]
        for metric in registry.collect()
        if metric.name == "flare_consumer_lag"
        for sample in metric.samples
    }


async def test_a_partition_given_to_another_member_loses_its_lag_series(
    flare_env: FlareEnv,
) -> None:
    """A stale series would keep the last lag it measured, and a lag alert summing the group's
    series would page for records another member has long since read."""
    await produce(flare_env, valid_message("a"))
    first, second = CollectorRegistry(), CollectorRegistry()
    dead_letters, workers = EventProducer(flare_env.kafka, "dlq"), Workers()

    async def handle(_: Sequence[Envelope]) -> None:
        pass

    def member(registry: CollectorRegistry) -> ConsumerLoop:
        return consumer_loop(flare_env, "g-lag-owners", handle, dead_letters, registry=registry)

    async def measured(registry: CollectorRegistry, count: int) -> bool:
        return len(lag_partitions(registry)) == count

    workers.start("first", member(first).run)
    try:
        everything = flare_env.topics.partition_counts()[flare_env.topics.escalations]
        await wait_until(lambda: measured(first, everything), 30, "every partition's lag")
        workers.start("second", member(second).run)

        async def shared_out() -> bool:
            owned = lag_partitions(first), lag_partitions(second)
            return (
                bool(owned[1])
                and not owned[0] & owned[1]
                and len(owned[0] | owned[1]) == everything
            )

        await wait_until(shared_out, 30, "each partition's lag measured by one member alone")
    finally:
        await workers.stop(timeout_s=10)
        await dead_letters.stop()


async def test_every_outcome_is_counted_from_zero_before_the_first(flare_env: FlareEnv) -> None:
    """An alert on `increase()` of a series that is born at 1 never sees the first dead letter."""
    registry = CollectorRegistry()
    dead_letters = EventProducer(flare_env.kafka, "dlq")
    consumer_loop(flare_env, "g-zero", Recorder(expected=1).handle, dead_letters, registry=registry)
    labels = {"consumer": "test", "outcome": "dead_lettered"}
    assert registry.get_sample_value("flare_events_consumed_total", labels) == 0
