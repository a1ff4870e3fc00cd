"""Sends queued deliveries, records every attempt, and retries on the schedule until dead.

Replicas share the queue. A slot claims the next due delivery, pages first (ADR 0016), with a
lease: one statement locks it (`FOR UPDATE SKIP LOCKED`) and moves its next attempt to the
lease's end, so no other slot or replica takes it meanwhile, and returns it with its
subscription's secret and its case's escalation timer. The send holds no lock and no
transaction; its outcome is recorded in one statement as soon as it ends, and sets the
delivery's state only while the claim is still this slot's: not cancelled meanwhile, nor
claimed again once its lease ended (ADR 0015).
A replica that dies mid-send leaves its claims to be sent again when their leases end, with
the same `webhook-id` (receivers deduplicate on it): only the sends under way at the crash can
repeat (at most `delivery_concurrency` per replica). A page (an escalation step) is cancelled
instead of sent when its claim finds the case's timer stopped, or started on a new round (the
case moved to another team): no claim that starts after an acknowledgement or a move is
committed sends its case's page; one claimed before it still goes out, recorded as sent. Up to
`delivery_concurrency` slots send at once; each keeps one database connection while
deliveries keep being due.
"""

import asyncio
import time
import traceback
from datetime import UTC, datetime, timedelta
from typing import get_args

