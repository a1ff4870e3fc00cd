"""Background work owned by an app's lifespan: started with it, stopped gracefully with it."""

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI

from shared.errors import is_transient
from shared.logging import get_logger

log = get_logger(__name__)
Worker = Callable[[asyncio.Event], Awaitable[None]]
Closer = Callable[[], Awaitable[None]]
# A worker that ran this long before an outage ended it had recovered from any earlier one.
RECOVERED_S = 60.0


async def pause(stopping: asyncio.Event, seconds: float, wake: asyncio.Event | None = None) -> None:
    """Wait `seconds`, or less: until shutdown begins or `wake` is set. Every worker loop's
    sleep, so none of them delays a graceful stop."""
    waiters = [asyncio.ensure_future(stopping.wait())]
    if wake is not None:
        waiters.append(asyncio.ensure_future(wake.wait()))
    _, pending = await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    for waiter in pending:
        waiter.cancel()


class Workers:
    """Long-running loops that watch one `stopping` event and finish their current unit of work."""

    def __init__(self) -> None:
        self.stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self, name: str, worker: Worker) -> None:
        self._tasks.append(asyncio.create_task(self._supervise(name, worker), name=name))

    async def _supervise(self, name: str, worker: Worker) -> None:
        # A crashed loop is restarted after a pause rather than leaving the service half alive.
        interrupted_before = False
        while not self.stopping.is_set():
            started = time.monotonic()
            try:
                await worker(self.stopping)
            except (Exception, asyncio.CancelledError) as error:
                if isinstance(error, asyncio.CancelledError) and _cancelled():
                    raise  # a stop that outlasted its timeout (`stop`) ends this task
                if is_transient(error):
                    # A database or broker down or slow: an outage, not a bug. Its traceback
                    # once (the error may yet be a fault that only looks like an outage), then
                    # one line for each restart of the worker until it is back: a run that
                    # lasted RECOVERED_S was after the outage, and its end is a new one.
                    new = not interrupted_before or time.monotonic() - started >= RECOVERED_S
                    log.warning("worker_interrupted", worker=name, error=repr(error), exc_info=new)
                    interrupted_before = True
                else:
                    # A CancelledError nobody asked for is a crash too: aiokafka's group
                    # coordinator can end with one, and every call on its consumer then raises it.
                    log.exception("worker_crashed", worker=name)
                await pause(self.stopping, 1.0)

    async def stop(self, timeout_s: float) -> None:
        self.stopping.set()
        if not self._tasks:
            return
        _, pending = await asyncio.wait(self._tasks, timeout=timeout_s)
        for task in pending:
            log.warning("worker_cancelled", worker=task.get_name())
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


def _cancelled() -> bool:
    """Whether the running task was asked to cancel."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def lifespan(
    workers: Workers,
    jobs: Mapping[str, Worker],
    closers: Sequence[Closer],
    shutdown_timeout_s: float,
) -> Lifespan:
    """Start `jobs` with the app; on shutdown stop them (finishing their current work), then
    close resources in order (producers before engines: a last publish may need the database)."""

    @asynccontextmanager
    async def run(_: FastAPI) -> AsyncIterator[None]:
        for name, job in jobs.items():
            workers.start(name, job)
        log.info("service_started", workers=list(jobs))
        try:
            yield
        finally:
            await workers.stop(shutdown_timeout_s)
            for close in closers:
                await close()
            log.info("service_stopped")

    return run
