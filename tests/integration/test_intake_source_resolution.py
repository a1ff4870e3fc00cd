"""A tool resolving its alert tells the router (flare.escalation.resolved), once per report."""

import asyncio
import json
from uuid import uuid4

import asyncpg

from shared.events import CaseStatus, EventType, ReporterType
from tests.conftest import FlareEnv
from tests.intake_support import intake_app, new_partner
from tests.integration.conftest import fetch, running
from tests.integration.notifier_peers import wait_until
from tests.integration.test_intake_status import case_event, publish
from tests.kafka_reader import read_topic


def pagerduty(action: str, key: str) -> dict[str, object]:
    event: dict[str, object] = {
        "routing_key": key,
        "event_action": action,
        "dedup_key": "disk-full",
    }
    if action == "trigger":
        event["payload"] = {"summary": "Disk full on ingest", "source": "db-7", "severity": "error"}
    return event


async def test_resolving_twice_sends_one_resolution_after_the_report(flare_env: FlareEnv) -> None:
    key = await new_partner(flare_env, "pd-bridge", ReporterType.MONITORING)
    async with running(intake_app(flare_env)) as http:
        for action in ("trigger", "acknowledge", "resolve", "resolve"):
            response = await http.post("/v2/enqueue", json=pagerduty(action, key.api_key))
            assert response.status_code == 202, response.text
        records = await read_topic(flare_env.kafka, flare_env.topics.escalations, expected=2)
    types = [dict(record.headers)["ce_type"] for record in records]
    assert types == [b"flare.escalation.received", b"flare.escalation.resolved"]
    received, resolved = (json.loads(record.value) for record in records)
    assert resolved["escalation_ids"] == [received["escalation_id"]]
    assert resolved["partner"] == "pd-bridge"
    assert records[0].key == records[1].key == b"dedup:disk-full"


async def test_a_tool_repeating_an_alert_in_parallel_stores_it_once(flare_env: FlareEnv) -> None:
    key = await new_partner(flare_env, "pd-bridge", ReporterType.MONITORING)
    async with running(intake_app(flare_env)) as http:
        responses = await asyncio.gather(
            *(http.post("/v2/enqueue", json=pagerduty("trigger", key.api_key)) for _ in range(8))
        )
    assert [response.status_code for response in responses] == [202] * 8
    stored = await fetch(flare_env, "SELECT id FROM intake.escalations")
    assert len(stored) == 1


WAITING = "SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"


async def test_a_resolution_racing_a_trigger_of_the_same_alert_resolves_the_new_report(
    flare_env: FlareEnv,
) -> None:
    """Held back behind a transaction that has the alert's turn, as a trigger in flight has: the
    trigger stores its report first, and the resolution then finds it."""
    key = await new_partner(flare_env, "pd-bridge", ReporterType.MONITORING)
    holder = await asyncpg.connect(flare_env.dsn)
    try:
        async with running(intake_app(flare_env)) as http:
            turn = holder.transaction()
            await turn.start()
            name = f"flare.intake.alert:{key.partner.id}:disk-full"
            await holder.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", name)
            trigger = asyncio.create_task(
                http.post("/v2/enqueue", json=pagerduty("trigger", key.api_key))
            )

            async def waiting(count: int) -> bool:
                return bool((await fetch(flare_env, WAITING))[0]["n"] == count)

            await wait_until(lambda: waiting(1), what="the trigger waiting for its turn")
            resolve = asyncio.create_task(
                http.post("/v2/enqueue", json=pagerduty("resolve", key.api_key))
            )

            async def resolve_waiting_or_done() -> bool:
                return resolve.done() or await waiting(2)

            await wait_until(resolve_waiting_or_done, what="the resolution waiting or done")
            await turn.rollback()
            responses = [await trigger, await resolve]
    finally:
        await holder.close()
    assert [response.status_code for response in responses] == [202, 202]
    stored = await fetch(flare_env, "SELECT source_status FROM intake.escalations")
    assert [row["source_status"] for row in stored] == ["resolved"]


async def test_a_trigger_after_a_responder_resolved_the_case_is_a_new_report(
    flare_env: FlareEnv,
) -> None:
    """A tool that never sends a resolution (or lost it): once the case is resolved in Flare,
    its next trigger of the alert is a new occurrence, as PagerDuty takes it, not a repeat."""
    key = await new_partner(flare_env, "pd-bridge", ReporterType.MONITORING)
    async with running(intake_app(flare_env)) as http:
        first = await http.post("/v2/enqueue", json=pagerduty("trigger", key.api_key))
        [report] = await fetch(flare_env, "SELECT id FROM intake.escalations")
        # Still open: the tool repeating it is folded into it.
        repeated = await http.post("/v2/enqueue", json=pagerduty("trigger", key.api_key))
        resolved = case_event(uuid4(), report["id"], status=CaseStatus.RESOLVED)
        await publish(flare_env, EventType.CASE_RESOLVED, resolved)

        async def case_resolved() -> bool:
            rows = await fetch(flare_env, "SELECT case_status FROM intake.escalations")
            return [row["case_status"] for row in rows] == ["resolved"]

        await wait_until(case_resolved)
        again = await http.post("/v2/enqueue", json=pagerduty("trigger", key.api_key))
    assert [r.status_code for r in (first, repeated, again)] == [202, 202, 202]
    stored = await fetch(flare_env, "SELECT id, case_status FROM intake.escalations")
    assert len(stored) == 2
    assert {row["case_status"] for row in stored} == {"resolved", None}
