"""SLA: deadlines by band, and the periodic check's warning and breach, each sent once; the
check reads the cases whose clocks run, not every case stored."""

import json
from datetime import datetime, timedelta
from uuid import UUID

from services.router import case_actions
from services.router.deadline_rules import deadline_rules, nearing_cases
from services.router.sla_check import check_sla, due_cases
from shared.db import make_engine
from tests.conftest import FlareEnv
from tests.integration.conftest import execute, fetch, generic_plan
from tests.integration.router_helpers import (
    POLICY,
    T0,
    escalation,
    handle_all,
    received,
    router_app,
    router_sessions,
)
from tests.kafka_reader import read_topic

SEV1 = escalation(signals={"imminent_harm": True})  # acknowledge in 15 min, resolve in 240


async def check(env: FlareEnv, at: datetime) -> int:
    async with router_sessions(env) as sessions:
        return await check_sla(sessions, env.topics, POLICY, at)


async def sla_events(env: FlareEnv) -> list[tuple[str, str]]:
    rows = await fetch(
        env,
        "SELECT event_type, data FROM router.outbox WHERE event_type LIKE 'flare.case.sla%' "
        "ORDER BY id",
    )
    return [(row["event_type"].removeprefix("flare.case."), row["data"]) for row in rows]


async def open_and_acknowledge(env: FlareEnv, at: datetime) -> None:
    """A SEV1 case opened at T0, acknowledged at `at`."""
    [case_id] = await handle_all(env, received(SEV1))
    assert isinstance(case_id, UUID)
    async with router_sessions(env) as sessions, sessions.begin() as session:
        await case_actions.acknowledge(session, env.topics, case_id, "ana", None, at)


# Cases resolved long ago: what a year of history looks like to the SLA check.
RESOLVED_CASES = """
INSERT INTO router.cases (id, escalation_id, correlation_key, status, category, product, title,
    created_at, ack_due_at, resolve_due_at)
SELECT gen_random_uuid(), gen_random_uuid(), 'old-' || g, 'resolved', 'crisis', 'facebook',
    'Old case', at, at + interval '15 minutes', at + interval '4 hours'
FROM generate_series(1, $1) AS g, LATERAL (SELECT now() - g * interval '1 minute') AS t(at)
"""


async def test_the_check_reads_the_cases_whose_clocks_run_not_the_history(
    flare_env: FlareEnv,
) -> None:
    await execute(flare_env, RESOLVED_CASES, 20_000)
    await handle_all(flare_env, received(SEV1))
    await execute(flare_env, "ANALYZE router.cases")
    at = T0 + timedelta(minutes=16)
    engine = make_engine(flare_env.database_url, pool_size=1)
    try:
        async with engine.connect() as connection:
            # As the check runs it: a prepared statement with its values bound. The plan kept
            # for any values must read the index, from the statement's text alone.
            async with connection.begin() as transaction:
                due = (await connection.execute(due_cases(at, 0.8, 500))).all()
                await transaction.rollback()
            nodes = await generic_plan(connection, "FROM router.cases")
    finally:
        await engine.dispose()
    assert len(due) == 1
    reads = [node for node in nodes if node.get("Relation Name") == "cases"]
    assert [(node["Node Type"], node.get("Index Name")) for node in reads] == [
        ("Index Scan", "cases_sla_pending")
    ]
    assert await check(flare_env, at) == 1


async def test_the_legal_deadline_rules_read_the_unresolved_cases_with_one_not_the_history(
    flare_env: FlareEnv,
) -> None:
    await execute(flare_env, RESOLVED_CASES, 20_000)
    deadline = T0 + timedelta(hours=20)
    await handle_all(
        flare_env, received(escalation(signals={"legal_deadline": deadline.isoformat()}))
    )
    await execute(flare_env, "ANALYZE router.cases")
    engine = make_engine(flare_env.database_url, pool_size=1)
    try:
        async with engine.connect() as connection:
            async with connection.begin() as transaction:
                rules = deadline_rules(POLICY)
                await connection.execute(nearing_cases(rules, T0, 500))
                await transaction.rollback()
            nodes = await generic_plan(connection, "FROM router.cases")
    finally:
        await engine.dispose()
    reads = [node for node in nodes if node.get("Relation Name") == "cases"]
    assert [(node["Node Type"], node.get("Index Name")) for node in reads] == [
        ("Index Scan", "cases_legal_deadline_pending")
    ]


async def test_acknowledge_warning_then_breach_each_once(flare_env: FlareEnv) -> None:
    await handle_all(flare_env, received(SEV1))
    minutes = [5, 12, 13, 15, 16]
    sent = [await check(flare_env, T0 + timedelta(minutes=m)) for m in minutes]
    assert sent == [0, 1, 0, 1, 0]
    events = await sla_events(flare_env)
    assert [kind for kind, _ in events] == ["sla_warning", "sla_breached"]
    assert '"sla_target": "acknowledge"' in events[1][1]


