"""router's app: the escalation consumer and the outbox relay, in the shared frame."""

from fastapi import FastAPI

from services.router.consumer import escalation_consumer
from services.router.models import outbox
from services.router.settings import RouterSettings
from shared.app import Plumbing
from shared.kafka import EventProducer


def create_app(settings: RouterSettings) -> FastAPI:
    plumbing = Plumbing(settings)
    producer = EventProducer(settings.kafka_bootstrap_servers, client_id="flare-router")
    relay = plumbing.relay(outbox, producer)
    consumer = escalation_consumer(settings, plumbing.sessions, relay, producer, plumbing.registry)
    return plumbing.app(
        title="Flare router",
        description="Cases: severity, assignment and the responders' actions.",
        jobs={"escalation_consumer": consumer.run, "outbox_relay": relay.run},
        closers=[producer.stop],
        required={"postgres", "kafka"},
    )
