"""Postgres stopped under load, then started: intake answers 503 with Retry-After meanwhile,
never a 202 it did not store, and once it is back every accepted report is one case, alerted
once (the consumers wait for the database instead of skipping what they could not store)."""

import asyncio
from pathlib import Path

import pytest

from tests.chaos.system import Load, flare_running, outage_under_load, settle
from tests.chaos.table import Row
from tests.conftest import FlareEnv, migrate
from tests.disposable import disposable_postgres

pytestmark = [pytest.mark.chaos("postgres-stopped"), pytest.mark.slow]
REPORTS = 150
DOWN_S = 8


async def test_postgres_stopped_under_load_is_503_then_loses_and_repeats_nothing(
    flare_env: FlareEnv, tmp_path: Path, chaos_row: Row
) -> None:
    with disposable_postgres() as (server, database_url):
        await asyncio.to_thread(migrate, database_url)
        env = FlareEnv(database_url, flare_env.kafka, flare_env.topic_prefix)
        async with flare_running(env, tmp_path) as flare:
            load = Load(flare, "postgres")
            await outage_under_load(load, REPORTS, server.stop, server, DOWN_S)
            await settle(flare, load, chaos_row)
    assert load.statuses[503] > 0, "the outage was seen"
    assert set(load.statuses) == {202, 503}
