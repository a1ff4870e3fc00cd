"""A service started before its migrations ran (a rollout applies the migrate Job and the new
pods at once) waits for them: unready, its workers not started, instead of failing on what
they add and sending events to the DLQ meanwhile."""

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import MetaData

from services.intake.models import MIGRATIONS
from shared.app import Plumbing
from shared.db import SchemaBehind, SchemaGate, make_engine
from shared.settings import FlareSettings
from tests.conftest import FlareEnv
from tests.integration.conftest import execute, running
from tests.integration.notifier_peers import wait_until

SCHEMA = "gate_test"  # intake's migrations, recorded in a schema of the test's own


@pytest.fixture
async def own_schema(flare_env: FlareEnv) -> AsyncIterator[MetaData]:
    await execute(flare_env, f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    yield MetaData(schema=SCHEMA)
    await execute(flare_env, f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")


async def record_version(env: FlareEnv, version: str) -> None:
    await execute(
        env,
        f"CREATE SCHEMA IF NOT EXISTS {SCHEMA};"
        f" CREATE TABLE IF NOT EXISTS {SCHEMA}.alembic_version (version_num varchar(32));"
        f" DELETE FROM {SCHEMA}.alembic_version;"
        f" INSERT INTO {SCHEMA}.alembic_version VALUES ('{version}')",
    )


async def test_the_schema_is_current_at_the_codes_head_or_past_it(
    flare_env: FlareEnv, own_schema: MetaData
) -> None:
    engine = make_engine(flare_env.database_url)
    try:
        gate = SchemaGate(engine, own_schema, MIGRATIONS)
        with pytest.raises(SchemaBehind, match="no migration"):
            await gate.check()
        await record_version(flare_env, "0001")
        with pytest.raises(SchemaBehind, match=f"at 0001; this code needs {gate.head}"):
            await gate.check()
        await record_version(flare_env, gate.head)
        await gate.check()

        # A revision this code does not know is a newer version's, during its rollout.
        await record_version(flare_env, "9999")
        await SchemaGate(engine, own_schema, MIGRATIONS).check()
    finally:
        await engine.dispose()


async def test_a_service_waits_unready_with_its_workers_idle_until_its_migrations_run(
    flare_env: FlareEnv, own_schema: MetaData
) -> None:
    plumbing = Plumbing(flare_env.settings(FlareSettings), own_schema, MIGRATIONS)
    started = asyncio.Event()

    async def worker(stopping: asyncio.Event) -> None:
        started.set()
        await stopping.wait()

    app = plumbing.app(title="t", description="t", jobs={"worker": worker}, required=set())
    await record_version(flare_env, "0001")
    async with running(app) as client:
        behind = await client.get("/readyz")
        assert behind.status_code == 503
        assert "this code needs" in behind.json()["checks"]["schema"]
        await asyncio.sleep(0.5)
        assert not started.is_set(), "no worker runs on a schema without its migrations"

        await record_version(flare_env, plumbing.schema.head)
        await asyncio.wait_for(started.wait(), timeout=10)

        async def ready() -> bool:
            return (await client.get("/readyz")).status_code == 200

        await wait_until(ready, what="ready once migrated")