from prometheus_client import CollectorRegistry, Counter, Histogram
from sqlalchemy import (
    ColumnElement,
    DateTime,
    Float,
    Integer,
    Interval,
    RowMapping,
    Subquery,
    Text,
    bindparam,
    func,
    insert,
    literal_column,
    select,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.notifier.models import (
    DELIVERY_DUE,
    IS_A_PAGE,
    deliveries,
    delivery_attempts,
    escalation_timers,
    subscriptions,
)
from services.notifier.schemas import Channel, DeliveryKind
from services.notifier.senders import Outcome, Senders, redacted, shown_error
from services.notifier.settings import NotifierSettings
from shared.lifecycle import pause
from shared.logging import get_logger

log = get_logger(__name__)
# What an attempt, or a cancel, leaves a delivery as: `flare_deliveries_total`'s outcome label.
OUTCOMES = ("delivered", "retrying", "dead", "cancelled")

# The statements every delivery runs, built once and bound at each execution: building one and
# deriving its cache key costs about as much CPU as the round trip.
# The claim locks the next due delivery, reading the due index alone, and joins its
# subscription and timer after: with the join inside it, stale statistics (the due index
# empty when last analysed) made PostgreSQL hash and sort every due delivery, bodies and all,
# for each claim (on disk past a few thousand), and a surge's pages went out at a tenth of the
# rate. It returns the delivery as it was before the claim (`next_attempt_at` is when it fell
# due) and the lease's end. Both "due" and the lease are reckoned by the database's clock: the
# replicas' clocks may disagree, and a lease must mean the same to all of them.


def _next_due(*only: ColumnElement[bool]) -> Subquery:
    """The first due delivery (of those `only` selects), locked, from its due index alone."""
    return (
        select(deliveries.c.id, deliveries.c.next_attempt_at)
        .where(DELIVERY_DUE, deliveries.c.next_attempt_at <= func.now(), *only)
        .order_by(deliveries.c.next_attempt_at)
        .limit(literal_column("1"))  # not a bound value: the kept plan knows it reads one row
        .with_for_update(skip_locked=True)
        .subquery()
    )


# Pages first (ADR 0016): the first due page, else the first due delivery of any kind. The
# second lookup runs only when the first finds none; each stops at the first due entry of its
# index.
_PAGE, _ANY = _next_due(IS_A_PAGE), _next_due()
_NEXT_DUE = union_all(select(_PAGE), select(_ANY)).limit(literal_column("1")).cte("next_due")
_CLAIMED = (
    update(deliveries)
    .where(deliveries.c.id == _NEXT_DUE.c.id)
    .values(next_attempt_at=func.now() + bindparam("lease", type_=Interval))
    .returning(
        *(column for column in deliveries.c if column.name != "next_attempt_at"),
        _NEXT_DUE.c.next_attempt_at,
        deliveries.c.next_attempt_at.label("lease_until"),
    )
    .cte("claimed")
)
CLAIM_DUE = select(
    _CLAIMED,
    subscriptions.c.secret,
    subscriptions.c.deleted_at.label("subscription_deleted_at"),
    escalation_timers.c.state.label("timer_state"),
    escalation_timers.c.started_at.label("timer_round"),
).select_from(
    _CLAIMED.outerjoin(subscriptions, subscriptions.c.id == _CLAIMED.c.subscription_id).outerjoin(
        escalation_timers, escalation_timers.c.case_id == _CLAIMED.c.case_id
    )
)
# The delivery's row, while the slot's lease on it holds and nothing (a deleted subscription)
# has cancelled it meanwhile.
STILL_CLAIMED = (
    (deliveries.c.id == bindparam("delivery_id"))
    & (deliveries.c.next_attempt_at == bindparam("lease_until", type_=DateTime(timezone=True)))
    & DELIVERY_DUE
)
_ATTEMPT = (
    insert(delivery_attempts)
    .values(
        delivery_id=bindparam("delivery_id"),
        attempt=bindparam("attempt", type_=Integer),
        started_at=bindparam("started_at", type_=DateTime(timezone=True)),
        latency_ms=bindparam("latency_ms", type_=Float),
        status_code=bindparam("status_code", type_=Integer),
        error=bindparam("error", type_=Text),
        outcome=bindparam("outcome", type_=Text),
    )
    .cte("attempt")
)
# An attempt and the delivery's new state, in one statement. The attempt is always logged; the
# state changes only while the claim holds. The delivery keeps its `delivered_at` unless given
# a new one, and its `next_attempt_at` returns to when it fell due unless it is retried.
RECORD_ATTEMPT = (
    update(deliveries)
    .where(STILL_CLAIMED)
    .values(
        status=bindparam("new_status", type_=Text),
        attempts=bindparam("attempt", type_=Integer),
        last_status_code=bindparam("status_code", type_=Integer),
        last_error=bindparam("error", type_=Text),
        delivered_at=bindparam("delivered_at", type_=DateTime(timezone=True)),
        next_attempt_at=bindparam("next_attempt_at", type_=DateTime(timezone=True)),
    )
    .add_cte(_ATTEMPT)
)
CANCEL = (
    update(deliveries)
    .where(STILL_CLAIMED)
    .values(
        status="cancelled",
        last_error=bindparam("reason", type_=Text),
        next_attempt_at=bindparam("due_at", type_=DateTime(timezone=True)),
    )
)


class DeliveryWorker:
    def __init__(
        self,
        engine: AsyncEngine,
        senders: Senders,
        settings: NotifierSettings,
        registry: CollectorRegistry,
    ) -> None:
        self._engine, self._senders, self._settings = engine, senders, settings
        self._schedule = settings.retry_schedule
        self._lease = {"lease": timedelta(seconds=settings.delivery_lease_s)}  # the claim's value
        self._wake = asyncio.Event()
        self._wakes = 0  # how many wakes so far: a slot that saw none due looks again after one
        self._open_slots = 0
        self._outcomes = Counter(
            "flare_deliveries_total",
            "Delivery attempts and their fates, by kind (page or subscription) and channel.",
            ["kind", "channel", "outcome"],
            registry=registry,
        )
        # Every series from the start, at 0: an alert on `increase()` sees the first dead one.
        for kind in get_args(DeliveryKind):
            for channel in get_args(Channel):
                for outcome in OUTCOMES:
                    self._outcomes.labels(kind, channel, outcome)
        self._latency = Histogram(
            "flare_delivery_latency_seconds",
            "From the event's time to its successful delivery, by channel.",
            ["channel"],
            buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600),
            registry=registry,
        )

    def wake(self) -> None:
        """New deliveries were committed: look now rather than at the next poll."""
        self._wakes += 1
        self._wake.set()

    async def run(self, stopping: asyncio.Event) -> None:
        """Each wake and each poll opens a slot, while slots stuck on slow targets go on: a
        delivery queued meanwhile does not wait for their sends to end."""
        # Counted afresh: a slot cancelled before it ran (a failed run) never counted itself out.
        self._open_slots = 0
        async with asyncio.TaskGroup() as slots:
            while not stopping.is_set():
                self._wake.clear()
                self._open_slot(slots, stopping)
                await pause(stopping, self._settings.delivery_poll_interval_s, self._wake)

    def _open_slot(self, slots: asyncio.TaskGroup, stopping: asyncio.Event) -> None:
        """One more slot looks for a due delivery, unless `delivery_concurrency` are open: each
        slot that claims one opens the next, so an idle queue costs one look, not one a slot."""
        if self._open_slots < self._settings.delivery_concurrency:
            self._open_slots += 1
            slots.create_task(self._deliver_until_none_due(slots, stopping))

    async def _deliver_until_none_due(
        self, slots: asyncio.TaskGroup, stopping: asyncio.Event
    ) -> None:
        """Claim the next due delivery, send it and record the outcome, until none is due. One
        connection for the whole run, not a pool checkout and release per delivery, and in
        autocommit: each statement is its own transaction, with no `BEGIN` and `COMMIT` round
        trips around it. A slot that fails ends alone (its claim is taken again when its lease
        ends): the others' sends are not cut short."""
        try:
            async with self._engine.connect() as connection:
                await connection.execution_options(isolation_level="AUTOCOMMIT")
                while not stopping.is_set():
                    wakes = self._wakes
                    delivered = await self._deliver_next(connection, slots, stopping)
                    # None due, and no wake since this look began: done. After a wake, look
                    # again: its delivery may have been committed after the claim looked (with
                    # every slot open, the wake itself opened none).
                    if not delivered and self._wakes == wakes:
                        return
        except Exception:
            log.exception("delivery_slot_failed")
        finally:
            self._open_slots -= 1

    async def _deliver_next(
        self, connection: AsyncConnection, slots: asyncio.TaskGroup, stopping: asyncio.Event
    ) -> bool:
        """Claim and deliver the next due delivery; False when none is due."""
        row = (await connection.execute(CLAIM_DUE, self._lease)).mappings().first()
        if row is None:
            return False
        self._open_slot(slots, stopping)
        await self._deliver(connection, row)
        return True

    async def _deliver(self, connection: AsyncConnection, row: RowMapping) -> None:
        if row["kind"] == "page" and row["timer_state"] == "stopped":
            await self._cancel(connection, row, "case acknowledged or resolved")
        elif row["kind"] == "page" and row["round_started_at"] not in (None, row["timer_round"]):
            # Queued by the team its case has left, in that team's name (pages queued before
            # pages knew their round have none, and go out).
            await self._cancel(connection, row, "case moved to another team")
        elif row["subscription_deleted_at"] is not None:
            # Queued by an event handled while the subscription was being deleted.
            await self._cancel(connection, row, "subscription deleted")
        else:
            outcome, started_at, latency_s = await self._attempt(row)
            await self._record(connection, row, outcome, started_at, latency_s)

    async def _attempt(self, row: RowMapping) -> tuple[Outcome, datetime, float]:
        started_at, started = datetime.now(UTC), time.perf_counter()
        try:
            outcome = await self._senders.send(
                row["channel"], row["target"], row["body"], row["id"], row["secret"]
            )
        except Exception as error:
            # A fault the senders do not classify (a bug, a library's surprise): a failed
            # attempt, logged with its traceback, so the delivery is retried on the schedule and
            # dead after the last attempt, not claimed again at each lease's end for ever.
            about = (row["channel"], row["target"])
            outcome = Outcome(False, error=shown_error(*about, f"{type(error).__name__}: {error}"))
            # The traceback names the error too: without the target's credential either.
            log.error(
                "delivery_send_crashed",
                delivery_id=str(row["id"]),
                error=outcome.error,
                traceback=redacted(*about, traceback.format_exc()),
            )
        return outcome, started_at, time.perf_counter() - started

    async def _record(
        self,
        connection: AsyncConnection,
        row: RowMapping,
        outcome: Outcome,
        started_at: datetime,
        latency_s: float,
    ) -> None:
        attempt, now = row["attempts"] + 1, datetime.now(UTC)
        status, next_attempt_at = self._after(outcome, attempt, now)
        recorded = await connection.execute(
            RECORD_ATTEMPT,
            {
                "delivery_id": row["id"],
                "lease_until": row["lease_until"],
                "attempt": attempt,
                "started_at": started_at,
                "latency_ms": latency_s * 1000,
                "status_code": outcome.status_code,
                "error": outcome.error,
                "outcome": "delivered" if outcome.delivered else "failed",
                "new_status": status,
                "delivered_at": now if outcome.delivered else row["delivered_at"],
                "next_attempt_at": next_attempt_at or row["next_attempt_at"],
            },
        )
        if recorded.rowcount == 0:
            _claim_lost(row, attempt)
            return
        if outcome.delivered:
            self._latency.labels(row["channel"]).observe((now - row["event_time"]).total_seconds())
        self._outcomes.labels(row["kind"], row["channel"], status).inc()
        log.info(
            "delivery_attempted",
            delivery_id=str(row["id"]),
            channel=row["channel"],
            attempt=attempt,
            status=status,
            status_code=outcome.status_code,
            error=outcome.error,
        )

    def _after(self, outcome: Outcome, attempt: int, now: datetime) -> tuple[str, datetime | None]:
        """The delivery's new status: delivered, retrying (with when), or dead."""
        if outcome.delivered:
            return "delivered", None
        delay_s = None if outcome.final else self._schedule.next_delay_s(attempt)
        if delay_s is None:
            return "dead", None
        return "retrying", now + timedelta(seconds=delay_s)

    async def _cancel(self, connection: AsyncConnection, row: RowMapping, reason: str) -> None:
        cancel = {
            "delivery_id": row["id"],
            "lease_until": row["lease_until"],
            "due_at": row["next_attempt_at"],
            "reason": reason,
        }
        cancelled = await connection.execute(CANCEL, cancel)
        if cancelled.rowcount == 0:
            _claim_lost(row, row["attempts"])
            return
        self._outcomes.labels(row["kind"], row["channel"], "cancelled").inc()
        log.info(
            "delivery_cancelled",
            delivery_id=str(row["id"]),
            case_id=str(row["case_id"]),
            reason=reason,
        )


def _claim_lost(row: RowMapping, attempt: int) -> None:
    """Cancelled meanwhile (its subscription deleted), or held past its lease and claimed
    again: the delivery's state is not this slot's to set (its attempt, if any, is logged)."""
    log.warning("delivery_claim_lost", delivery_id=str(row["id"]), attempt=attempt)
