"""intake's app: outbox relay, status consumer and partner routes, in the shared frame."""

from fastapi import FastAPI

from services.intake import api, integrations_api
from services.intake.consumer import status_consumer
from services.intake.metrics import count_outcomes
from services.intake.models import MIGRATIONS, IdempotencyKey, metadata, outbox
from services.intake.partners import PARTNERS_CHANGED, Partner
from services.intake.ratelimit import RateLimiter
from services.intake.settings import IntakeSettings
from shared.app import Plumbing
from shared.db import pruner
from shared.group_commit import GroupCommit
from shared.invalidation import InvalidatedCache
from shared.kafka import EventProducer


def create_app(settings: IntakeSettings) -> FastAPI:
    plumbing = Plumbing(settings, metadata, MIGRATIONS)
    producer = EventProducer(settings.kafka, client_id="flare-intake")
    relay = plumbing.relay(outbox, producer)
    statuses = status_consumer(settings, plumbing.sessions, plumbing.registry)
    # Keys by hash; emptied whenever intake.partners changes anywhere (ADR 0011).
    partner_keys = InvalidatedCache[str, Partner]("intake_partner_key", plumbing.registry)
    partner_changes = plumbing.invalidation("intake", PARTNERS_CHANGED, partner_keys)
    app = plumbing.app(
        title="Flare intake",
        description=(
            "The partners' door: report escalations to Flare. Every call takes "
            "`Authorization: Bearer <partner API key>` (PagerDuty's `/v2/enqueue` takes the key "
            "as `routing_key`). Errors are `application/problem+json` (RFC 9457)."
        ),
        # Kafka may be down at start: the relay keeps trying while intake accepts reports.
        jobs={
            "outbox_relay": relay.run,
            "status_consumer": statuses.run,
            "partner_key_invalidation": partner_changes.run,
            # Keys past their TTL answer nothing any more: their rows can go.
            "idempotency_pruner": pruner(
                plumbing.sessions, IdempotencyKey.created_at, settings.idempotency_ttl
            ),
        },
        closers=[producer.stop],
        # Reported, not required. While Kafka is down intake still stores and accepts (ADR 0002).
        # While PostgreSQL is down it answers 503 with Retry-After itself (DESIGN, guarantee 2):
        # unready, every replica would leave the Service and partners would get the load
        # balancer's bare 503 instead. A replica that has never seen its schema is unready.
        required=set(),
    )
    app.state.intake = api.Intake(
        settings=settings,
        sessions=plumbing.sessions,
        group_commit=GroupCommit(plumbing.sessions),
        relay=relay,
        limiter=RateLimiter(),
        partner_keys=partner_keys,
    )
    # Outside the body limit (installed by Plumbing.app), so its 413s are counted too.
    count_outcomes(app, plumbing.registry)
    app.include_router(api.partner_router)
    app.include_router(integrations_api.integration_router)
    return app
