"""Async SQLAlchemy engine and sessions, and Alembic migrations run per service schema."""

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from typing import cast

import asyncpg
import orjson
from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, delete, event, func, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

from shared.lifecycle import Worker, pause
from shared.logging import get_logger

log = get_logger(__name__)
# Pruning old rows is housekeeping: hourly is plenty.
PRUNE_EVERY_S = 3600.0


def make_engine(url: str, pool_size: int = 10) -> AsyncEngine:
    engine = create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=5,
        # asyncpg: give up on a dead server instead of hanging a request.
        connect_args={"timeout": 5, "command_timeout": 30},
        json_serializer=_json_text,
        json_deserializer=orjson.loads,
    )
    event.listen(engine.sync_engine, "checkout", _replace_if_closed)
    return engine


def _json_text(value: object) -> str:
    """JSON and JSONB values as PostgreSQL gets them: orjson, several times faster than json."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def _replace_if_closed(
    dbapi_connection: object, record: ConnectionPoolEntry, proxy: PoolProxiedConnection
) -> None:
    """A pooled connection the server has closed (a restart, a terminated backend) is replaced
    at checkout, not handed out to fail. asyncpg saw the socket close, so this costs no round
    trip; SQLAlchemy's pre-ping would cost three (BEGIN, a query, ROLLBACK) per checkout."""
    if cast(asyncpg.Connection, proxy.driver_connection).is_closed():
        raise DisconnectionError("the server closed this connection")


def make_sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def database_reachable(engine: AsyncEngine, timeout_s: float = 3.0) -> None:
    async def ping() -> None:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    await asyncio.wait_for(ping(), timeout_s)


def upgrade(migrations_dir: Path, database_url: str) -> None:
    """Apply one service's migrations up to head (`python -m services.<name> migrate`)."""
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    config.attributes["database_url"] = database_url
    command.upgrade(config, "head")


def run_migrations(metadata: MetaData) -> None:
    """The body of every service's migrations/env.py: online, async, in the service's schema."""
    schema = metadata.schema
    assert schema, "each service keeps its tables in its own schema"
    url = context.config.attributes["database_url"]

    def migrate(connection: Connection) -> None:
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        context.configure(
            connection=connection,
            target_metadata=metadata,
            version_table_schema=schema,
            include_schemas=False,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def run() -> None:
        engine = create_async_engine(url)
        try:
            async with engine.begin() as connection:
                await connection.run_sync(migrate)
        finally:
            await engine.dispose()

    asyncio.run(run())


async def prune(
    sessions: async_sessionmaker[AsyncSession],
    stamp: InstrumentedAttribute[datetime],
    keep: timedelta,
) -> int:
    """Delete the rows whose `stamp` is older than `keep`; returns how many went."""
    table = stamp.class_.__table__
    async with sessions.begin() as session:
        result = await session.execute(delete(table).where(stamp < func.now() - keep))
    pruned = int(getattr(result, "rowcount", 0))
    log.info("pruned", table=str(table), rows=pruned)
    return pruned


def pruner(
    sessions: async_sessionmaker[AsyncSession],
    stamp: InstrumentedAttribute[datetime],
    keep: timedelta,
    every_s: float = PRUNE_EVERY_S,
) -> Worker:
    """A lifespan worker that prunes every `every_s` seconds."""

    async def run(stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            await prune(sessions, stamp, keep)
            await pause(stopping, every_s)

    return run
