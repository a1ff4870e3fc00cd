"""Housekeeping: rows past their use are deleted (by a lifespan worker), newer ones kept."""

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from services.intake.models import IdempotencyKey
from shared.db import make_engine, make_sessions, prune
from tests.conftest import FlareEnv
from tests.intake_support import new_partner
from tests.integration.conftest import execute, fetch


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
