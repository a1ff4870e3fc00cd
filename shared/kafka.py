"""Kafka plumbing: CloudEvents envelopes, the one producer wrapper, the consumer loop, the DLQ."""

import asyncio
import os
import re
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID, uuid4

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from aiokafka.helpers import create_ssl_context
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary, to_binary
from cloudevents.core.exceptions import BaseCloudEventException
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from opentelemetry.trace import SpanKind
from prometheus_client import CollectorRegistry, Counter, Gauge
from pydantic import BaseModel, ValidationError

from shared.errors import is_transient
from shared.logging import get_logger
from shared.tracing import current_traceparent, span

log = get_logger(__name__)
JSON_FORMAT = JSONFormat()
Body = TypeVar("Body", bound=BaseModel)
TRACEPARENT = re.compile(r"00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")


class InvalidEvent(Exception):
    """A message that can never be handled (bad envelope or body): it belongs in the DLQ."""


@dataclass(frozen=True)
class Envelope:
    """One CloudEvent as it travels: attributes, the JSON body and the W3C trace context."""

    id: UUID
    event_type: str
    source: str
    time: datetime
    data: dict[str, Any]
    traceparent: str | None = None

    @classmethod
    def new(
        cls,
        event_type: str,
        source: str,
        body: BaseModel,
        traceparent: str | None = None,
        event_id: UUID | None = None,
    ) -> "Envelope":
        return cls(
            id=event_id or uuid4(),
            event_type=event_type,
            source=source,
            time=datetime.now(UTC),
            data=body.model_dump(mode="json"),
            # The current span (a request or a consumed event) is the new event's parent.
            traceparent=current_traceparent()
            or valid_traceparent(traceparent)
            or new_traceparent(),
        )

    def to_message(self, key: str) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
        """Kafka binary content mode: ce_* headers, content-type, traceparent; value is JSON."""
        event = CloudEvent(
            attributes={
                "id": str(self.id),
                "type": self.event_type,
                "source": self.source,
                "time": self.time,
                "datacontenttype": "application/json",
            },
            data=self.data,
        )
        message = to_binary(event, JSON_FORMAT)
        headers = list(message.headers.items())
        if self.traceparent:
            headers.append(("traceparent", self.traceparent.encode()))
        return key.encode(), message.value, headers

    @classmethod
    def from_record(cls, record: ConsumerRecord[bytes, bytes]) -> "Envelope":
        headers = {name: value for name, value in record.headers or ()}
        if headers.get("content-type") != b"application/json":
            raise InvalidEvent("content-type header is missing or not application/json")
        try:
            event = from_binary(
                KafkaMessage(headers=headers, key=record.key, value=record.value),
                JSON_FORMAT,
                CloudEvent,
            )
            event_id = UUID(event.get_id())
        except (BaseCloudEventException, ValueError, UnicodeDecodeError) as error:
            raise InvalidEvent(f"not a CloudEvent in binary mode: {error}") from error
        data, time = event.get_data(), event.get_time()
        if not isinstance(data, dict) or time is None:
            raise InvalidEvent("CloudEvent has no time or its data is not a JSON object")
        traceparent = headers.get("traceparent")
        return cls(
            id=event_id,
            event_type=event.get_type(),
            source=event.get_source(),
            time=time,
            data=data,
            traceparent=traceparent.decode() if traceparent else None,
        )

    def body(self, model: type[Body]) -> Body:
        try:
            return model.model_validate(self.data)
        except ValidationError as error:
            # Field names and messages only: the values may be personal or sensitive data, and
            # this reason travels in DLQ headers and logs.
            problems = "; ".join(
                f"{'/'.join(map(str, item['loc']))}: {item['msg']}"
                for item in error.errors(include_input=False, include_url=False)
            )
            raise InvalidEvent(
                f"{self.event_type} body does not match {model.__name__}: {problems}"
            ) from None


def valid_traceparent(value: str | None) -> str | None:
    """A caller's W3C traceparent if well-formed; a malformed one is dropped, not propagated."""
    return value if value and TRACEPARENT.fullmatch(value) else None


def new_traceparent() -> str:
    """A fresh W3C traceparent, so every event can be followed even without a tracer."""
    return f"00-{os.urandom(16).hex()}-{os.urandom(8).hex()}-01"


@dataclass(frozen=True)
class OutgoingMessage:
    topic: str
    key: str
    envelope: Envelope