async def test_warned_cases_waiting_for_their_breach_do_not_starve_newer_ones(
    flare_env: FlareEnv,
) -> None:
    older = [
        received(escalation(signals={"imminent_harm": True}, dedup_key=f"old{n}")) for n in range(2)
    ]
    await handle_all(flare_env, *older)
    async with router_sessions(flare_env) as sessions:
        assert (
            await check_sla(sessions, flare_env.topics, POLICY, T0 + timedelta(minutes=13), 2) == 2
        )
    newer = received(
        escalation(signals={"imminent_harm": True}, dedup_key="new"), at=T0 + timedelta(minutes=1)
    )
    await handle_all(flare_env, newer)
    async with router_sessions(flare_env) as sessions:
        # The two older cases are warned and not yet breached: only the newer one is due.
        assert (
            await check_sla(sessions, flare_env.topics, POLICY, T0 + timedelta(minutes=14), 2) == 1
        )
    assert len(await sla_events(flare_env)) == 3


async def test_a_check_first_running_after_the_deadline_sends_only_the_breach(
    flare_env: FlareEnv,
) -> None:
    await handle_all(flare_env, received(SEV1))
    assert await check(flare_env, T0 + timedelta(minutes=30)) == 1
    assert [kind for kind, _ in await sla_events(flare_env)] == ["sla_breached"]


async def test_acknowledging_stops_the_acknowledge_clock_but_not_resolve(
    flare_env: FlareEnv,
) -> None:
    await open_and_acknowledge(flare_env, T0 + timedelta(minutes=5))
    assert await check(flare_env, T0 + timedelta(minutes=20)) == 0
    assert await check(flare_env, T0 + timedelta(minutes=181)) == 1
    assert await check(flare_env, T0 + timedelta(minutes=241)) == 1
    assert [kind for kind, _ in await sla_events(flare_env)] == ["sla_warning", "sla_breached"]
    [case] = await fetch(flare_env, "SELECT * FROM router.cases")
    assert (case["ack_breached"], case["resolve_breached"]) == (False, True)


async def test_a_legal_deadline_tightens_the_sla(flare_env: FlareEnv) -> None:
    deadline = T0 + timedelta(hours=3)
    report = escalation(category="legal_request", signals={"legal_deadline": deadline.isoformat()})
    await handle_all(flare_env, received(report))
    [case] = await fetch(flare_env, "SELECT * FROM router.cases")
    # SEV2 by the legal-deadline floor: 60 min to acknowledge, and resolution an hour before.
    assert case["severity"] == "SEV2"
    assert case["ack_due_at"] == T0 + timedelta(minutes=60)
    assert case["resolve_due_at"] == deadline - timedelta(hours=1)
    assert case["resolve_due_at"] < deadline
    assert case["watchers"] == []  # Legal owns it already


async def test_the_running_router_publishes_sla_breaches_to_kafka_once(flare_env: FlareEnv) -> None:
    # Opened at T0, weeks before the wall clock: both targets are long breached.
    await handle_all(flare_env, received(SEV1))
    async with router_app(flare_env, sla_check_interval_s=0.1):
        records = await read_topic(flare_env.kafka, flare_env.topics.cases, expected=3)
    kinds = [dict(record.headers)["ce_type"].decode() for record in records]
    assert kinds == ["flare.case.created", "flare.case.sla_breached", "flare.case.sla_breached"]
    targets = [json.loads(record.value)["sla_target"] for record in records[1:]]
    assert sorted(targets) == ["acknowledge", "resolve"]


async def test_a_target_met_late_before_the_check_saw_it_is_recorded_as_breached(
    flare_env: FlareEnv,
) -> None:
    """The check runs every few seconds: the SLA report must not miss a breach it did not see."""
    await open_and_acknowledge(flare_env, T0 + timedelta(minutes=15, seconds=8))  # 8 s late
    [case] = await fetch(flare_env, "SELECT ack_breached, resolve_breached FROM router.cases")
    assert (case["ack_breached"], case["resolve_breached"]) == (True, False)
    # The check that follows sends nothing for it: the acknowledge clock has stopped.
    assert await check(flare_env, T0 + timedelta(minutes=16)) == 0
    assert await sla_events(flare_env) == []


