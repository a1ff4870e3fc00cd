"""The supervisor of an app's background loops."""

import asyncio

import pytest
from structlog.testing import capture_logs

from shared import lifecycle
from shared.lifecycle import Workers


async def test_a_worker_that_raises_cancelled_error_itself_is_restarted() -> None:
    """aiokafka's group coordinator can end with a CancelledError that no one asked for: the
    loop that meets it has crashed, and is restarted like any other, not left dead."""
    runs, restarted = 0, asyncio.Event()
    workers = Workers()

    async def worker(stopping: asyncio.Event) -> None:
        nonlocal runs
        runs += 1
        if runs == 1:
            raise asyncio.CancelledError
        restarted.set()
        await stopping.wait()

    workers.start("test", worker)
    async with asyncio.timeout(10):
        await restarted.wait()
    await workers.stop(timeout_s=5)
    assert runs == 2


async def test_a_worker_that_outlasts_the_stop_is_cancelled() -> None:
    cancelled = asyncio.Event()
    workers = Workers()

    async def stuck(stopping: asyncio.Event) -> None:
        try:
            await asyncio.Event().wait()  # ignores `stopping`
        except asyncio.CancelledError:
            cancelled.set()
            raise

    workers.start("stuck", stuck)
    await asyncio.sleep(0.05)
    async with asyncio.timeout(10):
        await workers.stop(timeout_s=0.1)
    assert cancelled.is_set()


async def test_a_supervised_worker_cancelled_before_any_stop_ends_cancelled() -> None:
    """A cancellation someone asked for (as `asyncio.run` does at its end) is not a crash to
    restart: the supervisor ends with it."""
    runs, workers = 0, Workers()

    async def worker(stopping: asyncio.Event) -> None:
        nonlocal runs
        runs += 1
        await asyncio.Event().wait()

    workers.start("test", worker)
    [task] = [task for task in asyncio.all_tasks() if task.get_name() == "test"]
    await asyncio.sleep(0.05)
    task.cancel()
    done, _ = await asyncio.wait([task], timeout=5)
    assert task in done, "the supervisor went on after its own cancellation"
    assert task.cancelled()
    assert runs == 1


async def test_a_worker_interrupted_by_an_outage_logs_its_traceback_once_then_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A database down makes every worker that meets it end, at each restart: its log must say
    so, not fill with a traceback per worker per second. An interruption after a run as long as
    RECOVERED_S is a new outage: its traceback again."""
    monkeypatch.setattr(lifecycle, "RECOVERED_S", 0.5)
    runs, ended, workers = 0, asyncio.Event(), Workers()

    async def worker(stopping: asyncio.Event) -> None:
        nonlocal runs
        runs += 1
        if runs == 3:
            await asyncio.sleep(0.6)  # back for a while, then down again
        if runs <= 3:
            raise ConnectionRefusedError("the database is down")
        ended.set()
        await stopping.wait()

    with capture_logs() as logs:
        workers.start("test", worker)
        async with asyncio.timeout(20):
            await ended.wait()
        await workers.stop(timeout_s=5)
    lines = [line for line in logs if line["event"].startswith("worker_")]
    assert [(line["event"], line["log_level"], line["exc_info"]) for line in lines] == [
        ("worker_interrupted", "warning", True),
        ("worker_interrupted", "warning", False),
        ("worker_interrupted", "warning", True),
    ]
    assert all("the database is down" in line["error"] for line in lines)
