"""The pool hands out only connections the server still holds open: one the server closed (a
restart, a terminated backend) is replaced at checkout, found without a round trip."""

import json
from pathlib import Path

import pytest
from sqlalchemy import bindparam, cast, select, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from shared.db import make_engine
from shared.settings import FlareSettings
from tests.conftest import FlareEnv
from tests.integration.conftest import fetch
from tests.integration.notifier_peers import wait_until

BACKEND = text("SELECT pg_backend_pid()")


async def test_an_open_connection_is_reused_and_one_the_server_closed_is_replaced(
    flare_env: FlareEnv,
) -> None:
    engine = make_engine(flare_env.database_url, pool_size=1)
    try:
        async with engine.connect() as connection:
            first = await connection.scalar(BACKEND)
        async with engine.connect() as connection:
            assert await connection.scalar(BACKEND) == first, "the pooled connection is reused"

        await fetch(flare_env, "SELECT pg_terminate_backend($1)", first)

        async def gone() -> bool:
            rows = await fetch(flare_env, "SELECT 1 FROM pg_stat_activity WHERE pid = $1", first)
            return not rows

        await wait_until(gone, what="the backend terminated")
        async with engine.connect() as connection:
            replaced = await connection.scalar(BACKEND)
        assert replaced not in (None, first)
    finally:
        await engine.dispose()


async def test_json_values_go_to_postgres_and_back_as_the_json_module_would_write_them(
    flare_env: FlareEnv,
) -> None:
    """The engine's JSON codec is orjson: keys that are not strings become strings, as with
    json.dumps, and text survives whole."""
    engine = make_engine(flare_env.database_url, pool_size=1)
    value = {1: "one", "nested": {"list": [1, 2.5, None, True]}, "text": 'straße 😀 "q"'}
    as_json = json.loads(json.dumps(value))
    try:
        async with engine.connect() as connection:
            stored = await connection.scalar(
                select(cast(bindparam("value", type_=JSONB), JSONB)), {"value": value}
            )
        assert stored == as_json
    finally:
        await engine.dispose()


async def test_a_failed_statements_error_does_not_carry_its_values(flare_env: FlareEnv) -> None:
    """Errors are logged with their tracebacks: a report's text must not go with them."""
    engine = make_engine(flare_env.database_url)
    try:
        async with engine.connect() as connection:
            with pytest.raises(DBAPIError) as failed:
                await connection.execute(
                    text("SELECT :title, 1 / 0"), {"title": "a reporter's private words"}
                )
    finally:
        await engine.dispose()
    assert "division by zero" in str(failed.value)
    assert "private words" not in str(failed.value)


async def test_the_url_asks_for_tls_with_libpqs_sslmode(flare_env: FlareEnv) -> None:
    """Managed databases' URLs carry `?sslmode=...`. The test server offers no TLS: `prefer`
    falls back to a plain connection, `require` refuses one, so the mode is read, not dropped."""
    preferring = make_engine(f"{flare_env.database_url}?sslmode=prefer", pool_size=1)
    requiring = make_engine(f"{flare_env.database_url}?sslmode=require", pool_size=1)
    try:
        async with preferring.connect() as connection:
            assert await connection.scalar(text("SELECT 1")) == 1
        with pytest.raises(ConnectionError, match="rejected SSL upgrade"):
            async with requiring.connect():
                pass
    finally:
        await preferring.dispose()
        await requiring.dispose()


def socket_directory(port: int | None) -> Path:
    """Where deploy/local/postgres.sh has the server put its Unix socket."""
    [socket] = Path("/tmp").glob(f"flare-pg-*/.s.PGSQL.{port}")
    return socket.parent


async def test_a_url_with_a_port_and_a_socket_directory_reaches_that_socket(
    flare_env: FlareEnv,
) -> None:
    """`postgresql://user:password@:5433/db?host=/run/postgresql` is, to psql, the Unix socket
    in that directory for port 5433; asyncpg looked for the port over TCP, on no host."""
    url = make_url(flare_env.database_url)
    given = f"postgresql://{url.username}:{url.password}@:{url.port}/{url.database}"
    settings = FlareSettings(port=1, database_url=f"{given}?host={socket_directory(url.port)}")
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        async with engine.connect() as connection:
            # No server address: the connection came through the socket.
            assert await connection.scalar(text("SELECT inet_server_addr()")) is None
            assert await connection.scalar(text("SELECT current_user")) == url.username
    finally:
        await engine.dispose()


async def test_the_services_statements_time_out_and_the_migrations_do_not(
    flare_env: FlareEnv,
) -> None:
    """A dead server does not hang a request; a migration waiting for its lock or building an
    index on a large table takes what it needs (run_migrations: statement_timeout_s=None)."""
    sleep = text("SELECT pg_sleep(1.5)")
    services = make_engine(flare_env.database_url, pool_size=1, statement_timeout_s=0.5)
    migrations = make_engine(flare_env.database_url, pool_size=1, statement_timeout_s=None)
    try:
        async with services.connect() as connection:
            with pytest.raises(TimeoutError):
                await connection.execute(sleep)
        async with migrations.connect() as connection:
            await connection.execute(sleep)
    finally:
        await services.dispose()
        await migrations.dispose()
