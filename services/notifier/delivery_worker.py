"""Sends queued deliveries, records every attempt, and retries on the schedule until dead.

Replicas share the queue: each due row is claimed with `FOR UPDATE SKIP LOCKED` and held for
the duration of its send, so one replica sends it; its outcome is recorded in the same
transaction, committed as soon as that send ends. A crash mid-send rolls the claim back and
another replica sends again with the same `webhook-id` (receivers deduplicate on it): only the
sends under way at the crash can repeat (at most `delivery_concurrency` per replica). A page
(an escalation step) also holds its case's timer row `FOR SHARE` while it is sent: an
acknowledgement must wait for that page to finish, and once the acknowledgement has stopped
the timer, queued pages are cancelled instead of sent. Up to `delivery_concurrency` slots send
at once; each keeps one database connection while deliveries keep being due.
"""

import asyncio
import time
from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry, Counter, Histogram
from sqlalchemy import DateTime, Float, Integer, RowMapping, Text, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.notifier.models import (
    DELIVERY_DUE,
    deliveries,
    delivery_attempts,
    escalation_timers,
    subscriptions,
)
from services.notifier.senders import Outcome, Senders
from services.notifier.settings import NotifierSettings
from shared.lifecycle import pause
from shared.logging import get_logger

log = get_logger(__name__)

# The statements every delivery runs, built once and bound at each execution: building one and
# deriving its cache key costs about as much CPU as the round trip.
# The claim locks the next due delivery, reading the due index alone, and joins its
# subscription after: with the join inside it, stale statistics (the due index empty when last
# analysed) made PostgreSQL hash and sort every due delivery, bodies and all, for each claim
# (on disk past a few thousand), and a surge's pages went out at a tenth of the rate. The
# delivery's columns come from the locked row itself, its newest version.
_NEXT_DUE = (
    select(deliveries)
    .where(DELIVERY_DUE)
    .where(deliveries.c.next_attempt_at <= bindparam("now", type_=DateTime(timezone=True)))
    .order_by(deliveries.c.next_attempt_at)
    .limit(1)
    .with_for_update(skip_locked=True)
    .cte("next_due")
)
CLAIM_DUE = select(
    _NEXT_DUE,
    subscriptions.c.secret,
    subscriptions.c.deleted_at.label("subscription_deleted_at"),
).select_from(_NEXT_DUE.outerjoin(subscriptions, subscriptions.c.id == _NEXT_DUE.c.subscription_id))
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
# An attempt and the delivery's new state, in one statement. The delivery keeps its
# `delivered_at` and `next_attempt_at` unless they are given new values.
RECORD_ATTEMPT = (
    update(deliveries)
    .where(deliveries.c.id == bindparam("delivery_id"))
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
    .where(deliveries.c.id == bindparam("delivery_id"))
    .values(status="cancelled", last_error=bindparam("reason", type_=Text))
)
TIMER_STATE = (
    select(escalation_timers.c.state)
    .where(escalation_timers.c.case_id == bindparam("case_id"))
    .with_for_update(read=True)
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
        self._wake = asyncio.Event()
        self._wakes = 0  # how many wakes so far: a slot that saw none due looks again after one
        self._open_slots = 0
        self._outcomes = Counter(
            "flare_deliveries_total",
            "Delivery attempts and their fates, by channel.",
            ["channel", "outcome"],
            registry=registry,
        )
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
        """Claim the next due delivery, send it and record the outcome, one transaction each,
        until none is due. One connection for the whole run, not a pool checkout and release per
        delivery. A slot that fails ends alone (its delivery is claimed again later): the
        others' sends are not cut short."""
        try:
            async with self._engine.connect() as connection:
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
        """Deliver the next due delivery in one transaction; False when none is due."""
        async with connection.begin():
            claimed = await connection.execute(CLAIM_DUE, {"now": datetime.now(UTC)})
            row = claimed.mappings().first()
            if row is None:
                return False
            self._open_slot(slots, stopping)
            await self._deliver(connection, row)
        return True

    async def _deliver(self, connection: AsyncConnection, row: RowMapping) -> None:
        if row["kind"] == "page" and not await _page_still_wanted(connection, row):
            await self._cancel(connection, row, "case acknowledged or resolved")
        elif row["subscription_deleted_at"] is not None:
            # Queued by an event handled while the subscription was being deleted.
            await self._cancel(connection, row, "subscription deleted")
        else:
            outcome, started_at, latency_s = await self._attempt(row)
            await self._record(connection, row, outcome, started_at, latency_s)

    async def _attempt(self, row: RowMapping) -> tuple[Outcome, datetime, float]:
        started_at, started = datetime.now(UTC), time.perf_counter()
        outcome = await self._senders.send(
            row["channel"], row["target"], row["body"], row["id"], row["secret"]
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
        await connection.execute(
            RECORD_ATTEMPT,
            {
                "delivery_id": row["id"],
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
        if outcome.delivered:
            self._latency.labels(row["channel"]).observe((now - row["event_time"]).total_seconds())
        self._outcomes.labels(row["channel"], status).inc()
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
        await connection.execute(CANCEL, {"delivery_id": row["id"], "reason": reason})
        self._outcomes.labels(row["channel"], "cancelled").inc()
        log.info(
            "delivery_cancelled",
            delivery_id=str(row["id"]),
            case_id=str(row["case_id"]),
            reason=reason,
        )


async def _page_still_wanted(connection: AsyncConnection, row: RowMapping) -> bool:
    state = await connection.scalar(TIMER_STATE, {"case_id": row["case_id"]})
    return state != "stopped"