@dataclass(frozen=True)
class KafkaAccess:
    """Where the brokers are and how a client gets in: every Kafka client is made with it.
    With TLS (SSL, SASL_SSL) the brokers' certificates are checked against `ssl_cafile`, or
    the system's CAs; with SASL the client logs in as `sasl_username`."""

    bootstrap_servers: str
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str = "SCRAM-SHA-512"
    sasl_username: str = ""
    sasl_password: str = field(default="", repr=False)
    ssl_cafile: str | None = None

    def client_args(self) -> dict[str, Any]:
        args: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": self.security_protocol,
        }
        if self.security_protocol in ("SSL", "SASL_SSL"):
            args["ssl_context"] = create_ssl_context(cafile=self.ssl_cafile)
        if self.security_protocol.startswith("SASL_"):
            args["sasl_mechanism"] = self.sasl_mechanism
            # aiokafka's names, for SCRAM's login as for PLAIN's.
            args["sasl_plain_username"] = self.sasl_username
            args["sasl_plain_password"] = self.sasl_password
        return args


class EventProducer:
    """The one producer wrapper: idempotent, acks=all, started lazily so Kafka may be down."""

    def __init__(self, kafka: KafkaAccess, client_id: str) -> None:
        self._kafka = kafka
        self._client_id = client_id
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def ensure_started(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    **self._kafka.client_args(),
                    client_id=self._client_id,
                    enable_idempotence=True,
                    acks="all",
                    # No lingering: send_all appends a whole batch before the sender runs, so
                    # waiting would only add latency (2 ms did, per hop: about 5 of a 27 ms
                    # POST-to-alert p50 at 20/s).
                    linger_ms=0,
                    request_timeout_ms=10_000,
                )
                try:
                    await producer.start()
                except BaseException:
                    await producer.stop()
                    raise
                self._producer = producer
            return self._producer

    async def send_all(self, messages: Sequence[OutgoingMessage]) -> None:
        """Send in order and wait until the broker has every one (acks=all)."""
        producer = await self.ensure_started()
        async with self._new_session_after_failure():
            futures = []
            for message in messages:
                key, value, headers = message.envelope.to_message(message.key)
                futures.append(
                    await producer.send(message.topic, value=value, key=key, headers=headers)
                )
            await asyncio.gather(*futures)

    async def send_raw(
        self, topic: str, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]
    ) -> None:
        producer = await self.ensure_started()
        async with self._new_session_after_failure():
            await producer.send_and_wait(topic, value=value, key=key, headers=headers)

    @asynccontextmanager
    async def _new_session_after_failure(self) -> AsyncIterator[None]:
        """aiokafka keeps an idempotent session's sequence numbers after failed batches, and
        once the broker is back it refuses every later batch (OutOfOrderSequenceNumber): a
        relay would never drain. So a failed send ends the session; the next send starts one."""
        try:
            yield
        except KafkaError:
            await self.stop()
            raise

    async def stop(self) -> None:
        async with self._lock:
            if self._producer is not None:
                await self._producer.stop()
                self._producer = None


async def kafka_reachable(kafka: KafkaAccess, timeout_s: float = 3.0) -> None:
    """Raise unless a broker answers a metadata request within the timeout."""
    client = AIOKafkaClient(**kafka.client_args(), request_timeout_ms=int(timeout_s * 1000))
    try:
        await asyncio.wait_for(client.bootstrap(), timeout_s)
    finally:
        await client.close()


def group_consumer(
    kafka: KafkaAccess, topic: str, group: str, client_id: str
) -> Callable[[], AIOKafkaConsumer]:
    """A consumer in a shared group, committing by hand (ConsumerLoop commits after the effect).

    A new group starts at the beginning of the retained topic, so nothing is missed.
    """

    def make() -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            topic,
            **kafka.client_args(),
            group_id=group,
            client_id=client_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )

    return make


Handler = Callable[[Sequence[Envelope]], Awaitable[None]]
"""Handles the envelopes in order, all or nothing: when it raises, none has taken effect."""
OnStarted = Callable[[AIOKafkaConsumer], Awaitable[None]]
LAG_EVERY_S = 1.0
# Handled offsets go to Kafka at most this often (and when the loop stops). Every handler with
# a commit is idempotent (ADR 0002), so a crash redelivers at most this long a stretch, which
# changes nothing; committing after every small poll cost a Kafka round trip each.
COMMIT_EVERY_S = 1.0
# What becomes of a consumed record: `flare_events_consumed_total`'s outcome label.
OUTCOMES = ("handled", "retried", "dead_lettered", "skipped")


@dataclass(frozen=True)
class ConsumerMetrics:
    outcomes: Counter
    lag: Gauge


# One set per registry: several loops in one app share the metric families.
_metrics: "weakref.WeakKeyDictionary[CollectorRegistry, ConsumerMetrics]" = (
    weakref.WeakKeyDictionary()
)


