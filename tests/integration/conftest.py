"""Helpers for tests that run a service's app in-process against the real Kafka and Postgres."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import uvicorn
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.conftest import FlareEnv
from tests.e2e.processes import free_port


def plan_nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
    """An EXPLAIN (FORMAT JSON) plan's node and every node under it."""
    return [node, *(found for child in node.get("Plans", []) for found in plan_nodes(child))]


async def prepared(connection: AsyncConnection, marker: str) -> tuple[str, int, int, int]:
    """The connection's prepared statement holding `marker`: its name, its parameter count, and
    how often it was planned for its values (custom) and reused a plan for any (generic)."""
    [(name, parameters, custom, generic)] = (
        await connection.execute(
            text(
                "SELECT name, cardinality(parameter_types), custom_plans, generic_plans "
                "FROM pg_prepared_statements WHERE statement LIKE :marker"
            ),
            {"marker": f"%{marker}%"},
        )
    ).all()
    return name, parameters, custom, generic


async def generic_plan(connection: AsyncConnection, marker: str) -> list[dict[str, Any]]:
    """The nodes of the plan PostgreSQL keeps for the connection's prepared statement holding
    `marker` when it plans for any values: the plan that the statement's text alone decides.
    Call it outside a transaction."""
    async with connection.begin() as transaction:
        name, parameters, _, _ = await prepared(connection, marker)
        await connection.exec_driver_sql("SET LOCAL plan_cache_mode = force_generic_plan")
        nulls = ", ".join(["NULL"] * parameters)  # a generic plan does not look at them
        explain = f"EXPLAIN (FORMAT JSON) EXECUTE {name}({nulls})"
        explained = await connection.exec_driver_sql(explain)
        [plan] = explained.scalar_one()  # decoded already: EXPLAIN's JSON is a json column
        await transaction.rollback()
    return plan_nodes(plan["Plan"])


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan (background workers included) and an HTTP client to it."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://flare.test") as client:
            yield client


async def fetch(env: FlareEnv, query: str, *args: object) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(env.dsn)
    try:
        return list(await connection.fetch(query, *args))
    finally:
        await connection.close()


async def execute(env: FlareEnv, statement: str, *args: object) -> None:
    connection = await asyncpg.connect(env.dsn)
    try:
        await connection.execute(statement, *args)
    finally:
        await connection.close()


@asynccontextmanager
async def serving(app: FastAPI, tls: tuple[Path, Path] | None = None) -> AsyncIterator[str]:
    """The app on a real port (uvicorn, lifespan included), for tools that speak HTTP.
    With `tls` (certificate, key) it serves HTTPS."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=free_port(),
        log_config=None,
        # Clients that keep a connection open must not hold the test's shutdown.
        timeout_graceful_shutdown=2,
        ssl_certfile=str(tls[0]) if tls else None,
        ssl_keyfile=str(tls[1]) if tls else None,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(30):
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.05)
        yield f"{'https' if tls else 'http'}://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        await task
