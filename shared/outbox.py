"""Transactional outbox: events are stored with the change that caused them, then relayed to Kafka.

A service inserts outbox rows in the same transaction as its own change, so an event exists
if and only if the change does. The relay takes the oldest rows out (a DELETE ... RETURNING),
publishes them in id order and commits once Kafka has acknowledged them (at-least-once: a
crash before the commit republishes; consumers deduplicate by event id). With several
replicas, a transaction-scoped advisory lock lets one relay publish at a time, so rows leave
in id order and none is published twice; the others wait for their turn (their own commits
still wake them).
"""

import asyncio
import time
import zlib
from typing import Any

from alembic import op
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    MetaData,
    RowMapping,
    Table,
    Text,
    Uuid,
    delete,
    event,
    func,
    insert,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from shared.errors import is_transient
from shared.kafka import Envelope, EventProducer, OutgoingMessage
from shared.lifecycle import pause
from shared.logging import get_logger

log = get_logger(__name__)
MEASURE_BACKLOG_EVERY_S = 1.0


def outbox_columns() -> list[Column[object]]:
    return [
        Column("id", BigInteger, Identity(), primary_key=True),
        Column("topic", Text, nullable=False),
        Column("key", Text, nullable=False),
        Column("event_id", Uuid, nullable=False, unique=True),
        Column("event_type", Text, nullable=False),
        Column("source", Text, nullable=False),
        Column("occurred_at", DateTime(timezone=True), nullable=False),
        Column("traceparent", Text),
        Column("data", JSONB, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    ]


def outbox_table(metadata: MetaData) -> Table:
    return Table("outbox", metadata, *outbox_columns())


def create_outbox_table(schema: str) -> None:
    """For a service's first migration; later changes to the outbox get migrations of their own."""
    op.create_table("outbox", *outbox_columns(), schema=schema)


def outbox_row(message: OutgoingMessage) -> dict[str, Any]:
    """The outbox row of one message, for an INSERT of one row or of many."""
    envelope = message.envelope
    return {
        "topic": message.topic,
        "key": message.key,
        "event_id": envelope.id,
        "event_type": envelope.event_type,
        "source": envelope.source,
        "occurred_at": envelope.time,
        "traceparent": envelope.traceparent,
        "data": envelope.data,
    }


# Rows added to a session's outbox, by table, until its transaction commits or rolls back.
_STAGED = "flare.outbox.staged"


def add_to_outbox(session: AsyncSession, outbox: Table, message: OutgoingMessage) -> None:
    """Add the message to the outbox in the session's transaction.

    The row is written when the transaction commits, with every other row the transaction
    added, in one statement: a consumed poll that changes a hundred cases writes their events
    with one INSERT instead of a hundred. Nothing reads the outbox inside the transaction that
    writes it, and a rollback drops the rows with everything else.
    """
    staged: dict[Table, list[dict[str, Any]]] = session.info.setdefault(_STAGED, {})
    staged.setdefault(outbox, []).append(outbox_row(message))


@event.listens_for(Session, "before_commit")
def _write_staged_rows(session: Session) -> None:
    # Runs inside the commit, in the transaction (in AsyncSession's greenlet, so the
    # synchronous API is the one to use here).
    for outbox, rows in session.info.pop(_STAGED, {}).items():
        session.execute(insert(outbox), rows)


@event.listens_for(Session, "after_rollback")
def _drop_staged_rows(session: Session) -> None:
    session.info.pop(_STAGED, None)


class OutboxRelay:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        outbox: Table,
        producer: EventProducer,
        registry: CollectorRegistry,
        batch_size: int = 500,
        poll_interval_s: float = 1.0,
    ) -> None:
        self._sessions, self._outbox, self._producer = sessions, outbox, producer
        self._batch_size, self._poll_interval_s = batch_size, poll_interval_s
        self._wake = asyncio.Event()
        self._measured_at = 0.0
        # One relay at a time per outbox: two replicas publishing different id ranges at once
        # could put a key's later event on Kafka before its earlier one. Without the lock,
        # no rows. Built once: it runs on every commit that adds rows.
        lock_id = zlib.crc32(f"flare.outbox:{outbox.fullname}".encode())
        turn = select(func.pg_try_advisory_xact_lock(lock_id).label("ours")).cte("turn")
        oldest = select(outbox.c.id).select_from(outbox.join(turn, turn.c.ours))
        self._take_oldest = (
            delete(outbox)
            .where(outbox.c.id.in_(oldest.order_by(outbox.c.id).limit(batch_size)))
            .returning(*outbox.c)
        )
        self._published = Counter(
            "flare_outbox_published_total", "Outbox events published.", registry=registry
        )
        self._failures = Counter(
            "flare_outbox_publish_failures_total",
            "Outbox batches that failed to publish (retried).",
            registry=registry,
        )
        self._latency = Histogram(
            "flare_outbox_publish_seconds", "Time from commit to Kafka ack.", registry=registry
        )
        self._backlog = Gauge(
            "flare_outbox_backlog", "Outbox rows not yet published.", registry=registry
        )
        self._oldest = Gauge(
            "flare_outbox_oldest_seconds",
            "Age of the oldest unpublished outbox row (0 when empty).",
            registry=registry,
        )

    def wake(self) -> None:
        """Called after a commit that added rows, so they leave now rather than at the next poll."""
        self._wake.set()

    async def run(self, stopping: asyncio.Event) -> None:
        backoff_s = 0.5
        while not stopping.is_set():
            self._wake.clear()
            try:
                published = await self.publish_batch()
                backoff_s = 0.5
            except Exception as error:
                if not is_transient(error):
                    raise
                self._failures.inc()
                log.warning("outbox_publish_failed", error=repr(error), retry_in_s=backoff_s)
                await self._measure_backlog_if_possible()
                await pause(stopping, backoff_s)
                backoff_s = min(backoff_s * 2, 10.0)
                continue
            if published < self._batch_size:
                await self._measure_backlog_now_and_then()
                await pause(stopping, self._poll_interval_s, self._wake)

    async def _measure_backlog_now_and_then(self) -> None:
        # A busy relay wakes on every commit: counting the table each time would cost a query
        # per batch for a gauge that is scraped every few seconds.
        if time.monotonic() - self._measured_at >= MEASURE_BACKLOG_EVERY_S:
            await self._measure_backlog_if_possible()
            self._measured_at = time.monotonic()

    async def _measure_backlog_if_possible(self) -> None:
        # While Kafka is down the backlog still gets measured; while Postgres is down it cannot,
        # and the relay goes on (it would have crashed, and restarted a second later).
        try:
            await self.measure_backlog()
        except Exception as error:
            if not is_transient(error):
                raise

    async def measure_backlog(self) -> None:
        async with self._sessions() as session:
            count, oldest = (
                await session.execute(
                    select(func.count(), func.min(self._outbox.c.created_at)).select_from(
                        self._outbox
                    )
                )
            ).one()
        self._backlog.set(count)
        self._oldest.set(max(0.0, time.time() - oldest.timestamp()) if oldest else 0.0)

    async def publish_batch(self) -> int:
        """Take the oldest rows out of the outbox, publish them and commit: one statement takes
        the relay's lock and the rows (DELETE ... RETURNING), and a failed publish rolls the
        delete back."""
        async with self._sessions.begin() as session:
            taken = await session.execute(self._take_oldest)
            rows = sorted(taken.mappings().all(), key=lambda row: int(row["id"]))
            if not rows:
                return 0
            await self._producer.send_all([_message(row) for row in rows])
        now = time.time()
        for row in rows:
            self._latency.observe(max(0.0, now - row["created_at"].timestamp()))
        self._published.inc(len(rows))
        return len(rows)


def _message(row: RowMapping) -> OutgoingMessage:
    envelope = Envelope(
        id=row["event_id"],
        event_type=row["event_type"],
        source=row["source"],
        time=row["occurred_at"],
        data=row["data"],
        traceparent=row["traceparent"],
    )
    return OutgoingMessage(topic=row["topic"], key=row["key"], envelope=envelope)