def _consumer_metrics(registry: CollectorRegistry) -> ConsumerMetrics:
    if registry not in _metrics:
        _metrics[registry] = ConsumerMetrics(
            outcomes=Counter(
                "flare_events_consumed_total",
                "Consumed records by outcome.",
                ["consumer", "outcome"],
                registry=registry,
            ),
            lag=Gauge(
                "flare_consumer_lag",
                "Records behind the end of the partition.",
                ["consumer", "topic", "partition"],
                registry=registry,
            ),
        )
    return _metrics[registry]


class ConsumerLoop:
    """One consumer, one loop: decode -> handle -> (commit). Poison goes to the DLQ.

    With `commit`, a partition's offsets are committed only after every handled record's
    database effect has committed, at most every `commit_every_s` and when the loop stops;
    a transient failure seeks back and retries the record, so order within a partition holds
    and nothing is skipped.

    The handler gets one record at a time, or with `batches` all the records of one poll in
    one call (one transaction instead of one per record); when such a call fails for any
    reason but a transient one, the records are handled again one at a time, which finds the
    poison among them and dead-letters it alone.
    """

    def __init__(
        self,
        name: str,
        make_consumer: Callable[[], AIOKafkaConsumer],
        handle: Handler,
        registry: CollectorRegistry,
        dead_letters: EventProducer | None = None,
        dlq_topic: str = "",
        commit: bool = True,
        on_started: OnStarted | None = None,
        retry_delay_s: float = 1.0,
        batches: bool = False,
        max_records: int = 100,
        commit_every_s: float = COMMIT_EVERY_S,
    ) -> None:
        self.name, self._make_consumer, self._handle = name, make_consumer, handle
        self._batches, self._max_records = batches, max_records
        self._dead_letters, self._dlq_topic, self._commit = dead_letters, dlq_topic, commit
        self._commit_every_s, self._committed_at = commit_every_s, 0.0
        # The next offset of each partition whose records' effects have committed, not yet
        # committed to Kafka.
        self._handled: dict[TopicPartition, int] = {}
        self._on_started, self._retry_delay_s = on_started, retry_delay_s
        metrics = _consumer_metrics(registry)
        self._outcomes, self._lag = metrics.outcomes, metrics.lag
        # Every outcome's series exists from the start, at 0: an alert on `increase()` sees
        # the first dead letter, which a series born at 1 would hide.
        for outcome in OUTCOMES:
            self._outcomes.labels(name, outcome)
        self._lag_partitions: set[TopicPartition] = set()  # those with a lag series

    async def run(self, stopping: asyncio.Event) -> None:
        consumer = self._make_consumer()
        try:
            # Inside the `try`: a start that fails half way (the broker answered, then went)
            # leaves a client with connections and tasks, which `stop` closes.
            await consumer.start()
            if self._on_started is not None:
                await self._on_started(consumer)
            lag_measured, self._committed_at = 0.0, time.monotonic()
            while not stopping.is_set():
                batches = await consumer.getmany(timeout_ms=200, max_records=self._max_records)
                if not await self._handled_as_one(consumer, batches):
                    for partition, records in batches.items():
                        await self._handle_partition(consumer, partition, records, stopping)
                if time.monotonic() - self._committed_at >= self._commit_every_s:
                    await self._commit_handled(consumer)
                if time.monotonic() - lag_measured > LAG_EVERY_S:
                    await self._measure_lag(consumer)
                    lag_measured = time.monotonic()
        finally:
            self._forget_lag()  # first: what follows may raise (a cancellation, say)
            try:
                await self._commit_handled(consumer)
            except KafkaError as error:  # redelivered after a restart, and changes nothing
                log.warning("offsets_not_committed", consumer=self.name, error=repr(error))
            finally:
                await consumer.stop()

    def _forget_lag(self) -> None:
        """A loop that ended (stopped, or crashed and waiting to be restarted) knows no lag:
        a kept series would show its last value for ever, and hide the loop's absence from
        the alert on consumers nobody runs."""
        for partition in self._lag_partitions:
            self._lag.remove(self.name, partition.topic, str(partition.partition))
        self._lag_partitions.clear()

    async def _commit_handled(self, consumer: AIOKafkaConsumer) -> None:
        """Commit the handled offsets of the partitions this consumer still owns (after a
        rebalance, the new owner starts from the last commit: what it handles again changes
        nothing)."""
        owned = consumer.assignment()
        offsets = {tp: offset for tp, offset in self._handled.items() if tp in owned}
        self._handled.clear()
        self._committed_at = time.monotonic()
        if not offsets:
            return
        try:
            await consumer.commit(offsets)
        except CommitFailedError as error:
            # The group rebalanced since these records were handled. Whoever owns their
            # partitions now starts from the last commit and handles them again, which changes
            # nothing (ADR 0002); the loop goes on with the partitions it holds now. Ending it
            # instead would rejoin the group with a new consumer: one more rebalance for all.
            log.warning("offsets_not_committed", consumer=self.name, error=repr(error))

    @staticmethod
    def _seek_back(consumer: AIOKafkaConsumer, partition: TopicPartition, offset: int) -> None:
        """The next poll starts again at `offset`; a partition given to another member
        meanwhile needs no seek: its new owner starts from the last commit."""
        if partition in consumer.assignment():
            consumer.seek(partition, offset)

    async def _measure_lag(self, consumer: AIOKafkaConsumer) -> None:
        """The lag of each partition this consumer owns; a partition it no longer owns (a
        rebalance gave it to another member) loses its series rather than keep its last value."""
        owned = consumer.assignment()
        for partition in self._lag_partitions - owned:
            self._lag.remove(self.name, partition.topic, str(partition.partition))
        self._lag_partitions &= owned
        for partition in owned:
            end = consumer.highwater(partition)
            if end is not None:
                try:
                    behind = end - await consumer.position(partition)
                except IllegalStateError:  # given away while its position was looked up
                    continue
                self._lag.labels(self.name, partition.topic, str(partition.partition)).set(behind)
                self._lag_partitions.add(partition)

    async def _handled_as_one(
        self,
        consumer: AIOKafkaConsumer,
        batches: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]],
    ) -> bool:
        """Handle the whole poll in one call; False when it must go one record at a time."""
        records = [record for partition_records in batches.values() for record in partition_records]
        if not self._batches or len(records) < 2:
            return False
        try:
            envelopes = [Envelope.from_record(record) for record in records]
            traces = [envelope.traceparent for envelope in envelopes]
            with span(f"consume {self.name} batch", kind=SpanKind.CONSUMER, links=traces):
                await self._handle(envelopes)
        except Exception as error:
            if not is_transient(error):
                log.info("batch_handled_one_by_one", consumer=self.name, error=repr(error))
                return False
            log.warning("batch_retry", consumer=self.name, records=len(records), error=repr(error))
            self._outcomes.labels(self.name, "retried").inc(len(records))
            for partition, partition_records in batches.items():
                self._seek_back(consumer, partition, partition_records[0].offset)
            await asyncio.sleep(self._retry_delay_s)
            return True
        self._outcomes.labels(self.name, "handled").inc(len(records))
        if self._commit:
            self._handled.update(
                {partition: rows[-1].offset + 1 for partition, rows in batches.items()}
            )
        return True

    async def _handle_partition(
        self,
        consumer: AIOKafkaConsumer,
        partition: TopicPartition,
        records: list[ConsumerRecord[bytes, bytes]],
        stopping: asyncio.Event,
    ) -> None:
        done = 0
        for record in records:
            if stopping.is_set() or not await self._handle_record(record):
                break
            done += 1
        if done < len(records):
            # Unfinished: the next poll starts again at the first record not handled.
            self._seek_back(consumer, partition, records[done].offset)
        if done and self._commit:
            self._handled[partition] = records[done - 1].offset + 1

    async def _handle_record(self, record: ConsumerRecord[bytes, bytes]) -> bool:
        """True when the record is finished with (handled or dead-lettered)."""
        try:
            envelope = Envelope.from_record(record)
            with span(f"consume {record.topic}", envelope.traceparent, SpanKind.CONSUMER):
                await self._handle([envelope])
        except InvalidEvent as error:
            return await self._dead_letter(record, str(error))
        except Exception as error:
            if is_transient(error):
                log.warning(
                    "event_retry",
                    consumer=self.name,
                    topic=record.topic,
                    partition=record.partition,
                    offset=record.offset,
                    error=repr(error),
                )
                self._outcomes.labels(self.name, "retried").inc()
                await asyncio.sleep(self._retry_delay_s)
                return False
            log.exception(
                "event_failed", consumer=self.name, topic=record.topic, offset=record.offset
            )
            return await self._dead_letter(record, f"handler failed: {error!r}")
        self._outcomes.labels(self.name, "handled").inc()
        return True

    async def _dead_letter(self, record: ConsumerRecord[bytes, bytes], reason: str) -> bool:
        log.warning(
            "event_dead_lettered",
            consumer=self.name,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            reason=reason,
        )
        if self._dead_letters is None:
            self._outcomes.labels(self.name, "skipped").inc()
            return True
        headers = [
            *(record.headers or ()),
            ("flare_dlq_reason", reason.encode()[:4000]),
            ("flare_dlq_consumer", self.name.encode()),
            ("flare_dlq_source", f"{record.topic}/{record.partition}/{record.offset}".encode()),
        ]
        try:
            await self._dead_letters.send_raw(self._dlq_topic, record.key, record.value, headers)
        except KafkaError as error:
            log.warning("dead_letter_failed", consumer=self.name, error=repr(error))
            await asyncio.sleep(self._retry_delay_s)
            return False
        self._outcomes.labels(self.name, "dead_lettered").inc()
        return True
