"""Group commit: concurrent reports share transactions, every 202 is stored with its event, and
rows the database refuses fail only their own caller."""

import asyncio
import json
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import asyncpg
import pytest
from sqlalchemy.exc import DBAPIError

from services.intake.models import outbox
from shared.db import make_engine, make_sessions
from shared.group_commit import GroupCommit
from tests.conftest import FlareEnv
from tests.intake_support import partner_session
from tests.integration.conftest import execute, fetch
from tests.kafka_reader import read_topic


def event_row() -> dict[str, Any]:
    return {
        "topic": "t",
        "key": "k",
        "event_id": uuid4(),
        "event_type": "flare.escalation.received",
        "source": "/test",
        "occurred_at": datetime.now(UTC),
        "data": {},
    }


async def test_concurrent_reports_are_each_stored_with_their_event(flare_env: FlareEnv) -> None:
    async with partner_session(flare_env) as partner:
        responses = await asyncio.gather(*(partner.post() for _ in range(40)))
        # Each with its event: the relay publishes every one, once.
        records = await read_topic(flare_env.kafka, flare_env.topics.escalations, expected=40)
    assert [response.status_code for response in responses] == [202] * 40
    ids = {response.json()["id"] for response in responses}
    stored = await fetch(flare_env, "SELECT id::text FROM intake.escalations")
    assert {row["id"] for row in stored} == ids
    assert sorted(json.loads(record.value)["escalation_id"] for record in records) == sorted(ids)


async def test_rows_the_database_refuses_fail_only_their_own_caller(flare_env: FlareEnv) -> None:
    engine = make_engine(flare_env.database_url)
    group = GroupCommit(make_sessions(engine))
    # JSONB cannot hold NUL: what a field without the request's check would let through.
    refused = {**event_row(), "data": {"note": "\x00"}}
    try:
        results = await asyncio.gather(
            group.insert([(outbox, {**event_row(), "key": "first"})]),
            group.insert([(outbox, refused)]),
            group.insert([(outbox, {**event_row(), "key": "third"})]),
            return_exceptions=True,
        )
    finally:
        await engine.dispose()
    assert [type(result) for result in results] == [type(None), DBAPIError, type(None)]
    assert isinstance(results[1], DBAPIError)
    assert getattr(results[1].orig, "sqlstate", None) == "22P05"
    stored = await fetch(flare_env, "SELECT key FROM intake.outbox ORDER BY id")
    assert [row["key"] for row in stored] == ["first", "third"]


async def test_a_caller_that_gave_up_before_its_batch_began_is_not_stored(
    flare_env: FlareEnv,
) -> None:
    engine = make_engine(flare_env.database_url)
    group = GroupCommit(make_sessions(engine))
    try:
        # The first caller's batch is under way when the second arrives and gives up.
        first = asyncio.create_task(group.insert([(outbox, {**event_row(), "key": "kept"})]))
        await asyncio.sleep(0)
        gave_up = asyncio.create_task(group.insert([(outbox, {**event_row(), "key": "gone"})]))
        await asyncio.sleep(0)
        gave_up.cancel()
        await first
    finally:
        await engine.dispose()
    stored = await fetch(flare_env, "SELECT key FROM intake.outbox")
    assert [row["key"] for row in stored] == ["kept"]


# Makes every commit of a row to the outbox take a while: a caller answered before its commit
# would look its row up while the commit is still under way.
SLOW_COMMIT = [
    "CREATE FUNCTION intake.test_slow_commit() RETURNS trigger LANGUAGE plpgsql"
    " AS $$ BEGIN PERFORM pg_sleep(0.3); RETURN NULL; END $$",
    "CREATE CONSTRAINT TRIGGER test_slow_commit AFTER INSERT ON intake.outbox"
    " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION intake.test_slow_commit()",
]


@pytest.mark.parametrize("callers", [1, 3])
async def test_callers_return_only_after_their_rows_are_committed(
    flare_env: FlareEnv, callers: int
) -> None:
    for statement in SLOW_COMMIT:
        await execute(flare_env, statement)
    engine = make_engine(flare_env.database_url)
    group = GroupCommit(make_sessions(engine))
    # Connected beforehand: each caller looks its row up as soon as it is answered.
    lookups = [await asyncpg.connect(flare_env.dsn) for _ in range(callers)]

    async def insert_then_look(lookup: asyncpg.Connection) -> bool:
        row = event_row()
        await group.insert([(outbox, row)])
        query = "SELECT count(*) FROM intake.outbox WHERE event_id = $1"
        return bool(await lookup.fetchval(query, row["event_id"]))

    try:
        seen = await asyncio.gather(*(insert_then_look(lookup) for lookup in lookups))
    finally:
        await engine.dispose()
        for lookup in lookups:
            await lookup.close()
        await execute(flare_env, "DROP FUNCTION intake.test_slow_commit() CASCADE")
    assert seen == [True] * callers, "each row visible to another connection: committed"
