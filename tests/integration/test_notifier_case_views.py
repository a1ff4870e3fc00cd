"""The notifier's case views: the newest snapshot of each case, whatever order events come in."""

from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry

from services.notifier.service import destinations_cache, record_case_events
from services.notifier.settings import NotifierSettings
from shared.db import make_engine, make_sessions
from shared.events import CaseStatus, EventType
from shared.kafka import Envelope
from tests.conftest import FlareEnv
from tests.integration.conftest import fetch
from tests.integration.notifier_peers import case_envelope, snapshot

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
