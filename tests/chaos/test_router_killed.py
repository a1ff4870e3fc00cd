"""The router SIGKILLed mid-batch (no shutdown, no commit): its replacement, or the replica that
takes over its partitions, handles every report once."""

import asyncio
from pathlib import Path

import pytest

from tests.chaos.system import Flare, Load, flare_running, settle
from tests.chaos.table import Row
from tests.conftest import FlareEnv
from tests.integration.conftest import fetch
from tests.integration.notifier_peers import wait_until

pytestmark = [pytest.mark.chaos("router-killed"), pytest.mark.slow]
REPORTS = 150


async def wait_for_cases(flare: Flare, at_least: int) -> None:
    async def enough() -> bool:
        return len(await fetch(flare.env, "SELECT 1 FROM router.case_reports")) >= at_least

    await wait_until(enough, 60, f"{at_least} reports handled")


async def handled(flare: Flare) -> int:
    return len(await fetch(flare.env, "SELECT 1 FROM router.case_reports"))


async def test_router_killed_mid_stream_and_mid_batch_then_replaced(
    flare_env: FlareEnv, tmp_path: Path, chaos_row: Row
) -> None:
    # A poll is one transaction: small polls, so that the backlog takes several and the kill
    # can fall between two of them, with some of the backlog committed and some not.
    small_polls = {"router": {"FLARE_CONSUMER_BATCH_MAX": "10"}}
    async with flare_running(flare_env, tmp_path, settings=small_polls) as flare:
        load = Load(flare, "router")
        posting = asyncio.create_task(load.run(REPORTS, per_second=25))
        await wait_for_cases(flare, 20)
        flare.running("router")[0].kill()  # mid-stream
        await posting  # a backlog builds up meanwhile
        backlog_from = await handled(flare)
        flare.start("router")  # takes the backlog in large batches
        await wait_for_cases(flare, backlog_from + 10)
        flare.running("router")[0].kill()  # mid-batch: some of the backlog done, not all
        killed_at = await handled(flare)
        await flare.start("router").wait_ready()
        await settle(flare, load, chaos_row)
    assert backlog_from < killed_at < REPORTS, "the second kill fell inside the backlog"


async def test_one_of_two_router_replicas_killed_the_other_takes_over(
    flare_env: FlareEnv, tmp_path: Path, chaos_row: Row
) -> None:
    async with flare_running(flare_env, tmp_path, routers=2) as flare:
        load = Load(flare, "replicas")
        posting = asyncio.create_task(load.run(REPORTS, per_second=25))
        await wait_for_cases(flare, 20)
        flare.running("router")[0].kill()
        await posting
        await settle(flare, load, chaos_row)
        assert len(flare.running("router")) == 1
