"""intake's app: the outbox relay and the partner routes, in the shared frame."""

from fastapi import FastAPI

from services.intake import api
from services.intake.models import outbox
from services.intake.settings import IntakeSettings
from shared.app import Plumbing
from shared.kafka import EventProducer


def create_app(settings: IntakeSettings) -> FastAPI:
    plumbing = Plumbing(settings)
    producer = EventProducer(settings.kafka_bootstrap_servers, client_id="flare-intake")
    relay = plumbing.relay(outbox, producer)
    app = plumbing.app(
        title="Flare intake",
        description="The partners' door: report escalations to Flare.",
        # Kafka may be down at start: the relay keeps trying while intake accepts reports.
        jobs={"outbox_relay": relay.run},
        closers=[producer.stop],
        # Kafka is reported but not required: while it is down intake still stores and accepts.
        required={"postgres"},
    )
    app.state.intake = api.Intake(settings=settings, sessions=plumbing.sessions, relay=relay)
    app.include_router(api.router)
    return app
