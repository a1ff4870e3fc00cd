"""Outbox rows are written with their transaction's commit, all in one statement, in the
order they were added; a rollback drops them."""

from sqlalchemy import event

from services.intake.models import outbox
from shared.db import make_engine, make_sessions
from shared.events import Reporter, ReporterType
from shared.kafka import Envelope, OutgoingMessage
from shared.outbox import add_to_outbox
from tests.conftest import FlareEnv
from tests.integration.conftest import fetch


def message(env: FlareEnv, name: str) -> OutgoingMessage:
    body = Reporter(type=ReporterType.NGO, name=name)
    return OutgoingMessage(env.topics.escalations, name, Envelope.new("test.event", "/t", body))


async def test_a_transactions_rows_are_written_at_commit_in_one_statement_in_order(
    flare_env: FlareEnv,
) -> None:
    engine = make_engine(flare_env.database_url)
    statements: list[str] = []
    event.listen(
        engine.sync_engine,
        "before_cursor_execute",
        lambda _c, _cur, statement, *_: statements.append(statement),
    )
    try:
        async with make_sessions(engine).begin() as session:
            for name in ("first", "second", "third"):
                add_to_outbox(session, outbox, message(flare_env, name))
            assert not any("outbox" in statement for statement in statements), "not yet"
    finally:
        await engine.dispose()
    assert len([s for s in statements if s.startswith("INSERT INTO intake.outbox")]) == 1
    rows = await fetch(flare_env, "SELECT key FROM intake.outbox ORDER BY id")
    assert [row["key"] for row in rows] == ["first", "second", "third"]


async def test_a_rolled_back_transactions_rows_are_never_written(flare_env: FlareEnv) -> None:
    engine = make_engine(flare_env.database_url)
    try:
        async with make_sessions(engine)() as session:
            await session.begin()
            add_to_outbox(session, outbox, message(flare_env, "rolled back"))
            await session.rollback()  # the change failed
            async with session.begin():  # the same session's next transaction
                add_to_outbox(session, outbox, message(flare_env, "committed"))
    finally:
        await engine.dispose()
    rows = await fetch(flare_env, "SELECT key FROM intake.outbox")
    assert [row["key"] for row in rows] == ["committed"]
