"""A webhook target that is down, then slow (longer than the notifier's timeout), then answers
500, and each time recovers: every new case reaches it once, none twice."""

from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.chaos.system import Flare, Load, flare_running, settle, subscribe
from tests.chaos.table import Row
from tests.chaos.tcp_proxy import tcp_proxy
from tests.conftest import FlareEnv
from tests.integration.conftest import fetch
from tests.integration.notifier_peers import wait_until

pytestmark = [pytest.mark.chaos("webhook-targets"), pytest.mark.slow]
REPORTS = 20  # per fault
TIMEOUT_S = 2  # the notifier's delivery timeout in these scenarios


async def failed_attempts(flare: Flare) -> int:
    rows = await fetch(
        flare.env, "SELECT count(*) AS n FROM notifier.delivery_attempts WHERE outcome = 'failed'"
    )
    return int(rows[0]["n"])


async def under_fault(flare: Flare, load: Load) -> None:
    """Post while the fault lasts, until deliveries to the target have failed for a while."""
    failed_before = await failed_attempts(flare)
    await load.run(REPORTS, per_second=20)

    async def failing() -> bool:
        return await failed_attempts(flare) >= failed_before + REPORTS

    await wait_until(failing, 60, "deliveries failing against the target")


async def test_webhook_target_down_slow_and_failing_then_back_gets_each_alert_once(
    flare_env: FlareEnv, tmp_path: Path, chaos_row: Row
) -> None:
    async with flare_running(flare_env, tmp_path, subscribe_hook=False) as flare:
        hook = flare.hook
        async with tcp_proxy(urlsplit(hook.url).port or 0) as proxy:
            await subscribe(flare.running("notifier")[0], f"http://{proxy.address}")
            load = Load(flare, "webhooks")
            await proxy.down()  # down: connections refused
            await under_fault(flare, load)
            await proxy.up()
            hook.delay_s = 2 * TIMEOUT_S  # slow: answers after the notifier gave up
            await under_fault(flare, load)
            hook.delay_s = 0
            hook.failures, hook.status_on_failure = 10**6, 500  # failing: 500 to everything
            await under_fault(flare, load)
            hook.failures = 0
            await settle(flare, load, chaos_row)
    assert {request.path for request in hook.requests} == {"hook"}
    assert len(hook.requests) > len(hook.delivered), "the target saw the failed attempts too"
