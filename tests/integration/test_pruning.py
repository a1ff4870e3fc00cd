"""Housekeeping: rows past their use are deleted (by a lifespan worker), newer ones kept."""

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from services.intake.models import IdempotencyKey
from shared.db import make_engine, make_sessions, prune
from tests.conftest import FlareEnv
from tests.intake_support import intake_app, new_partner
from tests.integration.conftest import execute, fetch, running
from tests.integration.notifier_peers import wait_until
from tests.integration.router_helpers import router_app


async def test_rows_older_than_the_keep_window_are_pruned(flare_env: FlareEnv) -> None:
    partner = (await new_partner(flare_env)).partner
    now = datetime.now(UTC)
    for key, age in (("old", timedelta(hours=25)), ("new", timedelta(hours=1))):
        await execute(
            flare_env,
            "INSERT INTO intake.idempotency_keys (partner_id, key, request_hash, escalation_id, "
            "created_at) VALUES ($1, $2, 'h', $3, $4)",
            partner.id,
            key,
            uuid4(),
            now - age,
        )
    engine = make_engine(flare_env.database_url)
    try:
        pruned = await prune(make_sessions(engine), IdempotencyKey.created_at, timedelta(hours=24))
    finally:
        await engine.dispose()
    assert pruned == 1
    kept = await fetch(flare_env, "SELECT key FROM intake.idempotency_keys")
    assert [row["key"] for row in kept] == ["new"]


async def test_each_service_prunes_its_table_while_it_runs(flare_env: FlareEnv) -> None:
    """The workers that do it are part of each app: without them the tables grow for ever."""
    partner = (await new_partner(flare_env)).partner
    long_ago = datetime.now(UTC) - timedelta(days=30)
    await execute(
        flare_env,
        "INSERT INTO intake.idempotency_keys (partner_id, key, request_hash, escalation_id, "
        "created_at) VALUES ($1, 'old', 'h', $2, $3)",
        partner.id,
        uuid4(),
        long_ago,
    )
    await execute(
        flare_env,
        "INSERT INTO router.processed_events (event_id, processed_at) VALUES ($1, $2)",
        uuid4(),
        long_ago,
    )
    tables = ("intake.idempotency_keys", "router.processed_events")
    async with running(intake_app(flare_env)), router_app(flare_env, sla_check_interval_s=3600):

        async def pruned() -> bool:
            return all([await fetch(flare_env, f"SELECT 1 FROM {table}") == [] for table in tables])

        await wait_until(pruned, what="both old rows deleted")
