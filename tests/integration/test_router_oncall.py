"""Teams and on-call from Postgres: the seed, GET /v1/teams and /v1/oncall, least-loaded pick."""

import asyncio
from datetime import date, time, timedelta

from prometheus_client import CollectorRegistry

from services.router import teams
from shared.invalidation import InvalidationListener
from tests.conftest import FlareEnv
from tests.integration.conftest import fetch
from tests.integration.notifier_peers import wait_until
from tests.integration.router_helpers import (
    T0,
    bearer,
    escalation,
    handle_all,
    received,
    router_app,
    router_sessions,
)

HOUR = timedelta(hours=1)
DESIGN_TEAMS = {
    "Global Operations",
    "Legal",
    "IP Operations",
    "Public Policy",
    "Elections Integrity",
    "Law Enforcement Response",
    "Communications",
    "Partnerships",
    "Ads & Commerce Integrity",
    "Sales",
    "Product",
}


async def test_the_eleven_teams_are_seeded_with_two_or_more_responders(flare_env: FlareEnv) -> None:
    async with router_app(flare_env, sla_check_interval_s=3600) as (client, settings):
        response = await client.get("/v1/teams", headers=bearer(settings))
    assert response.status_code == 200
    listed = response.json()
    assert {team["name"] for team in listed} == DESIGN_TEAMS
    assert all(len(team["members"]) >= 2 for team in listed)


async def test_oncall_names_one_responder_per_team_following_the_sun(flare_env: FlareEnv) -> None:
    # 02:00 UTC is 10:00 in Singapore: Global Operations' Asia layer is on call.
    at = (T0 - timedelta(hours=10)).isoformat()
    async with router_app(flare_env, sla_check_interval_s=3600) as (client, settings):
        response = await client.get("/v1/oncall", params={"at": at}, headers=bearer(settings))
    on_call = {row["team"]: row["on_call"] for row in response.json()}
    assert len(on_call) == 11
    assert all(len(people) == 1 for people in on_call.values())
    assert on_call["global-operations"] == ["mei"]


async def test_the_least_loaded_of_several_on_call_gets_the_case(flare_env: FlareEnv) -> None:
    async with router_sessions(flare_env) as sessions, sessions.begin() as session:
        second = teams.LayerSpec("America/New_York", time(9), 7, date(2026, 1, 5), ["dana"])
        await teams.add_layer(session, "legal", "secondary", second)
    legal = escalation(category="legal_request")
    first, second_case, third = await handle_all(
        flare_env,
        *(received(legal | {"dedup_key": key}, at=T0) for key in ("a", "b", "c")),
    )
    async with router_sessions(flare_env) as sessions, sessions() as session:
        on_call = await teams.on_call(session, "legal", T0)
        counts = await teams.open_case_counts(session, on_call)
    # The primary rotation's Omar (this week) and the secondary's Dana are both on call;
    # ties go to rotation order, so Omar, then Dana, then Omar again.
    assert on_call == ["omar", "dana"]
    assert counts == {"omar": 2, "dana": 1}
    assert None not in (first, second_case, third)


async def test_a_case_opened_after_a_backlog_goes_to_who_is_on_call_when_it_opens(
    flare_env: FlareEnv,
) -> None:
    """Received at T0, handled a week later (Kafka was down, or the report was replayed from the
    DLQ): the responder on call at T0 has handed off since."""
    later = T0 + timedelta(days=7)
    async with router_sessions(flare_env) as sessions, sessions() as session:
        then, now = [await teams.on_call(session, "legal", at) for at in (T0, later)]
    assert then != now, "the weekly rotation has handed off"
    [case_id] = await handle_all(
        flare_env, received(escalation(category="legal_request"), at=T0), now=later
    )
    [case] = await fetch(flare_env, "SELECT id, assignee, ack_due_at FROM router.cases")
    assert (case["id"], [case["assignee"]]) == (case_id, now)
    assert case["ack_due_at"] < later, "its SLA still runs from the report's receipt"


async def test_an_override_puts_its_responder_on_call_for_its_period(flare_env: FlareEnv) -> None:
    """Sales hands over at 09:00 New York time, an hour after T0: the override ends before."""
    ends = T0 + timedelta(minutes=30)
    async with router_sessions(flare_env) as sessions:
        async with sessions() as session:
            rostered = [await teams.on_call(session, "sales", at) for at in (T0, ends)]
        assert rostered[0] == rostered[1] != ["kate"], "the rotation has someone else on call"
        async with sessions.begin() as session:
            period = (T0 - timedelta(hours=1), ends)
            await teams.add_override(session, "sales", "primary", "kate", period, "cover")
        async with sessions() as session:
            during = await teams.on_call(session, "sales", T0)
            after = await teams.on_call(session, "sales", ends + timedelta(minutes=1))
    assert during == ["kate"]
    assert after == rostered[0], "the rotation's responder again once the override ends"


async def test_of_overlapping_overrides_the_one_added_last_wins(flare_env: FlareEnv) -> None:
    """There is no command to remove an override: a correction is a newer one over it."""
    async with router_sessions(flare_env) as sessions:
        async with sessions() as session:
            [rostered] = await teams.on_call(session, "sales", T0)
        assert rostered != "kate"
        async with sessions.begin() as session:
            await teams.add_override(
                session, "sales", "primary", "kate", (T0 - timedelta(hours=1), T0 + 2 * HOUR), "x"
            )
        async with sessions.begin() as session:
            correction = (T0, T0 + HOUR)
            await teams.add_override(session, "sales", "primary", rostered, correction, "fix")
        async with sessions() as session:
            corrected = await teams.on_call(session, "sales", T0 + timedelta(minutes=10))
            after = await teams.on_call(session, "sales", T0 + timedelta(minutes=90))
    assert (corrected, after) == ([rostered], ["kate"])


async def test_the_routers_rotations_are_kept_until_a_change_is_notified(
    flare_env: FlareEnv,
) -> None:
    registry = CollectorRegistry()
    rotations = teams.rotations_cache(registry)
    listener = InvalidationListener(
        flare_env.database_url,
        teams.ROTATIONS_CHANGED,
        rotations,
        application_name="flare-test-rotations",
    )

    def sample(name: str) -> float:
        return registry.get_sample_value(f"flare_router_rotations_cache_{name}_total") or 0.0

    async def listening() -> bool:
        return rotations.listening

    async def notified() -> bool:
        return sample("invalidations") > 0

    stopping = asyncio.Event()
    task = asyncio.create_task(listener.run(stopping))
    try:
        await wait_until(listening, what="the listener is listening")
        async with router_sessions(flare_env) as sessions:
            async with sessions() as session:
                before = [await teams.pick_assignee(session, "Sales", T0, rotations) for _ in "ab"]
                assert sample("hits") == 1, "the second pick read no rotations"
            cover = "kate" if before[0] == "luis" else "luis"
            async with sessions.begin() as session:
                period = (T0 - timedelta(hours=1), T0 + timedelta(hours=1))
                await teams.add_override(session, "sales", "primary", cover, period, "cover")
            await wait_until(notified, what="the override's notification")
            async with sessions() as session:
                after = await teams.pick_assignee(session, "Sales", T0, rotations)
    finally:
        stopping.set()
        await task
    assert before[0] == before[1] != cover
    assert after == cover, "the override counts from its notification on"
