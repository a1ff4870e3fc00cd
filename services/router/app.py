"""router's app: the escalation consumer, SLA check, policy reload and outbox relay, and the API."""

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from services.router.api import build_router
from services.router.consumer import escalation_consumer
from services.router.models import MIGRATIONS, ProcessedEvent, metadata, outbox
from services.router.policy_store import PolicyStore
from services.router.settings import RouterSettings
from services.router.sla_check import sla_worker
from services.router.teams import ROTATIONS_CHANGED, rotations_cache
from shared.app import Plumbing
from shared.db import pruner
from shared.kafka import EventProducer


def create_app(settings: RouterSettings) -> FastAPI:
    """The policy file must be valid at start; later bad edits are refused and logged."""
    plumbing = Plumbing(settings, metadata, MIGRATIONS)
    policies = PolicyStore(settings.policy_path, plumbing.registry)
    producer = EventProducer(settings.kafka, client_id="flare-router")
    relay = plumbing.relay(outbox, producer)
    # On-call rotations by team; emptied whenever teams or rotations change anywhere (ADR 0011).
    rotations = rotations_cache(plumbing.registry)
    rotation_changes = plumbing.invalidation("router", ROTATIONS_CHANGED, rotations)
    consumer = escalation_consumer(
        settings, plumbing.sessions, policies, rotations, relay, producer, plumbing.registry
    )
    sla = sla_worker(
        plumbing.sessions,
        settings.topics,
        lambda: policies.current,
        settings.sla_check_interval_s,
        relay.wake,
    )
    app = plumbing.app(
        title="Flare router",
        description="Cases: severity, assignment and the responders' actions.",
        jobs={
            "escalation_consumer": consumer.run,
            "outbox_relay": relay.run,
            "rotation_invalidation": rotation_changes.run,
            "sla_check": sla,
            "policy_reload": lambda stopping: policies.watch(
                stopping, settings.policy_reload_interval_s
            ),
            "processed_events_pruner": pruner(
                plumbing.sessions, ProcessedEvent.processed_at, settings.processed_events_keep
            ),
        },
        closers=[producer.stop],
        required={"postgres", "kafka"},
    )
    app.state.policies = policies
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_allowed_origins,
        allow_methods=["GET", "POST"],
        allow_headers=["authorization", "content-type", "accept"],
        max_age=600,
    )
    app.include_router(build_router(plumbing.sessions, settings.topics, relay.wake, rotations))
    return app
