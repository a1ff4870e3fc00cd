"""notifier's app: wires settings, database, the case stream reader and the live stream routes."""

from functools import partial

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from services.notifier import api
from services.notifier.consumer import CaseStream
from services.notifier.hub import StreamHub
from services.notifier.settings import NotifierSettings
from shared.db import database_reachable, make_engine
from shared.http import health_router, install_problem_handlers
from shared.kafka import kafka_reachable
from shared.lifecycle import Workers, lifespan
from shared.metrics import instrument


def create_app(settings: NotifierSettings) -> FastAPI:
    registry = CollectorRegistry()
    engine = make_engine(settings.database_url, settings.db_pool_size)
    hub = StreamHub(settings.stream_queue_size, registry)
    stream = CaseStream(settings, hub, registry)
    workers = Workers()

    app = FastAPI(
        title="Flare notifier",
        version="1",
        lifespan=lifespan(
            workers, {"case_stream": stream.loop.run}, [engine.dispose], settings.shutdown_timeout_s
        ),
        description="Live streams of case events for responders.",
    )
    app.state.hub = hub
    install_problem_handlers(app)
    instrument(app, registry)
    app.include_router(
        health_router(
            {
                "postgres": partial(database_reachable, engine),
                "kafka": partial(kafka_reachable, settings.kafka_bootstrap_servers),
                "stream": stream.ready,
            },
            required={"postgres", "kafka", "stream"},
            is_shutting_down=workers.stopping.is_set,
        )
    )
    app.include_router(api.router)
    return app
