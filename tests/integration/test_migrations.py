"""Migrations wait for a lock only so long: one queued behind a long transaction would queue
every later query on its table behind it, and stall the live pods."""

import asyncio

import asyncpg
import pytest
from sqlalchemy.exc import DBAPIError

import shared.db
from shared.db import upgrade
from tests.conftest import ROOT, FlareEnv


async def test_a_migration_gives_up_on_a_lock_held_elsewhere(
    flare_env: FlareEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shared.db, "MIGRATION_LOCK_TIMEOUT_S", 0.3)
    holder = await asyncpg.connect(flare_env.dsn)
    try:
        async with holder.transaction():
            await holder.execute("LOCK TABLE intake.alembic_version IN ACCESS EXCLUSIVE MODE")
            migrating = asyncio.to_thread(
                upgrade, ROOT / "services" / "intake" / "migrations", flare_env.database_url
            )
            with pytest.raises(DBAPIError, match="lock timeout"):
                await asyncio.wait_for(migrating, timeout=30)
    finally:
        await holder.close()
    await asyncio.to_thread(
        upgrade, ROOT / "services" / "intake" / "migrations", flare_env.database_url
    )
