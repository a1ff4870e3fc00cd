"""Helpers for the router's integration tests: received events, and the router run in-process."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.router.app import create_app
from services.router.policy import Policy
from services.router.policy_store import load_policy_file
from services.router.service import handle_events
from services.router.settings import DEFAULT_POLICY, RouterSettings
from services.router.teams import Rotations, rotations_cache
from shared.auth import Role, mint_token
from shared.db import make_engine, make_sessions
from shared.events import EARLIEST, Escalation, EscalationReceived, EventType
from shared.kafka import Envelope
from tests.conftest import FlareEnv
from tests.integration.conftest import running

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
# Inside the default policy's US election window; a Monday, after every seeded rotation began.
T0 = datetime(2026, 10, 12, 12, 0, tzinfo=UTC)
POLICY: Policy = load_policy_file(DEFAULT_POLICY)


def escalation(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "category": "crisis",
        "title": "Live-streamed violence spreading in reshares",
        "description": "A live video showing an ongoing attack is being reshared widely.",
        "product": "facebook",
        "reporter": {"type": "trusted_flagger", "name": "SafeNet Monitoring"},
        "dedup_key": "video:123",
    }
    return body | fields


def received(
    body: dict[str, Any] | None = None, at: datetime = T0, escalation_id: UUID | None = None
) -> Envelope:
    report = Escalation.model_validate(body or escalation())
    escalation_id = escalation_id or uuid4()
    event = EscalationReceived(
        escalation_id=escalation_id,
        received_at=at,
        correlation_key=report.correlation_key(escalation_id),
        escalation=report,
    )
    return Envelope.new(EventType.ESCALATION_RECEIVED, "/flare/intake", event, TRACEPARENT)


@asynccontextmanager
async def router_sessions(env: FlareEnv) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(env.database_url)
    try:
        yield make_sessions(engine)
    finally:
        await engine.dispose()


# Earlier than every report: each is handled as of its own receipt, as with no consumer lag.
NO_LAG = EARLIEST


async def handle_all(
    env: FlareEnv, *events: Envelope, policy: Policy = POLICY, now: datetime = NO_LAG
) -> list[UUID | None]:
    """Each event in a transaction of its own; the case it opened or joined, None if none."""
    async with router_sessions(env) as sessions:
        changed = [
            await handle_events(sessions, env.topics, policy, uncached(), [event], now)
            for event in events
        ]
    return [case_ids[0] if case_ids else None for case_ids in changed]


async def handle_poll(
    env: FlareEnv, *events: Envelope, policy: Policy = POLICY
) -> list[UUID | None]:
    """The events as one poll: one transaction; the case each opened or joined, as handle_all."""
    async with router_sessions(env) as sessions:
        changed = await handle_events(sessions, env.topics, policy, uncached(), events, NO_LAG)
    return list(changed)


def uncached() -> Rotations:
    """A rotations cache without its listener: it keeps nothing, each pick reads the database."""
    return rotations_cache(CollectorRegistry())


def every(minutes: float, count: int, start: datetime = T0) -> list[datetime]:
    return [start + timedelta(minutes=minutes * index) for index in range(count)]


def bearer(
    settings: RouterSettings, subject: str = "ana", role: Role = Role.RESPONDER
) -> dict[str, str]:
    token = mint_token(settings.jwt_secret, subject, role, timedelta(minutes=10))
    return {"Authorization": f"Bearer {token}"}


@asynccontextmanager
async def router_app(
    env: FlareEnv, **overrides: object
) -> AsyncIterator[tuple[httpx.AsyncClient, RouterSettings]]:
    settings = env.settings(RouterSettings, **overrides)
    async with running(create_app(settings)) as client:
        yield client, settings
