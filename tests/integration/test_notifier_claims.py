"""The delivery claim: a lease that keeps other claims off a delivery until it ends (ADR 0015),
and its plan. In a surge, each claim reads the next due delivery from the due index, whatever
the table's statistics say (a plan that hashed and sorted every due delivery for each claim
sent a surge's pages at a tenth of the rate). The claim and the timer poll keep that plan once
prepared, instead of planning again at every execution."""

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.notifier import timers
from services.notifier.delivery_worker import CLAIM_DUE, RECORD_ATTEMPT
from shared.db import make_engine
from tests.conftest import FlareEnv
from tests.integration.conftest import execute, fetch, generic_plan, plan_nodes, prepared
from tests.integration.notifier_peers import queue_deliveries


@pytest.mark.parametrize(
    ("kind", "rows_read"),
    [
        # Pages first: the lookup of any kind is not even run.
        ("page", {"deliveries_due_pages": 1, "deliveries_due": 0, "deliveries_pkey": 1}),
        ("subscription", {"deliveries_due_pages": 0, "deliveries_due": 1, "deliveries_pkey": 1}),
    ],
)
async def test_a_claim_in_a_surge_reads_the_due_index_however_stale_the_statistics(
    flare_env: FlareEnv, kind: str, rows_read: dict[str, int]
) -> None:
    # Analysed when every delivery had gone out (a quiet hour), then a surge queues its own.
    await queue_deliveries(flare_env, 20_000, "delivered")
    await execute(flare_env, "ANALYZE notifier.deliveries")
    await queue_deliveries(flare_env, 5_000, kind=kind)
    engine = make_engine(flare_env.database_url)  # for its dialect: nothing is executed on it
    claim = CLAIM_DUE.params(lease=timedelta(seconds=30)).compile(
        engine.sync_engine, compile_kwargs={"literal_binds": True}
    )
    await engine.dispose()
    [row] = await fetch(flare_env, f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {claim}")
    [explained] = json.loads(row[0])
    nodes = plan_nodes(explained["Plan"])
    assert not [node["Node Type"] for node in nodes if node["Node Type"] in ("Sort", "Hash")]
    assert sum(node.get("Temp Written Blocks", 0) for node in nodes) == 0
    reads = [
        node
        for node in nodes
        if node.get("Relation Name") == "deliveries" and node["Node Type"] != "ModifyTable"
    ]
    assert {node["Node Type"] for node in reads} == {"Index Scan"}
    # The first due entry of each index, not every one; then the claimed row by its key.
    assert {node["Index Name"]: node["Actual Rows"] for node in reads} == rows_read


# Timers past their last step, each of its own case: rows the timer poll must not read.
TIMERS_DONE = """
INSERT INTO notifier.escalation_timers (case_id, team, next_step, fire_at, state, started_at)
SELECT gen_random_uuid(), 'trust-and-safety', 1, now() - interval '1 hour', 'done', now()
FROM generate_series(1, $1)
"""
RUNS = 12
CLAIM, POLL = "next_due", "fire_at <= now()"  # text found in each statement alone


async def test_the_claim_and_the_timer_poll_keep_their_plan_once_prepared(
    flare_env: FlareEnv,
) -> None:
    # PostgreSQL plans a prepared statement for its values five times, then keeps a plan made
    # for any values, unless that plan looks worse. With the due statuses bound, it could not
    # read the partial index, so every claim and every poll was planned anew.
    await queue_deliveries(flare_env, 5_000, "delivered")
    await queue_deliveries(flare_env, 50)
    await execute(flare_env, TIMERS_DONE, 5_000)
    await execute(flare_env, "ANALYZE notifier.deliveries")
    await execute(flare_env, "ANALYZE notifier.escalation_timers")
    engine = make_engine(flare_env.database_url, pool_size=1)
    try:
        async with engine.connect() as connection:
            for _ in range(RUNS):
                async with connection.begin() as transaction:
                    await connection.execute(CLAIM_DUE, {"lease": timedelta(seconds=30)})
                    await connection.execute(timers.CLAIM_DUE)
                    await transaction.rollback()
            async with connection.begin() as transaction:
                for marker in CLAIM, POLL:
                    _, _, custom, generic = await prepared(connection, marker)
                    assert (custom, generic) == (5, RUNS - 5), marker
                await transaction.rollback()
            for marker, index in ((CLAIM, "deliveries_due"), (POLL, "escalation_timers_due")):
                nodes = await generic_plan(connection, marker)
                assert not [node for node in nodes if node["Node Type"] in ("Sort", "Hash")]
                assert index in {node.get("Index Name") for node in nodes}
    finally:
        await engine.dispose()


def lease(seconds: float) -> dict[str, timedelta]:
    return {"lease": timedelta(seconds=seconds)}


def record(row: Any) -> dict[str, Any]:
    """RECORD_ATTEMPT's values for a delivered first attempt of the claimed `row`."""
    now = datetime.now(UTC)
    return {
        "delivery_id": row["id"],
        "lease_until": row["lease_until"],
        "attempt": 1,
        "started_at": now,
        "latency_ms": 1.0,
        "status_code": 204,
        "error": None,
        "outcome": "delivered",
        "new_status": "delivered",
        "delivered_at": now,
        "next_attempt_at": row["next_attempt_at"],
    }


async def test_a_claim_keeps_others_off_its_delivery_until_its_lease_ends(
    flare_env: FlareEnv,
) -> None:
    await queue_deliveries(flare_env, 2)
    engine = make_engine(flare_env.database_url, pool_size=2)
    try:
        async with engine.connect() as first, engine.connect() as second:
            for connection in first, second:
                await connection.execution_options(isolation_level="AUTOCOMMIT")
            one = (await first.execute(CLAIM_DUE, lease(2))).mappings().one()
            two = (await second.execute(CLAIM_DUE, lease(60))).mappings().one()
            assert one["id"] != two["id"]
            assert (one["status"], one["attempts"]) == ("pending", 0)
            assert one["next_attempt_at"] < one["lease_until"], "returned as it fell due"
            # Both claims are committed, and hold without a lock: nothing else is due.
            assert (await first.execute(CLAIM_DUE, lease(60))).first() is None
            # The first claimer went silent: when its lease ends, its delivery is due again.
            await asyncio.sleep(2.1)
            again = (await second.execute(CLAIM_DUE, lease(60))).mappings().one()
            assert again["id"] == one["id"]
            assert (await second.execute(CLAIM_DUE, lease(60))).first() is None
            # Its late outcome is logged but no longer sets the delivery's state; the new
            # claim's does.
            assert (await first.execute(RECORD_ATTEMPT, record(one))).rowcount == 0
            assert (await second.execute(RECORD_ATTEMPT, record(again))).rowcount == 1
    finally:
        await engine.dispose()
    rows = await fetch(
        flare_env,
        "SELECT d.status, count(a.id) AS attempts FROM notifier.deliveries d"
        " JOIN notifier.delivery_attempts a ON a.delivery_id = d.id GROUP BY d.id, d.status",
    )
    assert [(row["status"], row["attempts"]) for row in rows] == [("delivered", 2)]
