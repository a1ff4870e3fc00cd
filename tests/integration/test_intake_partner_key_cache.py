"""intake's partner-key cache (ADR 0011): repeated key checks are served from memory, and a key
rotated or disabled from another connection stops working once the change's notification
arrives, even when the listener's connection was killed meanwhile."""

from collections.abc import Awaitable, Callable
from dataclasses import replace

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import FlareEnv
from tests.intake_support import PartnerClient, intake_app, new_partner
from tests.integration.conftest import execute, fetch, running
from tests.integration.notifier_peers import wait_until

CACHE = "flare_intake_partner_key_cache"


async def metric(http: httpx.AsyncClient, name: str) -> float:
    text = (await http.get("/metrics")).text
    [value] = [
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == f"{CACHE}_{name}"
    ]
    return value


def metric_is(
    http: httpx.AsyncClient, name: str, expected: Callable[[float], bool]
) -> Callable[[], Awaitable[bool]]:
    """A condition for wait_until."""

    async def holds() -> bool:
        return expected(await metric(http, name))

    return holds


async def listener_pid(env: FlareEnv) -> int | None:
    rows = await fetch(
        env,
        "SELECT pid FROM pg_stat_activity WHERE application_name = 'flare-intake-invalidation' "
        "AND datname = current_database()",
    )
    return int(rows[0]["pid"]) if rows else None


@pytest.mark.parametrize(
    "change",
    [
        "UPDATE intake.partners SET key_hash = md5(random()::text) WHERE name = 'safenet'",
        "UPDATE intake.partners SET disabled_at = now() WHERE name = 'safenet'",
    ],
    ids=["rotated", "disabled"],
)
async def test_repeated_key_checks_are_served_from_memory_until_the_key_changes(
    flare_env: FlareEnv, change: str
) -> None:
    key = await new_partner(flare_env, "safenet")
    async with running(intake_app(flare_env)) as http:
        partner = PartnerClient(http, key)
        await wait_until(metric_is(http, "listening", lambda up: up == 1), what="listening")
        assert (await partner.post()).status_code == 202
        hits = await metric(http, "hits_total")
        for _ in range(3):
            assert (await partner.post()).status_code == 202
        assert await metric(http, "hits_total") == hits + 3
        invalidations = await metric(http, "invalidations_total")
        await execute(flare_env, change)
        await wait_until(
            metric_is(http, "invalidations_total", lambda now: now > invalidations),
            what="the change's notification arrives",
        )
        assert (await partner.post()).status_code == 401


async def test_a_key_changed_while_the_listener_was_killed_is_not_served_and_caching_resumes(
    flare_env: FlareEnv,
) -> None:
    safenet, other = await new_partner(flare_env, "safenet"), await new_partner(flare_env, "other")
    async with running(intake_app(flare_env)) as http:
        partner, bystander = PartnerClient(http, safenet), PartnerClient(http, other)
        await wait_until(metric_is(http, "listening", lambda up: up == 1), what="listening")
        killed = await listener_pid(flare_env)
        assert killed is not None
        assert [(await partner.post()).status_code for _ in range(2)] == [202, 202]

        await execute(flare_env, "SELECT pg_terminate_backend($1)", killed)

        async def backend_gone() -> bool:
            return await listener_pid(flare_env) != killed

        await wait_until(backend_gone, what="the listener's backend exits")
        # Its notification can no longer arrive: whether intake has reconnected by now or not,
        # the old key must not be served from memory.
        await execute(
            flare_env, "UPDATE intake.partners SET disabled_at = now() WHERE name = 'safenet'"
        )
        assert (await partner.post()).status_code == 401

        await wait_until(metric_is(http, "listening", lambda up: up == 1), what="reconnected")
        assert await listener_pid(flare_env) not in (None, killed)
        assert (await bystander.post()).status_code == 202
        hits = await metric(http, "hits_total")
        assert (await bystander.post()).status_code == 202
        assert await metric(http, "hits_total") == hits + 1, "cached again"


async def test_a_string_no_key_can_be_is_refused_without_a_database_lookup(
    flare_env: FlareEnv,
) -> None:
    key = await new_partner(flare_env, "safenet")
    well_formed = key.api_key[:-1] + ("A" if key.api_key[-1] != "A" else "B")
    async with running(intake_app(flare_env)) as http:
        looked_up = await metric(http, "misses_total")
        for junk in ("flare_short", "x" * 49, key.api_key + "x"):
            assert (await PartnerClient(http, replace(key, api_key=junk)).post()).status_code == 401
        assert await metric(http, "misses_total") == looked_up, "no lookup"
        unknown = PartnerClient(http, replace(key, api_key=well_formed))
        assert (await unknown.post()).status_code == 401
        assert await metric(http, "misses_total") == looked_up + 1, "looked up, not found"
