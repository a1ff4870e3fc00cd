"""Async SQLAlchemy engine and sessions, and Alembic migrations run per service schema."""

import asyncio
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import cast

import asyncpg
import orjson
from alembic import command, context
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, delete, event, func, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

from shared.errors import is_transient
from shared.lifecycle import Worker, pause
from shared.logging import get_logger

log = get_logger(__name__)
# Pruning old rows is housekeeping: hourly is plenty.
PRUNE_EVERY_S = 3600.0
# How often a process started before its migrations looks whether they have run.
SCHEMA_POLL_S = 2.0


def asyncpg_dsn(database_url: str) -> str:
    """asyncpg's own DSN for a service's SQLAlchemy URL (`postgresql+asyncpg://...`). libpq's
    parameters in its query (`sslmode`, `sslrootcert`, ...) are read as psql reads them."""
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


# A statement that takes longer is cancelled: a dead server does not hang a request for ever.
STATEMENT_TIMEOUT_S = 30.0
# A migration's statements have no time limit (an index on a large table takes what it takes),
# but one waits at most this long for a lock.
MIGRATION_LOCK_TIMEOUT_S = 10.0


def make_engine(
    url: str, pool_size: int = 10, statement_timeout_s: float | None = STATEMENT_TIMEOUT_S
) -> AsyncEngine:
    """The services' engine. `statement_timeout_s=None` for migrations alone: an index built
    on a large table may take longer."""
    engine = create_async_engine(
        url,
        # asyncpg connects from its own DSN: SQLAlchemy would pass the URL's query to
        # asyncpg.connect as arguments, and `?sslmode=require`, as managed databases' URLs
        # have it, is not one.
        async_creator=partial(
            asyncpg.connect, asyncpg_dsn(url), timeout=5, command_timeout=statement_timeout_s
        ),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=5,
        json_serializer=_json_text,
        json_deserializer=orjson.loads,
        # An error's text, logged with its traceback, names the statement but not its values:
        # reports' titles, descriptions and evidence stay out of the logs.
        hide_parameters=True,
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


def _alembic_config(migrations_dir: Path) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    return config


def upgrade(migrations_dir: Path, database_url: str) -> None:
    """Apply one service's migrations up to head (`python -m services.<name> migrate`)."""
    config = _alembic_config(migrations_dir)
    config.attributes["database_url"] = database_url
    command.upgrade(config, "head")


class SchemaBehind(Exception):
    """The database's schema lacks migrations this code needs."""


class SchemaGate:
    """Whether the database has this code's migrations, so that a new version started before
    its migrations ran (a rollout applies the Job and the Deployments at once) waits for them
    instead of failing on what they add, and sending events to the DLQ meanwhile (ADR 0017).

    The schema is current at this code's head or past it: a revision this code does not know
    is a later one, run for a newer version during its rollout (migrations only add, so the
    code keeps working on it). Once current, it is never read again."""

    def __init__(self, engine: AsyncEngine, metadata: MetaData, migrations_dir: Path) -> None:
        scripts = ScriptDirectory.from_config(_alembic_config(migrations_dir))
        head = scripts.get_current_head()
        assert head is not None, f"{migrations_dir} holds no migration"
        self.head: str = head
        self._known = {script.revision for script in scripts.walk_revisions()}
        self._engine, self._schema = engine, metadata.schema
        self._version = text(f'SELECT version_num FROM "{self._schema}".alembic_version')
        self._current = False
        self._said_why = False  # every worker waits, one log line says why

    async def check(self) -> None:
        """Returns once the schema is current; SchemaBehind until then (a /readyz check)."""
        if self._current:
            return
        async with self._engine.connect() as connection:
            exists = await connection.scalar(
                text("SELECT to_regclass(:table)"), {"table": f'"{self._schema}".alembic_version'}
            )
            version = await connection.scalar(self._version) if exists else None
        if version is None or (version != self.head and version in self._known):
            raise SchemaBehind(
                f"the {self._schema} schema is at {version or 'no migration'}; this code needs "
                f"{self.head}: run `python -m services.{self._schema} migrate` (the flare-migrate "
                "Job)"
            )
        self._current = True

    async def wait(self, stopping: asyncio.Event) -> bool:
        """Until the schema is current (True) or shutdown begins (False); the first to wait
        says why."""
        while not stopping.is_set():
            try:
                await self.check()
                return True
            except SchemaBehind as behind:
                if not self._said_why:
                    log.warning("waiting_for_migrations", reason=str(behind))
                    self._said_why = True
            except Exception as error:
                if not is_transient(error):
                    raise
            await pause(stopping, SCHEMA_POLL_S)
        return False


def run_migrations(metadata: MetaData) -> None:
    """The body of every service's migrations/env.py: online, async, in the service's schema."""
    schema = metadata.schema
    assert schema, "each service keeps its tables in its own schema"
    url = context.config.attributes["database_url"]

    def migrate(connection: Connection) -> None:
        # A migration's lock waited for behind a long transaction would queue every later query
        # on that table behind it: live pods would stall. It gives up instead, and the Job
        # tries again (backoffLimit).
        connection.execute(text(f"SET LOCAL lock_timeout = '{MIGRATION_LOCK_TIMEOUT_S}s'"))
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
        engine = make_engine(url, pool_size=1, statement_timeout_s=None)
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
