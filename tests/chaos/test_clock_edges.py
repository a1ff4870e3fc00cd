"""Clock edges: SLA deadlines and escalation timers set just before a daylight-saving change
and run out after it, with the notifier SIGKILLed and restarted in between. PostgreSQL and the
services run on a clock moved (libfaketime) to a minute and a half before Europe/Berlin's
spring-forward, in that zone; every deadline must be the policy's duration in real time.
The broker keeps the real clock (a broker's clock only stamps records)."""

import asyncio
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from services.router.settings import DEFAULT_POLICY
from shared.auth import Role, mint_token
from shared.settings import LOCAL_JWT_SECRET
from tests.chaos.system import NOTIFIER, Flare, Load, flare_running, pages, settle, subscribe
from tests.chaos.table import Row
from tests.conftest import FlareEnv, migrate
from tests.disposable import disposable_postgres
from tests.integration.conftest import fetch
from tests.integration.notifier_peers import set_policy, wait_until

pytestmark = [pytest.mark.chaos("clock-edges"), pytest.mark.slow]
LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1")
# 02:00 CET becomes 03:00 CEST: the first spring-forward after this test was written.
DST_EDGE = datetime(2027, 3, 28, 1, 0, tzinfo=UTC)
# Starting up takes well under this: the cases open before the edge.
START_BEFORE_EDGE_S = 90
# The lead's step runs out this long after the edge (its wait is set to reach that far).
LEAD_AFTER_EDGE_S = 20
REPORTS = 10
TEAM = "Global Operations"


def install_libfaketime() -> None:
    """Debian's libfaketime, installed the way deploy/local/postgres.sh installs PostgreSQL."""
    if not LIBFAKETIME.exists():
        subprocess.run(["apt-get", "install", "-y", "-q", "libfaketime"], check=True)


def faked_clock(offset_s: int) -> dict[str, str]:
    """Settings that move a process's clock (not its monotonic one) by `offset_s`."""
    return {
        "LD_PRELOAD": str(LIBFAKETIME),
        "FAKETIME": f"{offset_s:+d}s",
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        "TZ": "Europe/Berlin",
    }


async def paged(flare: Flare, path: str) -> bool:
    return sum(1 for (where, _) in pages(flare.hook) if where == path) == REPORTS


async def test_sla_and_escalation_timers_across_a_dst_change_and_a_notifier_restart(
    flare_env: FlareEnv, tmp_path: Path, chaos_row: Row
) -> None:
    await asyncio.to_thread(install_libfaketime)
    offset_s = int(DST_EDGE.timestamp() - START_BEFORE_EDGE_S - time.time())
    clock = faked_clock(offset_s)
    with disposable_postgres(clock) as (_, database_url):
        await asyncio.to_thread(migrate, database_url)
        env = FlareEnv(database_url, flare_env.kafka, flare_env.topic_prefix)
        faked = {"intake": clock, "router": clock, "notifier": NOTIFIER | clock}
        async with flare_running(env, tmp_path, settings=faked, subscribe_hook=False) as flare:
            # A token still valid on the services' clock, months ahead of this one.
            lead = mint_token(LOCAL_JWT_SECRET, "lead", Role.LEAD, timedelta(days=365))
            await subscribe(
                flare.running("notifier")[0], flare.hook.url, {"authorization": f"Bearer {lead}"}
            )
            services_now = time.time() + offset_s
            lead_wait_s = int(DST_EDGE.timestamp() - services_now) + LEAD_AFTER_EDGE_S
            steps = [
                {"name": "on-call", "targets": [f"chat:{flare.hook.url}/oncall"]},
                {
                    "name": "lead",
                    "wait": f"{lead_wait_s}s",
                    "targets": [f"chat:{flare.hook.url}/lead"],
                },
            ]
            set_policy(env, tmp_path, TEAM, steps)
            load = Load(flare, "clock")
            await load.run(REPORTS)

            async def on_call_paged() -> bool:
                return await paged(flare, "oncall")

            await wait_until(on_call_paged, 60, "the on-call pages")
            flare.running("notifier")[0].kill()  # the lead's timers pending, across the edge
            await flare.start("notifier").wait_ready()

            async def lead_paged() -> bool:
                return await paged(flare, "lead")

            await wait_until(lead_paged, lead_wait_s + 60, "the lead's pages, after the edge")
            await settle(flare, load, chaos_row)
            cases = await fetch(
                env, "SELECT severity, created_at, ack_due_at, resolve_due_at FROM router.cases"
            )
            timers = await fetch(
                env, "SELECT state, started_at, fire_at FROM notifier.escalation_timers"
            )
            lead_pages = await fetch(
                env, "SELECT created_at FROM notifier.deliveries WHERE target LIKE '%/lead'"
            )
    paged_twice = [page for page, count in pages(flare.hook).items() if count > 1]
    chaos_row.alerts_sent += pages(flare.hook).total()
    chaos_row.duplicated += len(paged_twice)
    assert not paged_twice
    targets = yaml.safe_load(DEFAULT_POLICY.read_text())["sla"]["targets"]
    for case in cases:
        assert case["created_at"] < DST_EDGE, "the cases opened before the edge"
        minutes = targets[case["severity"]]
        assert case["ack_due_at"] - case["created_at"] == timedelta(
            minutes=minutes["acknowledge_minutes"]
        )
        assert case["resolve_due_at"] - case["created_at"] == timedelta(
            minutes=minutes["resolve_minutes"]
        )
    assert [timer["state"] for timer in timers] == ["done"] * REPORTS
    for timer in timers:
        assert timer["started_at"] < DST_EDGE < timer["fire_at"]
    assert all(page["created_at"] > DST_EDGE for page in lead_pages), "the lead was paged after"
