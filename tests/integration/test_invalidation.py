"""shared.invalidation against the real PostgreSQL: intake.partners' trigger NOTIFYs, the
listener empties the cache, and while the listener is away nothing is cached at all."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg
from prometheus_client import CollectorRegistry

from services.intake.keys import hash_api_key
from services.intake.partners import PARTNERS_CHANGED
from shared.invalidation import InvalidatedCache, InvalidationListener
from tests.conftest import ADMIN_DSN, FlareEnv
from tests.intake_support import new_partner
from tests.integration.conftest import execute, fetch
from tests.integration.notifier_peers import wait_until

APPLICATION_NAME = "flare-test-invalidation"
ENABLED_NAME = "SELECT name FROM intake.partners WHERE key_hash = $1 AND disabled_at IS NULL"


@dataclass
class Partners:
    """A cache of partner names by key hash, read through one connection the test holds (so it
    keeps working while the database refuses new connections)."""

    cache: InvalidatedCache[str, str]
    registry: CollectorRegistry
    connection: asyncpg.Connection
    reads: int = 0

    async def name(self, api_key: str) -> str | None:
        key_hash = hash_api_key(api_key)
        return await self.cache.get(key_hash, lambda: self.read(key_hash))

    async def read(self, key_hash: str) -> str | None:
        self.reads += 1
        name: str | None = await self.connection.fetchval(ENABLED_NAME, key_hash)
        return name

    def invalidations(self) -> float:
        return self.registry.get_sample_value("flare_test_cache_invalidations_total") or 0.0

    # Conditions for wait_until.
    async def is_listening(self) -> bool:
        return self.cache.listening

    async def is_away(self) -> bool:
        return not self.cache.listening

    def notified_after(self, invalidations: float) -> Callable[[], Awaitable[bool]]:
        async def notified() -> bool:
            return self.invalidations() > invalidations

        return notified


@asynccontextmanager
async def listening(env: FlareEnv) -> AsyncIterator[Partners]:
    registry = CollectorRegistry()
    cache = InvalidatedCache[str, str]("test", registry)
    listener = InvalidationListener(
        env.database_url, PARTNERS_CHANGED, cache, application_name=APPLICATION_NAME
    )
    connection = await asyncpg.connect(env.dsn)
    stopping = asyncio.Event()
    task = asyncio.create_task(listener.run(stopping))
    partners = Partners(cache, registry, connection)
    try:
        await wait_until(partners.is_listening, what="the listener connects")
        yield partners
    finally:
        stopping.set()
        await task
        await connection.close()


async def listener_pid(env: FlareEnv) -> int | None:
    rows = await fetch(
        env,
        "SELECT pid FROM pg_stat_activity WHERE application_name = $1 "
        "AND datname = current_database()",
        APPLICATION_NAME,
    )
    return int(rows[0]["pid"]) if rows else None


async def test_a_change_from_another_connection_empties_the_cache(flare_env: FlareEnv) -> None:
    key = (await new_partner(flare_env, "safenet")).api_key
    async with listening(flare_env) as partners:
        assert [await partners.name(key) for _ in range(3)] == ["safenet"] * 3
        assert partners.reads == 1
        notified = partners.notified_after(partners.invalidations())
        await execute(flare_env, "UPDATE intake.partners SET name = 'renamed'")
        await wait_until(notified, what="the notification arrives")
        assert await partners.name(key) == "renamed"


async def test_a_load_that_overlaps_a_change_is_answered_but_not_kept(
    flare_env: FlareEnv,
) -> None:
    key = (await new_partner(flare_env, "safenet")).api_key
    async with listening(flare_env) as partners:
        notified = partners.notified_after(partners.invalidations())

        async def read_then_disable() -> str | None:
            name = await partners.read(hash_api_key(key))
            await execute(flare_env, "UPDATE intake.partners SET disabled_at = now()")
            await wait_until(notified, what="the notification arrives during the load")
            return name

        assert await partners.cache.get(hash_api_key(key), read_then_disable) == "safenet"
        assert await partners.name(key) is None, "the name read before the change was not kept"


async def test_nothing_is_cached_while_the_listener_is_away_and_caching_resumes_after(
    flare_env: FlareEnv,
) -> None:
    old_key = (await new_partner(flare_env, "safenet")).api_key
    other_key = (await new_partner(flare_env, "other")).api_key
    database = flare_env.dsn.rsplit("/", 1)[1]
    async with listening(flare_env) as partners:
        assert await partners.name(old_key) == "safenet"
        assert len(partners.cache) == 1
        killed = await listener_pid(flare_env)
        # The listener cannot come back until the database takes connections again.
        await _admin(f'ALTER DATABASE "{database}" CONNECTION LIMIT 0')
        try:
            await partners.connection.execute("SELECT pg_terminate_backend($1)", killed)
            await wait_until(partners.is_away, what="the loss is noticed")
            assert len(partners.cache) == 0
            # No notification can arrive now: this change must still be seen.
            await partners.connection.execute(
                "UPDATE intake.partners SET disabled_at = now() WHERE name = 'safenet'"
            )
            assert await partners.name(old_key) is None
            reads = partners.reads
            assert [await partners.name(other_key) for _ in range(3)] == ["other"] * 3
            assert partners.reads == reads + 3, "every lookup read the database"
            assert len(partners.cache) == 0
        finally:
            await _admin(f'ALTER DATABASE "{database}" CONNECTION LIMIT -1')
        await wait_until(partners.is_listening, what="the listener reconnects")
        assert await listener_pid(flare_env) not in (None, killed)
        reads = partners.reads
        assert [await partners.name(other_key) for _ in range(3)] == ["other"] * 3
        assert partners.reads == reads + 1, "cached again"
        assert await partners.name(old_key) is None


async def _admin(statement: str) -> None:
    connection = await asyncpg.connect(ADMIN_DSN)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()
