"""The frame every service's app is built in: database, metrics, health, problem+json, lifespan,
the request body limit."""

import asyncio
import threading
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from sqlalchemy import MetaData, Table
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared.body_limit import BodyLimit, document_body_limit
from shared.db import SchemaGate, database_reachable, make_engine, make_sessions
from shared.http import Check, health_router, install_problem_handlers
from shared.invalidation import InvalidatedCache, InvalidationListener
from shared.kafka import EventProducer, kafka_reachable
from shared.lifecycle import Closer, Worker, Workers, lifespan
from shared.metrics import instrument
from shared.outbox import OutboxRelay
from shared.settings import FlareSettings, ResponderAuthSettings
from shared.tracing import trace_requests


class Plumbing:
    """What every service has: one registry, one engine, one session factory, one set of workers."""

    def __init__(self, settings: FlareSettings, metadata: MetaData, migrations: Path) -> None:
        self.settings = settings
        self.registry = CollectorRegistry()
        self.engine: AsyncEngine = make_engine(settings.database_url, settings.db_pool_size)
        self.sessions: async_sessionmaker[AsyncSession] = make_sessions(self.engine)
        self.workers = Workers()
        self.schema = SchemaGate(self.engine, metadata, migrations)

    def relay(self, outbox: Table, producer: EventProducer) -> OutboxRelay:
        return OutboxRelay(
            self.sessions,
            outbox,
            producer,
            self.registry,
            self.settings.relay_batch_size,
            self.settings.relay_poll_interval_s,
        )

    def invalidation(
        self, service: str, channel: str, cache: InvalidatedCache[Any, Any]
    ) -> InvalidationListener:
        """The worker that empties `cache` whenever `channel` is NOTIFYed (ADR 0011)."""
        return InvalidationListener(
            self.settings.database_url,
            channel,
            cache,
            application_name=f"flare-{service}-invalidation",
        )

    def app(
        self,
        *,
        title: str,
        description: str,
        jobs: Mapping[str, Worker],
        closers: Sequence[Closer] = (),
        required: set[str],
        extra_checks: Mapping[str, Check] | None = None,
    ) -> FastAPI:
        """The FastAPI app with the lifespan running `jobs` once the schema has this code's
        migrations; `closers` run before the engine is disposed. `/readyz` fails only on the
        checks named in `required`, and while the schema lacks those migrations."""
        settings = self.settings
        gated = {name: self._after_migrations(job) for name, job in jobs.items()}
        app = FastAPI(
            title=title,
            version="1",
            description=description,
            lifespan=lifespan(
                self.workers, gated, [*closers, self.engine.dispose], settings.shutdown_timeout_s
            ),
            # Our request spans and metrics are TraceRequests and ObserveResponses. FastAPI's own
            # would record every request a second time once a global OpenTelemetry provider or
            # its FASTAPI_OTEL_AUTO_CONFIGURE is set, and asks for the providers on every request.
            telemetry={"tracing": False, "metrics": False, "logs": False},
        )
        if isinstance(settings, ResponderAuthSettings):
            app.state.jwt_secret = settings.jwt_secret  # read by shared.auth.require_role
        install_problem_handlers(app)
        # Added first, so innermost: request metrics and traces see its 413s too.
        app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
        document_body_limit(app, settings.max_body_bytes)
        instrument(app, self.registry)
        trace_requests(app)
        checks: dict[str, Check] = {
            "postgres": partial(database_reachable, self.engine),
            "kafka": partial(kafka_reachable, settings.kafka),
            "schema": self.schema.check,
            **(extra_checks or {}),
        }
        # Set by the first SIGTERM (shared.http.serve); /readyz reports unready from then on.
        app.state.draining = threading.Event()
        # Called when the server stops: responses that never finish on their own (live streams)
        # end then, instead of holding the graceful stop for its whole timeout.
        app.state.on_server_stop = []
        app.include_router(health_router(checks, required | {"schema"}, app.state.draining.is_set))
        return app

    def _after_migrations(self, job: Worker) -> Worker:
        async def run(stopping: asyncio.Event) -> None:
            if await self.schema.wait(stopping):
                await job(stopping)

        return run
