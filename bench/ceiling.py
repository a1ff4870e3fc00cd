"""intake's ceiling: a bare FastAPI + uvicorn endpoint that validates the same body and does one
asyncpg INSERT (and its commit) in the same Postgres. `python -m bench.ceiling PORT DSN`."""

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from uuid import uuid4

import asyncpg
import uvicorn
from fastapi import FastAPI, Request, status

from services.intake.schemas import EscalationAccepted, EscalationIn

TABLE = """CREATE TABLE IF NOT EXISTS bench_ceiling (
    id uuid PRIMARY KEY, received_at timestamptz NOT NULL, body jsonb NOT NULL)"""


def create_app(dsn: str) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # intake's engine holds 10 connections (FLARE_DB_POOL_SIZE): the same here.
        async with asyncpg.create_pool(dsn, min_size=10, max_size=10) as pool:
            await pool.execute(TABLE)
            # Each run starts empty: the second run (after intake) is not handicapped by the
            # first one's rows and their index.
            await pool.execute("TRUNCATE bench_ceiling")
            app.state.pool = pool
            yield

    app = FastAPI(lifespan=lifespan)

    @app.post("/v1/escalations", status_code=status.HTTP_202_ACCEPTED)
    async def post_escalation(escalation: EscalationIn, request: Request) -> EscalationAccepted:
        receipt = EscalationAccepted(id=uuid4(), status="accepted", received_at=datetime.now(UTC))
        await request.app.state.pool.execute(
            "INSERT INTO bench_ceiling (id, received_at, body) VALUES ($1, $2, $3)",
            receipt.id,
            receipt.received_at,
            escalation.model_dump_json(),
        )
        return receipt

    return app


def main() -> None:
    port, dsn = int(sys.argv[1]), sys.argv[2]
    uvicorn.run(create_app(dsn), host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main()
