"""Group commit: concurrent requests' rows share one transaction, one commit and one WAL flush.

Each caller hands over its rows and waits; whoever finds no commit under way starts one, which
takes everything pending, then what arrived meanwhile, until nothing is left. A caller is
answered only after the transaction holding its rows has committed, so a `202` sent after it
still means "stored". A batch commits or fails as a whole: every caller in it gets the error
(a database outage, answered 503), and none of its rows is stored (docs/adr/0010).
"""

import asyncio
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

Rows = Sequence[tuple[Table, dict[str, Any]]]


async def insert_rows(session: AsyncSession, rows: Rows) -> None:
    """One multi-row INSERT per table, tables in the order they first appear."""
    by_table: dict[Table, list[dict[str, Any]]] = {}
    for table, row in rows:
        by_table.setdefault(table, []).append(row)
    for table, values in by_table.items():
        await session.execute(insert(table), values)


class GroupCommit:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], max_batch: int = 500) -> None:
        self._sessions, self._max_batch = sessions, max_batch
        self._pending: list[tuple[Rows, asyncio.Future[None]]] = []
        self._committing: asyncio.Task[None] | None = None

    async def insert(self, rows: Rows) -> None:
        """Returns once `rows` are committed; raises what made their transaction fail."""
        committed = asyncio.get_running_loop().create_future()
        self._pending.append((rows, committed))
        if self._committing is None or self._committing.done():
            self._committing = asyncio.create_task(self._commit_pending())
        await committed

    async def _commit_pending(self) -> None:
        while self._pending:
            batch = self._pending[: self._max_batch]
            del self._pending[: self._max_batch]
            try:
                async with self._sessions.begin() as session:
                    await insert_rows(session, [row for rows, _ in batch for row in rows])
            except Exception as error:
                for _, committed in batch:
                    # A caller that gave up (its request was cancelled) is not waiting any more.
                    if not committed.done():
                        committed.set_exception(error)
            else:
                for _, committed in batch:
                    if not committed.done():
                        committed.set_result(None)
