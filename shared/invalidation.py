"""An in-process cache of database reads, emptied whenever PostgreSQL NOTIFYs its channel.

A trigger on the cached table NOTIFYs a channel on every change. One dedicated asyncpg
connection per process LISTENs on it and empties the cache on each notification, so a change
made by any process (another replica, an admin CLI, psql) takes effect here as soon as its
notification arrives. Notifications can only be missed while that connection is down: the
cache serves and stores nothing unless the listener is connected and listening, and starts
empty again each time it reconnects.
"""

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Any, Generic, TypeVar

import asyncpg
from alembic import op
from prometheus_client import CollectorRegistry, Counter, Gauge

from shared.db import asyncpg_dsn
from shared.errors import is_transient
from shared.lifecycle import pause
from shared.logging import get_logger

log = get_logger(__name__)
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
FIRST_RETRY_S = 0.5
MAX_RETRY_S = 10.0


class InvalidatedCache(Generic[K, V]):
    """Values found in the database by key, at most `max_entries` of them (the least recently
    used go first, so the keys in use stay however many others are tried).

    A load that finds nothing (None) is never stored: a flood of random keys must neither fill
    memory nor push the real ones out. Metrics are named `flare_<name>_cache_...`.
    """

    def __init__(self, name: str, registry: CollectorRegistry, max_entries: int = 4096) -> None:
        self._entries: OrderedDict[K, V] = OrderedDict()
        self._max_entries = max_entries
        self._listening = False
        # Bumped by everything that can make a value read from the database stale (a
        # notification, losing or regaining the listener): a load that began under another
        # generation may have read the old row, so its result is returned but not stored.
        self._generation = 0
        prefix = f"flare_{name}_cache"
        self._hits = Counter(
            f"{prefix}_hits_total", "Lookups served from memory.", registry=registry
        )
        self._misses = Counter(
            f"{prefix}_misses_total", "Lookups that went to the database.", registry=registry
        )
        self._invalidations = Counter(
            f"{prefix}_invalidations_total",
            "Times the cache was emptied because its table changed.",
            registry=registry,
        )
        self._listening_gauge = Gauge(
            f"{prefix}_listening",
            "1 while the listener is connected (caching on), 0 while every lookup is a miss.",
            registry=registry,
        )

    @property
    def listening(self) -> bool:
        return self._listening

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: K, load: Callable[[], Awaitable[V | None]]) -> V | None:
        """The value for `key`: from memory when it is there, else from `load`."""
        # Empty unless listening (every change of `_listening` empties it), so no check here.
        value = self._entries.get(key)
        if value is not None:
            self._entries.move_to_end(key)
            self._hits.inc()
            return value
        self._misses.inc()
        generation = self._generation
        value = await load()
        if value is not None and self._listening and generation == self._generation:
            self._entries[key] = value
            if len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
        return value

    def invalidate(self) -> None:
        """Forget everything: the table changed. Also for a process's own changes, right after
        they commit, so it need not wait for its notification."""
        self._invalidations.inc()
        self._reset(listening=self._listening)

    def start_caching(self) -> None:
        """The listener is listening: from now on no change goes unnoticed."""
        self._reset(listening=True)

    def stop_caching(self) -> None:
        """The listener is gone: changes may go unnoticed, so nothing is served or kept."""
        self._reset(listening=False)

    def _reset(self, *, listening: bool) -> None:
        self._generation += 1
        self._entries.clear()
        self._listening = listening
        self._listening_gauge.set(int(listening))


