"""The delivery claim's plan: in a surge, each claim reads the next due delivery from the due
index, whatever the table's statistics say (a plan that hashed and sorted every due delivery
for each claim sent a surge's pages at a tenth of the rate). The claim and the timer poll keep
that plan once prepared, instead of planning again at every execution."""

import json
from datetime import UTC, datetime

from services.notifier import timers
from services.notifier.delivery_worker import CLAIM_DUE
from shared.db import make_engine
from tests.conftest import FlareEnv
from tests.integration.conftest import execute, fetch, generic_plan, plan_nodes, prepared
from tests.integration.notifier_peers import queue_pages


async def test_a_claim_in_a_surge_reads_the_due_index_however_stale_the_statistics(
    flare_env: FlareEnv,
) -> None:
    # Analysed when every delivery had gone out (a quiet hour), then a surge queues its pages.
    await queue_pages(flare_env, 20_000, "delivered")
    await execute(flare_env, "ANALYZE notifier.deliveries")
    await queue_pages(flare_env, 5_000)
    engine = make_engine(flare_env.database_url)  # for its dialect: nothing is executed on it
    claim = CLAIM_DUE.params(now=datetime.now(UTC)).compile(
        engine.sync_engine, compile_kwargs={"literal_binds": True}
    )
    await engine.dispose()
    [row] = await fetch(flare_env, f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {claim}")
    [explained] = json.loads(row[0])
    nodes = plan_nodes(explained["Plan"])
    assert not [node["Node Type"] for node in nodes if node["Node Type"] in ("Sort", "Hash")]
    assert sum(node.get("Temp Written Blocks", 0) for node in nodes) == 0
    reads = [node for node in nodes if node.get("Relation Name") == "deliveries"]
    assert {node["Node Type"] for node in reads} == {"Index Scan"}
    [due] = [node for node in reads if node["Index Name"] == "deliveries_due"]
    assert due["Actual Rows"] == 1, "the first due delivery, not every one"


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
    await queue_pages(flare_env, 5_000, "delivered")
    await queue_pages(flare_env, 50)
    await execute(flare_env, TIMERS_DONE, 5_000)
    await execute(flare_env, "ANALYZE notifier.deliveries")
    await execute(flare_env, "ANALYZE notifier.escalation_timers")
    engine = make_engine(flare_env.database_url, pool_size=1)
    try:
        async with engine.connect() as connection:
            for _ in range(RUNS):
                async with connection.begin() as transaction:
                    await connection.execute(CLAIM_DUE, {"now": datetime.now(UTC)})
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


async def test_claims_side_by_side_take_different_deliveries_and_hold_them(
    flare_env: FlareEnv,
) -> None:
    await queue_pages(flare_env, 3)
    engine = make_engine(flare_env.database_url, pool_size=3)
    now = {"now": datetime.now(UTC)}
    try:
        async with engine.begin() as first, engine.begin() as second:
            one = (await first.execute(CLAIM_DUE, now)).mappings().one()
            two = (await second.execute(CLAIM_DUE, now)).mappings().one()
            assert one["id"] != two["id"]
            assert (one["status"], one["attempts"]) == ("pending", 0)
            async with engine.connect() as third:
                # The two claimed stay locked: the third claim skips them.
                three = (await third.execute(CLAIM_DUE, now)).mappings().one()
                assert three["id"] not in {one["id"], two["id"]}
                await third.rollback()
    finally:
        await engine.dispose()
