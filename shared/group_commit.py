"""Group commit: concurrent requests' rows share one transaction, one commit and one WAL flush.

Each caller hands over its rows and waits; whoever finds no commit under way starts one, which
takes everything pending, then what arrived meanwhile, until nothing is left. A caller is
answered only after the transaction holding its rows has committed, so a `202` sent after it
still means "stored". A batch that the database cannot take now (an outage, answered 503)
fails every caller in it, and none of its rows is stored. A batch that fails for what one
caller's rows hold is tried again one caller at a time, so only that caller fails
(docs/adr/0010).
"""

import asyncio
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.errors import is_transient
from shared.logging import get_logger

log = get_logger(__name__)
Rows = Sequence[tuple[Table, dict[str, Any]]]
Batch = list[tuple[Rows, asyncio.Future[None]]]


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
        self._pending: Batch = []
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
            taken = self._pending[: self._max_batch]
            del self._pending[: self._max_batch]
            # A caller that gave up (its request was cancelled) never saw a 202: not stored.
            batch = [(rows, committed) for rows, committed in taken if not committed.done()]
            if not batch:
                continue
            error = await self._commit(batch)
            if error is None or len(batch) == 1 or is_transient(error):
                _answer(batch, error)
                continue
            # Rows that passed the request's validation but not the database's (a fault of
            # ours): the others' are still stored.
            log.error("group_commit_batch_refused", callers=len(batch), error=repr(error))
            for index, (rows, committed) in enumerate(batch):
                if committed.done():  # its caller gave up meanwhile: not stored
                    continue
                error = await self._commit([(rows, committed)])
                if error is not None and is_transient(error):
                    _answer(batch[index:], error)  # the database went away: the rest hear it now
                    break
                _answer([(rows, committed)], error)

    async def _commit(self, batch: Batch) -> Exception | None:
        """The batch's rows in one transaction; what made it fail, if it did."""
        try:
            async with self._sessions.begin() as session:
                await insert_rows(session, [row for rows, _ in batch for row in rows])
        except Exception as error:
            return error
        return None


def _answer(batch: Batch, error: Exception | None) -> None:
    for _, committed in batch:
        if committed.done():  # its caller gave up meanwhile
            continue
        if error is None:
            committed.set_result(None)
        else:
            committed.set_exception(error)
