"""Escalation timers: fires due steps once across replicas and restarts, queueing the pages.

Timers are rows in Postgres, so a restart loses none. A due timer is claimed with
`FOR UPDATE SKIP LOCKED`; its pages are queued as deliveries keyed by (case, step, target)
and the timer moves to its next step in the same transaction, so a step fires exactly once.
"""

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from uuid import uuid4

from prometheus_client import CollectorRegistry, Gauge
from sqlalchemy import RowMapping, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.notifier.escalation import Policy, next_fire_at, resolve_targets
from services.notifier.models import deliveries, escalation_policies, escalation_timers
from services.notifier.settings import NotifierSettings
from services.notifier.templates import CONTENT_WARNING, Alert, render
from shared.events import Severity
from shared.lifecycle import pause
from shared.logging import get_logger

log = get_logger(__name__)
PAGE = "flare.escalation.page"
BATCH = 50


def page_event_id(case_id: uuid.UUID, step: int) -> uuid.UUID:
    """The same id for the same step of the same case, on any replica: the dedup key."""
    return uuid.uuid5(case_id, f"escalation-step-{step}")


class TimerWorker:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: NotifierSettings,
        registry: CollectorRegistry,
        wake_deliveries: Callable[[], None],
    ) -> None:
        self._sessions, self._settings = sessions, settings
        self._wake_deliveries = wake_deliveries
        self._pending = Gauge(
            "flare_escalation_timers_pending", "Escalation timers waiting.", registry=registry
        )

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            fired = await self.fire_due()
            if fired:
                self._wake_deliveries()
            await self._measure()
            if fired < BATCH:
                await pause(stopping, self._settings.escalation_poll_interval_s)

    async def fire_due(self) -> int:
        async with self._sessions.begin() as session:
            due = (
                await session.execute(
                    select(escalation_timers)
                    .where(escalation_timers.c.state == "pending")
                    .where(escalation_timers.c.fire_at <= func.now())
                    .order_by(escalation_timers.c.fire_at)
                    .limit(BATCH)
                    .with_for_update(skip_locked=True)
                )
            ).mappings()
            timers = list(due)
            for timer in timers:
                await self._fire(session, timer)
        return len(timers)

    async def _fire(self, session: AsyncSession, timer: RowMapping) -> None:
        stored = await session.scalar(
            select(escalation_policies.c.policy).where(escalation_policies.c.team == timer["team"])
        )
        if stored is None:  # the team's policy was removed: nothing more to page
            await _set(session, timer, state="done")
            return
        policy, step_index, now = (
            Policy.model_validate(stored),
            timer["next_step"],
            datetime.now(UTC),
        )
        severity = Severity(timer["severity"]) if timer["severity"] else None
        if step_index < len(policy.steps):
            step = policy.steps[step_index]
            for channel, target in resolve_targets(step, timer["assignee"]):
                await self._queue_page(session, timer, step_index, step.name, channel, target, now)
            log.info("escalation_step_fired", case_id=str(timer["case_id"]), step=step.name)
        following = next_fire_at(policy, step_index, severity, now)
        if following is None:
            await _set(session, timer, state="done", next_step=step_index + 1)
        else:
            await _set(session, timer, next_step=step_index + 1, fire_at=following)

    async def _queue_page(
        self,
        session: AsyncSession,
        timer: RowMapping,
        step_index: int,
        step_name: str,
        channel: str,
        target: str,
        now: datetime,
    ) -> None:
        link = f"{self._settings.console_url.rstrip('/')}/cases/{timer['case_id']}"
        # The timer holds the title only when the case is not sensitive.
        alert = Alert(
            event_type=PAGE,
            headline=f"Page ({step_name}): not acknowledged yet",
            case_id=str(timer["case_id"]),
            status="open",
            severity=timer["severity"] or "unscored",
            team=timer["team"],
            category="-",
            product="-",
            link=link,
            title=timer["title"],
            content_warning=None if timer["title"] is not None else CONTENT_WARNING,
        )
        await session.execute(
            insert(deliveries)
            .values(
                id=uuid4(),
                event_id=page_event_id(timer["case_id"], step_index),
                destination=f"{channel}:{target}",
                case_id=timer["case_id"],
                kind="page",
                channel=channel,
                target=target,
                event_type=PAGE,
                event_time=now,
                body=render(channel, alert, now),
                status="pending",
                next_attempt_at=now,
            )
            .on_conflict_do_nothing(constraint="deliveries_once_per_destination")
        )

    async def _measure(self) -> None:
        async with self._sessions() as session:
            pending = await session.scalar(
                select(func.count()).where(escalation_timers.c.state == "pending")
            )
        self._pending.set(pending or 0)


async def _set(session: AsyncSession, timer: RowMapping, **values: object) -> None:
    await session.execute(
        update(escalation_timers)
        .where(escalation_timers.c.case_id == timer["case_id"])
        .values(**values)
    )
