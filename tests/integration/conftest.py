"""Helpers for tests that run a service's app in-process against the real Kafka and Postgres."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import httpx
from fastapi import FastAPI

from tests.conftest import FlareEnv


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
