"""The notifier SIGKILLed with escalation timers pending and webhooks in flight: after the
restart every case is alerted once, and each escalation step pages once."""

import asyncio
from collections import Counter
from pathlib import Path

import pytest

from tests.chaos.system import Flare, Load, flare_running, pages, settle
from tests.chaos.table import Row
from tests.conftest import FlareEnv
from tests.integration.conftest import fetch
from tests.integration.notifier_peers import set_policy, wait_until

pytestmark = [pytest.mark.chaos("notifier-killed"), pytest.mark.slow]
REPORTS = 60
TEAM = "Global Operations"  # where the load's crisis reports go


async def pending_timers(flare: Flare) -> int:
    return len(
        await fetch(flare.env, "SELECT 1 FROM notifier.escalation_timers WHERE state = 'pending'")
    )


async def test_notifier_killed_with_timers_pending_and_webhooks_in_flight(
    flare_env: FlareEnv, tmp_path: Path, chaos_row: Row
) -> None:
    async with flare_running(flare_env, tmp_path) as flare:
        steps = [
            {"name": "on-call", "targets": [f"chat:{flare.hook.url}/oncall"]},
            {"name": "lead", "wait": "4s", "targets": [f"chat:{flare.hook.url}/lead"]},
        ]
        set_policy(flare_env, tmp_path, TEAM, steps)
        load = Load(flare, "notifier")
        posting = asyncio.create_task(load.run(REPORTS, per_second=20))

        async def some_alerted() -> bool:
            return len(flare.hook.delivered) >= 10

        await wait_until(some_alerted, 60, "the first alerts")
        flare.hook.gate.clear()  # from now on, what is sent stays in flight
        in_flight_from = len(flare.hook.requests)

        async def in_flight() -> bool:
            return len(flare.hook.requests) >= in_flight_from + 3

        await wait_until(in_flight, 30, "webhooks in flight")
        flare.running("notifier")[0].kill()
        timers_at_kill = await pending_timers(flare)
        flare.hook.gate.set()
        await posting
        await flare.start("notifier").wait_ready()
        outcome = await settle(flare, load, chaos_row)

        async def every_step_paged() -> bool:
            return await pending_timers(flare) == 0 and len(pages(flare.hook)) == 2 * outcome.cases

        await wait_until(every_step_paged, 60, "every escalation step paged")
        await asyncio.sleep(1)  # a late duplicate page would arrive now
    paged = pages(flare.hook)
    twice = [page for page, count in paged.items() if count > 1]
    chaos_row.alerts_sent += paged.total()
    chaos_row.duplicated += len(twice)
    assert timers_at_kill > 0, "the kill fell while escalation timers were pending"
    assert not twice, f"paged more than once: {twice[:5]}"
    assert Counter(path for path, _ in paged) == {"oncall": outcome.cases, "lead": outcome.cases}
