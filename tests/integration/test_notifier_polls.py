"""What the notifier keeps of a poll's case events: the newest snapshot of each case, whatever
order events come in, and each case's escalation timer, as one event at a time would."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

from prometheus_client import CollectorRegistry

from services.notifier.service import destinations_cache, record_case_events
from services.notifier.settings import NotifierSettings
from shared.db import make_engine, make_sessions
from shared.events import CaseStatus, EventType, Severity
from shared.kafka import Envelope
from tests.conftest import FlareEnv
from tests.integration.conftest import execute, fetch
from tests.integration.notifier_peers import case_envelope, set_policy, snapshot

OPENED = datetime(2026, 10, 12, 12, 0, tzinfo=UTC)


async def record(env: FlareEnv, *polls: list[Envelope]) -> None:
    engine = make_engine(env.database_url, pool_size=1)
    try:
        for envelopes in polls:
            await record_case_events(
                make_sessions(engine),
                env.settings(NotifierSettings),
                envelopes,
                OPENED,
                destinations_cache(CollectorRegistry()),
            )
    finally:
        await engine.dispose()


def page_on_call_at_once(env: FlareEnv, tmp_path: Path) -> None:
    """The cases' team (Global Operations) pages its on-call when a case opens, and no more."""
    steps = [{"name": "on-call", "targets": ["chat:https://chat.invalid/x"]}]
    set_policy(env, tmp_path, "Global Operations", steps)


async def test_a_case_view_keeps_the_newest_snapshot_in_one_poll_or_across_polls(
    flare_env: FlareEnv,
) -> None:
    opened = snapshot(updated_at=OPENED)
    acknowledged = opened.model_copy(
        update={"status": CaseStatus.ACKNOWLEDGED, "updated_at": OPENED + timedelta(minutes=1)}
    )
    reassigned = acknowledged.model_copy(update={"assignee": "bo"})  # same time: later wins
    newer = [
        case_envelope(EventType.CASE_CREATED, opened),
        case_envelope(EventType.CASE_ACKNOWLEDGED, acknowledged),
        case_envelope(EventType.CASE_REASSIGNED, reassigned),
    ]
    # In one poll; then the first event replayed alone does not roll the view back.
    await record(flare_env, [*newer, newer[0]], [newer[0]])
    [view] = await fetch(
        flare_env, "SELECT last_event_type, snapshot->>'assignee' AS who FROM notifier.case_views"
    )
    assert (view["last_event_type"], view["who"]) == ("flare.case.reassigned", "bo")


async def test_a_polls_timers_end_as_its_events_one_at_a_time_leave_them(
    flare_env: FlareEnv, tmp_path: Path
) -> None:
    page_on_call_at_once(flare_env, tmp_path)
    paged = snapshot(updated_at=OPENED, created_at=OPENED)
    handed_over = paged.model_copy(update={"assignee": "bo", "severity": Severity.SEV1})
    acknowledged = handed_over.model_copy(update={"status": CaseStatus.ACKNOWLEDGED})
    waiting = snapshot(updated_at=OPENED, created_at=OPENED)
    events = [
        case_envelope(EventType.CASE_CREATED, paged),
        case_envelope(EventType.CASE_CREATED, waiting),
        case_envelope(EventType.CASE_REASSIGNED, handed_over),
        case_envelope(EventType.CASE_ACKNOWLEDGED, acknowledged),
    ]
    timers = "SELECT case_id, state, severity, assignee, fire_at FROM notifier.escalation_timers"
    await record(flare_env, *([event] for event in events))
    one_by_one = sorted(map(tuple, await fetch(flare_env, timers)))
    await execute(flare_env, "TRUNCATE notifier.escalation_timers, notifier.case_views")
    await record(flare_env, events)
    assert sorted(map(tuple, await fetch(flare_env, timers))) == one_by_one
    assert [row[1:4] for row in one_by_one if row[0] == paged.case_id] == [
        ("stopped", "SEV1", "bo")
    ], "the hand-over moved the timer before the acknowledgement stopped it"
