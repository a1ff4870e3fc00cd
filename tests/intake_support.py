"""Helpers for intake's tests: partners with keys, and requests that read like a partner's."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
from fastapi import FastAPI

from services.intake.app import create_app
from services.intake.partners import NewKey, create_partner
from services.intake.schemas import EXAMPLE_ESCALATION
from services.intake.settings import IntakeSettings
from shared.db import make_engine, make_sessions
from shared.events import ReporterType
from tests.conftest import FlareEnv
from tests.integration.conftest import running

# EXAMPLE_ESCALATION's reporter type: a partner posting it must have this type.
FLAGGER = ReporterType.TRUSTED_FLAGGER


async def new_partner(
    env: FlareEnv,
    name: str = "safenet",
    reporter_type: ReporterType = FLAGGER,
    rate_limit_per_minute: int = 10_000,
) -> NewKey:
    engine = make_engine(env.database_url, pool_size=1)
    try:
        return await create_partner(
            make_sessions(engine), name, reporter_type, rate_limit_per_minute
        )
    finally:
        await engine.dispose()


def bearer(key: NewKey) -> dict[str, str]:
    return {"Authorization": f"Bearer {key.api_key}"}


@dataclass
class PartnerClient:
    """One partner's view of intake: every call carries its key."""

    http: httpx.AsyncClient
    key: NewKey

    async def post(self, body: object = EXAMPLE_ESCALATION, **headers: str) -> httpx.Response:
        return await self.http.post(
            "/v1/escalations", json=body, headers={**bearer(self.key), **headers}
        )

    async def get(self, escalation_id: str) -> httpx.Response:
        return await self.http.get(f"/v1/escalations/{escalation_id}", headers=bearer(self.key))


def intake_app(env: FlareEnv, **overrides: object) -> FastAPI:
    return create_app(env.settings(IntakeSettings, **overrides))


@asynccontextmanager
async def partner_session(
    env: FlareEnv, name: str = "safenet", **overrides: object
) -> AsyncIterator[PartnerClient]:
    """intake running in-process with one partner (trusted flagger) ready to post."""
    key = await new_partner(env, name)
    async with running(intake_app(env, **overrides)) as http:
        yield PartnerClient(http, key)
