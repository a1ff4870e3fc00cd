"""notifier's app: live streams, the delivery consumer, senders and timers, in the shared frame."""

from fastapi import FastAPI

from services.notifier import api
from services.notifier.consumer import CaseStream, delivery_consumer
from services.notifier.delivery_worker import DeliveryWorker
from services.notifier.hub import StreamHub
from services.notifier.models import MIGRATIONS, metadata
from services.notifier.senders import Senders
from services.notifier.service import DESTINATIONS_CHANGED, destinations_cache
from services.notifier.settings import NotifierSettings
from services.notifier.timers import TimerWorker
from shared.app import Plumbing
from shared.kafka import EventProducer


def create_app(settings: NotifierSettings) -> FastAPI:
    plumbing = Plumbing(settings, metadata, MIGRATIONS)
    registry = plumbing.registry
    hub = StreamHub(settings.stream_queue_size, settings.stream_replay_size, registry)
    stream = CaseStream(settings, hub, registry)
    senders = Senders(settings)
    worker = DeliveryWorker(plumbing.engine, senders, settings, registry)
    timers = TimerWorker(plumbing.sessions, settings, registry, worker.wake)
    dead_letters = EventProducer(settings.kafka, "flare-notifier-dlq")
    # Subscriptions and escalation policies; emptied whenever they change anywhere (ADR 0011).
    destinations = destinations_cache(registry)
    destination_changes = plumbing.invalidation("notifier", DESTINATIONS_CHANGED, destinations)
    consumer = delivery_consumer(
        settings, plumbing.sessions, dead_letters, worker.wake, timers.wake, destinations, registry
    )
    app = plumbing.app(
        title="Flare notifier",
        description="Live streams, signed webhooks, chat and email, escalation until acknowledged.",
        jobs={
            "case_stream": stream.loop.run,
            "delivery_consumer": consumer.run,
            "delivery_worker": worker.run,
            "escalation_timers": timers.run,
            "destination_invalidation": destination_changes.run,
        },
        closers=[dead_letters.stop, senders.close],
        required={"postgres", "kafka", "stream"},
        extra_checks={"stream": stream.ready},
    )
    app.state.settings = settings
    app.state.hub = hub
    app.state.on_server_stop.append(hub.close)
    app.state.sessions = plumbing.sessions
    app.state.senders = senders
    app.state.wake_deliveries = worker.wake
    app.state.destinations = destinations
    app.include_router(api.streams)
    app.include_router(api.router)
    app.include_router(api.console)
    return app
