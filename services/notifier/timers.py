"""Escalation timers: fires due steps once across replicas and restarts, queueing the pages.

Timers are rows in Postgres, so a restart loses none. Due timers are claimed with
`FOR UPDATE SKIP LOCKED`; their pages are queued as deliveries keyed by (case, timer's start,
step, target) and each timer moves to its next step in the same transaction, so a step fires
exactly once (a timer starts again when its case moves to another team: a new round).
A poll fires up to `BATCH` timers with a fixed number of statements, however many it fires.
A team whose stored policy does not validate holds its own timers, no other team's.
"""

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

from prometheus_client import CollectorRegistry, Gauge
from pydantic import ValidationError
from sqlalchemy import DateTime, Integer, RowMapping, Text, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.notifier.escalation import Policy, next_fire_at, resolve_targets, stored_policy
from services.notifier.models import (
    TIMER_PENDING,
    deliveries,
    escalation_policies,
    escalation_timers,
)
from services.notifier.settings import NotifierSettings
from services.notifier.templates import CONTENT_WARNING, Alert, render
from shared.events import Severity
from shared.lifecycle import pause
from shared.logging import get_logger

log = get_logger(__name__)
PAGE = "flare.escalation.page"
BATCH = 50
# After every pause, woken or not, the worker waits this long before it fires again: what a
# step due at once waits at most once its case is recorded.
GATHER_S = 0.1
# How long a timer whose team's policy does not validate waits before it is tried again.
HOLD_S = 60.0

# The statements every poll runs, built once and bound at each execution.
_TIMER = escalation_timers.c
CLAIM_DUE = (
    select(escalation_timers)
    .where(TIMER_PENDING, _TIMER.fire_at <= func.now())
    .order_by(_TIMER.fire_at)
    .limit(BATCH)
    .with_for_update(skip_locked=True)
)
POLICIES_OF = select(escalation_policies.c.team, escalation_policies.c.policy).where(
    escalation_policies.c.team.in_(bindparam("teams", expanding=True))
)
QUEUE_PAGE = insert(deliveries).on_conflict_do_nothing(constraint="deliveries_once_per_destination")
# Executed with every timer fired: `fire_at` is kept as it was when the policy has run out.
ADVANCE = (
    update(escalation_timers)
    .where(_TIMER.case_id == bindparam("timer_case"))
    .values(
        state=bindparam("new_state", type_=Text),
        next_step=bindparam("new_step", type_=Integer),
        fire_at=bindparam("new_fire_at", type_=DateTime(timezone=True)),
    )
)
COUNT_PENDING = select(func.count()).where(TIMER_PENDING)
ALL_POLICIES = select(escalation_policies.c.team, escalation_policies.c.policy)


def page_event_id(case_id: uuid.UUID, started_at: datetime, step: int) -> uuid.UUID:
    """The same id for the same step of the same case's timer, on any replica: the dedup key.
    A timer started again (its case moved to another team) pages anew."""
    return uuid.uuid5(case_id, f"escalation-{started_at.isoformat()}-step-{step}")


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
        self._wake = asyncio.Event()
        self._pending = Gauge(
            "flare_escalation_timers_pending", "Escalation timers waiting.", registry=registry
        )
        self._invalid = Gauge(
            "flare_escalation_policies_invalid",
            "Teams whose stored escalation policy does not validate: their pages are held.",
            registry=registry,
        )

    def wake(self) -> None:
        """A timer due now was started: fire it now rather than at the next poll."""
        self._wake.set()

    async def run(self, stopping: asyncio.Event) -> None:
        clock = asyncio.get_running_loop().time
        interval_s = self._settings.escalation_poll_interval_s
        measure_at = clock()
        while not stopping.is_set():
            self._wake.clear()
            fired = await self.fire_due()
            if fired:
                self._wake_deliveries()
            if clock() >= measure_at:  # once a poll interval, however often it is woken
                await self._measure()
                measure_at = clock() + interval_s
            if fired < BATCH:
                await pause(stopping, interval_s, self._wake)
                # Let the steps of the cases arriving alongside fall due too: a surge then fires
                # in polls of many timers, not one poll (and one round of sends) per case.
                await pause(stopping, GATHER_S)

    async def fire_due(self) -> int:
        async with self._sessions.begin() as session:
            timers = list((await session.execute(CLAIM_DUE)).mappings())
            if not timers:
                return 0
            teams = sorted({timer["team"] for timer in timers})
            stored = dict((await session.execute(POLICIES_OF, {"teams": teams})).all())
            policies = {team: validated_policy(team, policy) for team, policy in stored.items()}
            now = datetime.now(UTC)
            fired = [self._fire(timer, policies, now) for timer in timers]
            pages = [page for _, step_pages in fired for page in step_pages]
            if pages:
                await session.execute(QUEUE_PAGE, pages)
            await session.execute(ADVANCE, [advance for advance, _ in fired])
        return len(timers)

    def _fire(
        self, timer: RowMapping, policies: dict[str, Policy | None], now: datetime
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The timer's next state, and the pages of its due step."""
        advance = {"timer_case": timer["case_id"], "new_fire_at": timer["fire_at"]}
        step_index = timer["next_step"]
        if timer["team"] not in policies:  # the team's policy was removed: nothing more to page
            return advance | {"new_state": "done", "new_step": step_index}, []
        policy = policies[timer["team"]]
        if policy is None:
            # It does not validate: the timer stays at its step, due again after HOLD_S. No
            # other team's pages wait on it, and its own resume once the policy is fixed.
            later = {"new_fire_at": now + timedelta(seconds=HOLD_S)}
            return advance | later | {"new_state": "pending", "new_step": step_index}, []
        pages = []
        if step_index < len(policy.steps):
            step = policy.steps[step_index]
            for channel, target in resolve_targets(step, timer["assignee"]):
                pages.append(self._page(timer, step_index, step.name, channel, target, now))
            log.info("escalation_step_fired", case_id=str(timer["case_id"]), step=step.name)
        severity = Severity(timer["severity"]) if timer["severity"] else None
        following = next_fire_at(policy, step_index, severity, now)
        advance["new_step"] = step_index + 1
        if following is None:
            return advance | {"new_state": "done"}, pages
        return advance | {"new_state": "pending", "new_fire_at": following}, pages

    def _page(
        self,
        timer: RowMapping,
        step_index: int,
        step_name: str,
        channel: str,
        target: str,
        now: datetime,
    ) -> dict[str, Any]:
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
        return {
            "id": uuid4(),
            "event_id": page_event_id(timer["case_id"], timer["started_at"], step_index),
            "destination": f"{channel}:{target}",
            "case_id": timer["case_id"],
            "kind": "page",
            "channel": channel,
            "target": target,
            "event_type": PAGE,
            "event_time": now,
            "body": render(channel, alert, now),
            "status": "pending",
            "next_attempt_at": now,
            "round_started_at": timer["started_at"],
        }

    async def _measure(self) -> None:
        async with self._sessions() as session:
            pending = await session.scalar(COUNT_PENDING)
            stored = (await session.execute(ALL_POLICIES)).all()
        self._pending.set(pending or 0)
        invalid = [
            team for team, policy in stored if isinstance(stored_policy(policy), ValidationError)
        ]
        self._invalid.set(len(invalid))


def validated_policy(team: str, stored: Any) -> Policy | None:
    """The team's policy as stored, or None, with an error logged, when it does not validate:
    it then fails its team alone."""
    checked = stored_policy(stored)
    if isinstance(checked, ValidationError):
        log.error("escalation_policy_invalid", team=team, error=str(checked))
        return None
    return checked
