"""The router's admin CLI against Postgres, and the policy hot reload in a running router."""

import asyncio
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from services.router.app import create_app
from services.router.policy_store import PolicyStore
from services.router.settings import DEFAULT_POLICY, RouterSettings
from shared.kafka import EventProducer
from tests.conftest import FlareEnv
from tests.integration.conftest import fetch, running
from tests.integration.router_helpers import escalation, received
from tests.kafka_reader import read_topic

DEADLINE_S = 10.0


async def router_cli(env: FlareEnv, *args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.router",
        *args,
        env={**os.environ, **env.service_env()},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode or 0, output.decode()


async def test_admin_cli_creates_a_team_with_responders_and_a_rotation(flare_env: FlareEnv) -> None:
    steps = [
        ("team", "add", "trust-research", "Trust Research", "--timezone", "Asia/Tokyo"),
        ("team", "add-responder", "kenji", "Kenji Mori", "--team", "trust-research"),
        ("team", "add-responder", "aiko", "Aiko Ueda", "--team", "trust-research"),
        (
            "rotation",
            "add-layer",
            "trust-research",
            "primary",
            "--member",
            "kenji",
            "--member",
            "aiko",
            "--timezone",
            "Asia/Tokyo",
            "--handoff",
            "00:00",
            "--shift-days",
            "1",
        ),
        ("rotation", "oncall", "trust-research"),
    ]
    outputs = []
    for step in steps:
        code, output = await router_cli(flare_env, *step)
        assert code == 0, output
        outputs.append(output.strip())
    assert outputs[-1] in {"kenji", "aiko"}
    bad_code, bad = await router_cli(flare_env, "team", "add", "x", "X", "--timezone", "Mars/Base")
    assert bad_code == 1
    assert "not an IANA time zone" in bad


async def test_admin_cli_refuses_bad_times_and_unknown_teams_in_a_line(flare_env: FlareEnv) -> None:
    layer = ("rotation", "add-layer", "legal", "primary", "--member", "omar", "--timezone", "UTC")
    mistakes = {
        (*layer, "--handoff", "9:00"): "'9:00' is not a time of day as HH:MM",
        (*layer, "--active-from", "08:00"): "--active-from and --active-until go together",
        ("rotation", "oncall", "no-such-team"): "no-such-team",
        (
            "rotation", "override", "legal", "primary", "omar",
            "--starts", "Christmas", "--ends", "2026-12-27T00:00",
        ): "'Christmas' is not an ISO 8601 date and time",
    }  # fmt: skip
    for command, expected in mistakes.items():
        code, output = await router_cli(flare_env, *command)
        assert code != 0, command
        assert "Traceback" not in output, command
        assert expected in output, output


async def test_an_override_takes_a_time_with_its_offset(flare_env: FlareEnv) -> None:
    code, output = await router_cli(
        flare_env, "rotation", "override", "legal", "primary", "omar",
        "--starts", "2026-12-24T09:00+01:00", "--ends", "2026-12-24T17:00+01:00",
    )  # fmt: skip
    assert code == 0, output
    [row] = await fetch(flare_env, "SELECT starts_at FROM router.rotation_overrides")
    assert row["starts_at"] == datetime(2026, 12, 24, 8, tzinfo=UTC)


async def wait_until(condition: Callable[[], bool], what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE_S
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        await asyncio.sleep(0.05)


async def test_the_policy_reloads_without_restart_and_a_bad_edit_keeps_it(
    flare_env: FlareEnv, tmp_path: Path
) -> None:
    path = tmp_path / "policy.yaml"
    text = DEFAULT_POLICY.read_text()
    path.write_text(text)
    settings = flare_env.settings(
        RouterSettings, policy_path=path, policy_reload_interval_s=0.05, sla_check_interval_s=3600
    )
    app = create_app(settings)
    store: PolicyStore = app.state.policies
    async with running(app):
        path.write_text(text.replace("name: default", "name: tuned", 1))
        await wait_until(lambda: store.current.version.startswith("tuned@"), "tuned is in force")
        tuned = store.current.version
        path.write_text(text.replace("weight: 45", "weight: lots", 1))
        await wait_until(lambda: store.rejected is not None, "the bad file is refused")
        assert store.current.version == tuned
        assert "rules.0.weight" in (store.rejected or "")
        # Through the running router's consumer: it must read the policy in force, not the one
        # it started with.
        producer = EventProducer(flare_env.kafka_access, client_id="test")
        try:
            key, value, headers = received(escalation(dedup_key="tuned")).to_message("tuned")
            await producer.send_raw(flare_env.topics.escalations, key, value, headers)
            await read_topic(flare_env.kafka, flare_env.topics.cases, expected=1)
        finally:
            await producer.stop()
    [case] = await fetch(flare_env, "SELECT policy_version FROM router.cases")
    assert case["policy_version"] == tuned
