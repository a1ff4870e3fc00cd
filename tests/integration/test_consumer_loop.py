"""The shared consumer loop on a real broker: poison to the DLQ, retries in order, late commits."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import TypeVar

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaConnectionError
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
    dead_letters = EventProducer(env.kafka_access, "dlq")
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

    dead_letters = EventProducer(flare_env.kafka_access, "dlq")
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

    dead_letters = EventProducer(flare_env.kafka_access, "dlq")
    try:
        await run_until(consumer_loop(flare_env, "g-retry", handle, dead_letters), done)
    finally:
        await dead_letters.stop()
    assert attempts == ["first", "first", "second"]
    assert await committed(flare_env, "g-retry", partition) == 2
    assert await read_topic(flare_env.kafka, flare_env.topics.dlq, expected=0, timeout_s=1) == []


@pytest.mark.parametrize("batches", [False, True], ids=["one by one", "whole polls"])
async def test_lag_counts_the_records_a_stuck_partition_has_not_finished_until_it_stops(
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
    await run_until(stuck, measured)  # measured: the handler saw a lag of 2
    assert await committed(flare_env, "g-lag", partition) is None
    # Stopped, the loop knows no lag: its last value would hide that nobody consumes.
    assert lag_partitions(registry) == set()


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
    dead_letters = EventProducer(env.kafka_access, "dlq")
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
    dead_letters, workers = EventProducer(flare_env.kafka_access, "dlq"), Workers()

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
    dead_letters = EventProducer(flare_env.kafka_access, "dlq")
    consumer_loop(flare_env, "g-zero", Recorder(expected=1).handle, dead_letters, registry=registry)
    labels = {"consumer": "test", "outcome": "dead_lettered"}
    assert registry.get_sample_value("flare_events_consumed_total", labels) == 0


C = TypeVar("C", bound=AIOKafkaConsumer)


def made_by(
    consumer_type: type[C], env: FlareEnv, group: str, made: list[C]
) -> Callable[[], AIOKafkaConsumer]:
    """A loop's consumer factory for a consumer type with an injected fault; `made` keeps each
    consumer it makes (one: the loop was never restarted)."""

    def make() -> AIOKafkaConsumer:
        consumer = consumer_type(
            env.topics.escalations,
            bootstrap_servers=env.kafka,
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        made.append(consumer)
        return consumer

    return make


class RefusesFirstCommit(AIOKafkaConsumer):  # type: ignore[misc]  # aiokafka has no types
    """A real consumer whose first commit is refused as when the group has rebalanced since
    (injected: a real refusal needs a commit sent in the instant of a rebalance)."""

    refused = False

    async def commit(self, offsets: dict[TopicPartition, int] | None = None) -> None:
        if not self.refused:
            self.refused = True
            raise CommitFailedError("the group has already rebalanced (injected)")
        await super().commit(offsets)


async def test_a_commit_refused_by_a_rebalance_is_dropped_and_the_loop_goes_on(
    flare_env: FlareEnv,
) -> None:
    """Ending the loop would rejoin the group with a new consumer, one more rebalance for
    every member, at each refusal. The records whose commit was refused are committed with the
    next commit."""
    partition = await produce(flare_env, valid_message("a"))
    consumers: list[RefusesFirstCommit] = []
    make_consumer = made_by(RefusesFirstCommit, flare_env, "g-refused", consumers)

    recorder = Recorder(expected=2)
    loop = ConsumerLoop(
        "test", make_consumer, recorder.handle, CollectorRegistry(), commit_every_s=0
    )
    workers = Workers()
    workers.start("test", loop.run)
    try:

        async def refused() -> bool:
            return any(consumer.refused for consumer in consumers)

        await wait_until(refused, 30, "the first commit")
        await produce(flare_env, valid_message("b"))

        async def both_committed() -> bool:
            return await committed(flare_env, "g-refused", partition) == 2

        await wait_until(both_committed, 30, "the offset after both records committed")
    finally:
        await workers.stop(timeout_s=10)
    assert len(consumers) == 1, "the loop was not restarted"
    assert recorder.singles == ["a", "b"], "each handled once"


async def test_a_retry_after_a_rebalance_leaves_the_partitions_given_away_to_their_owner(
    flare_env: FlareEnv,
) -> None:
    """A poll that fails transiently is read again from its first records; a partition given
    to another member while it was handled is not this consumer's to seek (aiokafka raises),
    and the loop goes on with the partitions it still owns."""
    topic, group = flare_env.topics.escalations, "g-retry-rebalance"
    partitions = flare_env.topics.partition_counts()[topic]
    producer = AIOKafkaProducer(bootstrap_servers=flare_env.kafka)
    await producer.start()
    try:
        for partition in range(partitions):
            value, headers = valid_message(f"on {partition}")
            await producer.send_and_wait(topic, value, partition=partition, headers=headers)
    finally:
        await producer.stop()
    calls, first_call, release, retried = (
        list[list[str]](),
        asyncio.Event(),
        asyncio.Event(),
        asyncio.Event(),
    )

    async def handle(envelopes: Sequence[Envelope]) -> None:
        calls.append([envelope.data["title"] for envelope in envelopes])
        if len(calls) == 1:
            first_call.set()
            await release.wait()
            raise ConnectionRefusedError("database restarting")
        retried.set()

    make_consumer = made_by(AIOKafkaConsumer, flare_env, group, [])

    loop = ConsumerLoop(
        "test", make_consumer, handle, CollectorRegistry(), retry_delay_s=0.05, batches=True
    )
    stopping, other = asyncio.Event(), make_consumer()
    task = asyncio.create_task(loop.run(stopping))
    try:
        async with asyncio.timeout(20):
            await first_call.wait()
        assert len(calls[0]) > 1, "the first poll holds records of several partitions"
        await other.start()  # joins while the handler holds the loop: the group rebalances

        async def other_joined() -> bool:
            await other.getmany(timeout_ms=100)
            return bool(other.assignment())

        await wait_until(other_joined, 30, "the second member's assignment")
        release.set()  # the handler fails transiently: its poll is to be read again
        async with asyncio.timeout(20):
            await retried.wait()
        assert not task.done(), "the loop goes on"
    finally:
        stopping.set()
        release.set()
        await other.stop()
        await task


class FailsOnceStarted(AIOKafkaConsumer):  # type: ignore[misc]  # aiokafka has no types
    """A real consumer whose start fails once it has connected (injected: the broker going
    away half way through a start)."""

    stopped = False

    async def start(self) -> None:
        await super().start()
        raise KafkaConnectionError("the broker went away (injected)")

    async def stop(self) -> None:
        self.stopped = True
        await super().stop()


async def test_a_consumer_whose_start_fails_half_way_is_stopped(flare_env: FlareEnv) -> None:
    """Its client holds connections and tasks: left open, each restart of the loop during an
    outage would leak another."""
    consumers: list[FailsOnceStarted] = []

    def make_consumer() -> AIOKafkaConsumer:
        consumer = FailsOnceStarted(
            flare_env.topics.escalations, bootstrap_servers=flare_env.kafka, group_id="g-start"
        )
        consumers.append(consumer)
        return consumer

    async def handle(_: Sequence[Envelope]) -> None:
        pass

    loop = ConsumerLoop("test", make_consumer, handle, CollectorRegistry())
    with pytest.raises(KafkaConnectionError):
        await loop.run(asyncio.Event())
    assert [consumer.stopped for consumer in consumers] == [True]


class LosesAPartitionOnce(AIOKafkaConsumer):  # type: ignore[misc]  # aiokafka has no types
    """A real consumer whose first position lookup finds its partition given away (injected:
    a rebalance in the instant of the lookup)."""

    lost = False

    async def position(self, partition: TopicPartition) -> int:
        if not self.lost:
            self.lost = True
            raise IllegalStateError(f"No current assignment for partition {partition}")
        position: int = await super().position(partition)
        return position


async def test_a_partition_given_away_while_its_lag_is_measured_is_skipped(
    flare_env: FlareEnv,
) -> None:
    await produce(flare_env, valid_message("a"))
    registry, consumers = CollectorRegistry(), list[LosesAPartitionOnce]()
    make_consumer = made_by(LosesAPartitionOnce, flare_env, "g-lag-lost", consumers)

    async def handle(_: Sequence[Envelope]) -> None:
        pass

    everything = flare_env.topics.partition_counts()[flare_env.topics.escalations]
    workers = Workers()
    workers.start("test", ConsumerLoop("test", make_consumer, handle, registry).run)
    try:

        async def measured() -> bool:
            return len(lag_partitions(registry)) == everything

        await wait_until(measured, 30, "every partition's lag, the lost one's at the next look")
    finally:
        await workers.stop(timeout_s=10)
    assert len(consumers) == 1, "the loop was not restarted"