class InvalidationListener:
    """The connection that LISTENs on `channel` for `cache`; `run` is a lifespan worker.

    A connection lost is noticed by asyncpg when the socket closes, and by a `SELECT 1` every
    `check_every_s` when it dies silently (a network partition): within that window a change
    can go unnoticed, the price of not asking the database on every lookup.
    """

    def __init__(
        self,
        database_url: str,
        channel: str,
        cache: InvalidatedCache[Any, Any],
        *,
        application_name: str,
        check_every_s: float = 5.0,
        timeout_s: float = 5.0,
    ) -> None:
        self._dsn, self._channel, self._cache = asyncpg_dsn(database_url), channel, cache
        self._application_name = application_name
        self._check_every_s, self._timeout_s = check_every_s, timeout_s

    async def run(self, stopping: asyncio.Event) -> None:
        """Listen until shutdown; after a failed connect or a lost connection, connect again
        (waiting 0.5 s, doubling up to 10 s while the database stays unreachable)."""
        retry_in_s = FIRST_RETRY_S
        while not stopping.is_set():
            try:
                connection = await asyncpg.connect(
                    self._dsn,
                    timeout=self._timeout_s,
                    server_settings={"application_name": self._application_name},
                )
            except Exception as error:
                if not is_transient(error):
                    raise
                log.warning(
                    "invalidation_listener_unavailable",
                    channel=self._channel,
                    error=repr(error),
                    retry_in_s=retry_in_s,
                )
                await pause(stopping, retry_in_s)
                retry_in_s = min(retry_in_s * 2, MAX_RETRY_S)
                continue
            retry_in_s = FIRST_RETRY_S
            try:
                await self._listen(connection, stopping)
            finally:
                self._cache.stop_caching()
                await self._close(connection)
            # Not at once: a connection that is dropped as soon as it is made must not spin.
            await pause(stopping, FIRST_RETRY_S)

    async def _close(self, connection: Any) -> None:
        # asyncpg aborts the socket when a graceful close fails; a dead server is no news here.
        try:
            await connection.close(timeout=self._timeout_s)
        except Exception as error:
            if not is_transient(error):
                raise

    async def _listen(self, connection: Any, stopping: asyncio.Event) -> None:
        """LISTEN, then check the connection now and then, until it is lost or shutdown begins."""
        lost = asyncio.Event()

        def on_lost(reason: str) -> None:
            # Here, not when the loop below next wakes: from now on a change may go unnoticed.
            self._cache.stop_caching()
            if not lost.is_set() and not stopping.is_set():
                log.warning("invalidation_listener_lost", channel=self._channel, reason=reason)
            lost.set()

        connection.add_termination_listener(lambda _: on_lost("connection closed"))
        try:
            await connection.add_listener(self._channel, lambda *_: self._cache.invalidate())
            self._cache.start_caching()
            log.info("invalidation_listener_connected", channel=self._channel)
            while not lost.is_set() and not stopping.is_set():
                await pause(stopping, self._check_every_s, lost)
                if lost.is_set() or stopping.is_set():
                    break
                # asyncpg tells its termination listeners at the loop's next turn: not yet, maybe.
                if connection.is_closed():
                    on_lost("connection closed")
                else:
                    await connection.fetchval("SELECT 1", timeout=self._timeout_s)
        except Exception as error:
            if not is_transient(error):
                raise
            on_lost(repr(error))


def create_change_notification(schema: str, tables: Sequence[str], channel: str) -> None:
    """For a migration: every committed change to the tables NOTIFYs `channel`.

    Once per statement, not per row: a listener only needs to know that something changed.
    INSERT too, though a new row cannot make a found value wrong: "every change notifies" has
    no exception to remember. PostgreSQL sends the notification when, and only if, the
    transaction commits.
    """
    function = f"{schema}.notify_{channel}"
    op.execute(f"""
        CREATE FUNCTION {function}() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('{channel}', '');
            RETURN NULL;
        END
        $$
    """)
    for table in tables:
        op.execute(f"""
            CREATE TRIGGER {table}_changed
            AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {schema}.{table}
            FOR EACH STATEMENT EXECUTE FUNCTION {function}()
        """)


def drop_change_notification(schema: str, tables: Sequence[str], channel: str) -> None:
    for table in tables:
        op.execute(f"DROP TRIGGER {table}_changed ON {schema}.{table}")
    op.execute(f"DROP FUNCTION {schema}.notify_{channel}()")