async def test_a_case_raised_hours_after_it_opened_gets_the_new_bands_time_from_then(
    flare_env: FlareEnv,
) -> None:
    """Counted from the opening, a case raised to SEV1 two and a half hours in would be due to
    be acknowledged two hours before it was raised."""
    quiet = escalation(category="community_standards", description="Spam wave")
    raised_at = T0 + timedelta(hours=2, minutes=30)
    stronger = {**quiet, "signals": {"imminent_harm": True, "minors_involved": True}}
    await handle_all(flare_env, received(quiet), received(stronger, at=raised_at))
    [case] = await fetch(flare_env, "SELECT * FROM router.cases")
    assert case["severity"] == "SEV1"
    assert case["ack_due_at"] == raised_at + timedelta(minutes=15)
    assert case["resolve_due_at"] == raised_at + timedelta(hours=4)


async def test_a_late_report_on_a_case_leaves_its_deadlines_where_they_are(
    flare_env: FlareEnv,
) -> None:
    """Received before the case opened (a backlog, a DLQ replay), counted from its receipt it
    would pull the case's deadlines into the past."""
    await handle_all(flare_env, received(SEV1), received(SEV1, at=T0 - timedelta(hours=3)))
    [case] = await fetch(
        flare_env, "SELECT report_count, ack_due_at, resolve_due_at FROM router.cases"
    )
    assert case["report_count"] == 2
    assert (case["ack_due_at"], case["resolve_due_at"]) == (
        T0 + timedelta(minutes=15),
        T0 + timedelta(hours=4),
    )


async def test_a_legal_deadline_coming_within_a_day_raises_and_informs_as_time_passes(
    flare_env: FlareEnv,
) -> None:
    """The policy's legal-deadline floor (SEV2) and watcher rule (Legal) hold within 24 h: a case
    opened 30 h before its deadline gets them once the deadline comes that near, with no report
    arriving, and once only."""
    deadline = T0 + timedelta(hours=30)
    quiet = escalation(
        category="community_standards",
        description="Spam wave",
        reporter={"type": "monitoring", "name": "Probe"},
        signals={"legal_deadline": deadline.isoformat()},
    )
    await handle_all(flare_env, received(quiet))
    [opened] = await fetch(flare_env, "SELECT severity, watchers, ack_due_at FROM router.cases")
    assert opened["severity"] in ("SEV3", "SEV4")
    assert opened["watchers"] == []
    updates = "SELECT 1 FROM router.outbox WHERE event_type = 'flare.case.updated'"
    await check(flare_env, T0 + timedelta(hours=5))  # 25 h left: not yet
    early = len(await fetch(flare_env, updates))
    near = T0 + timedelta(hours=7)  # 23 h left
    for at in (near, near + timedelta(minutes=1)):
        await check(flare_env, at)
    [case] = await fetch(flare_env, "SELECT * FROM router.cases")
    assert (early, len(await fetch(flare_env, updates))) == (0, 1)
    assert (case["severity"], case["watchers"]) == ("SEV2", ["Legal"])
    assert json.loads(case["explanation"])["rules"][-1]["name"] == "legal_deadline_floor"
    # SEV2's hour to acknowledge counts from then (if sooner than what it had).
    assert case["ack_due_at"] == min(opened["ack_due_at"], near + timedelta(hours=1))
    # A weaker report joining later (no deadline of its own) does not lower it again.
    weaker = {**quiet, "signals": None}
    await handle_all(flare_env, received(weaker, at=near + timedelta(minutes=2)))
    await check(flare_env, near + timedelta(minutes=3))
    [joined] = await fetch(flare_env, "SELECT severity, report_count FROM router.cases")
    assert (joined["severity"], joined["report_count"]) == ("SEV2", 2)
    assert len(await fetch(flare_env, updates)) == 2, "the join's, and no lowering and raising"


async def test_a_deadline_moved_earlier_is_warned_of_again_naming_it(flare_env: FlareEnv) -> None:
    quiet = escalation(category="community_standards", description="Spam wave")
    await handle_all(flare_env, received(quiet))
    [opened] = await fetch(flare_env, "SELECT ack_due_at FROM router.cases")
    first_warning = T0 + (opened["ack_due_at"] - T0) * 0.8
    await check(flare_env, first_warning)
    raised_at = first_warning + timedelta(minutes=1)
    stronger = {**quiet, "signals": {"imminent_harm": True, "minors_involved": True}}
    await handle_all(flare_env, received(stronger, at=raised_at))
    await check(flare_env, raised_at + timedelta(seconds=30))
    events = [
        json.loads(data) for kind, data in await sla_events(flare_env) if kind == "sla_warning"
    ]
    # The acknowledge target's (resolve's moved earlier too, and is warned of as well).
    warnings = [event for event in events if event["sla_target"] == "acknowledge"]
    assert [warning["due_at"] for warning in warnings] == [
        opened["ack_due_at"].isoformat().replace("+00:00", "Z"),
        (raised_at + timedelta(minutes=15)).isoformat().replace("+00:00", "Z"),
    ]
