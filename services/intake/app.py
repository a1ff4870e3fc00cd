"""intake's app: wires settings, database, outbox relay and routes; the lifespan owns the relay."""

from functools import partial

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from services.intake import api
from services.intake.models import outbox
from services.intake.settings import IntakeSettings
from shared.db import database_reachable, make_engine, make_sessions
from shared.http import health_router, install_problem_handlers
from shared.kafka import EventProducer, kafka_reachable
from shared.lifecycle import Workers, lifespan
from shared.metrics import instrument
from shared.outbox import OutboxRelay


def create_app(settings: IntakeSettings) -> FastAPI:
    registry = CollectorRegistry()
    engine = make_engine(settings.database_url, settings.db_pool_size)
    sessions = make_sessions(engine)
    producer = EventProducer(settings.kafka_bootstrap_servers, client_id="flare-intake")
    relay = OutboxRelay(
        sessions,
        outbox,
        producer,
        registry,
        settings.relay_batch_size,
        settings.relay_poll_interval_s,
    )
    workers = Workers()

    app = FastAPI(
        title="Flare intake",
        version="1",
        lifespan=lifespan(
            workers,
            {"outbox_relay": relay.run},
            [producer.stop, engine.dispose],
            settings.shutdown_timeout_s,
        ),
        description="The partners' door: report escalations to Flare.",
    )
    app.state.intake = api.Intake(settings=settings, sessions=sessions, relay=relay)
    install_problem_handlers(app)
    instrument(app, registry)
    # Kafka is reported but not required: while it is down intake still stores and accepts.
    app.include_router(
        health_router(
            {
                "postgres": partial(database_reachable, engine),
                "kafka": partial(kafka_reachable, settings.kafka_bootstrap_servers),
            },
            required={"postgres"},
            is_shutting_down=workers.stopping.is_set,
        )
    )
    app.include_router(api.router)
    return app
