"""router's app: wires settings, database, the escalation consumer and the outbox relay."""

from functools import partial

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from services.router.consumer import escalation_consumer
from services.router.models import outbox
from services.router.settings import RouterSettings
from shared.db import database_reachable, make_engine, make_sessions
from shared.http import health_router, install_problem_handlers
from shared.kafka import EventProducer, kafka_reachable
from shared.lifecycle import Workers, lifespan
from shared.metrics import instrument
from shared.outbox import OutboxRelay


def create_app(settings: RouterSettings) -> FastAPI:
    registry = CollectorRegistry()
    engine = make_engine(settings.database_url, settings.db_pool_size)
    sessions = make_sessions(engine)
    producer = EventProducer(settings.kafka_bootstrap_servers, client_id="flare-router")
    relay = OutboxRelay(
        sessions,
        outbox,
        producer,
        registry,
        settings.relay_batch_size,
        settings.relay_poll_interval_s,
    )
    consumer = escalation_consumer(settings, sessions, relay, producer, registry)
    workers = Workers()

    app = FastAPI(
        title="Flare router",
        version="1",
        lifespan=lifespan(
            workers,
            {"escalation_consumer": consumer.run, "outbox_relay": relay.run},
            [producer.stop, engine.dispose],
            settings.shutdown_timeout_s,
        ),
        description="Cases: severity, assignment and the responders' actions.",
    )
    install_problem_handlers(app)
    instrument(app, registry)
    app.include_router(
        health_router(
            {
                "postgres": partial(database_reachable, engine),
                "kafka": partial(kafka_reachable, settings.kafka_bootstrap_servers),
            },
            required={"postgres", "kafka"},
            is_shutting_down=workers.stopping.is_set,
        )
    )
    return app
