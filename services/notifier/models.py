"""notifier's tables (schema `notifier`): subscriptions, deliveries, case views, escalation."""

from pathlib import Path

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    func,
    literal_column,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData(schema="notifier")
# This schema's migrations: `migrate` applies them; the app waits for them (shared.db.SchemaGate).
MIGRATIONS = Path(__file__).parent / "migrations"


def _now() -> Column[object]:
    return Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now())


subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("channel", Text, nullable=False),  # webhook | chat | email
    Column("target", Text, nullable=False),  # a URL, or an email address
    Column("secret", Text),  # Standard Webhooks signing secret (webhook channel only)
    Column("description", Text, nullable=False, server_default=""),
    Column("teams", ARRAY(Text), nullable=False, server_default="{}"),
    Column("categories", ARRAY(Text), nullable=False, server_default="{}"),
    Column("event_types", ARRAY(Text), nullable=False, server_default="{}"),
    Column("min_severity", Text),
    Column("created_by", Text, nullable=False),
    _now(),
    Column("deleted_at", DateTime(timezone=True)),
)

# One row per (event, destination): the unique key is what makes a redelivered event or a
# restart send nothing twice. `destination` is "subscription:<id>" or a page's target.
deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("event_id", Uuid, nullable=False),
    Column("destination", Text, nullable=False),
    Column("subscription_id", Uuid, ForeignKey("notifier.subscriptions.id")),
    Column("case_id", Uuid, index=True),
    Column("kind", Text, nullable=False),  # subscription | page
    Column("channel", Text, nullable=False),
    Column("target", Text, nullable=False),
    Column("event_type", Text, nullable=False),
    Column("event_time", DateTime(timezone=True), nullable=False),
    Column("body", JSONB, nullable=False),  # rendered once, so every retry sends the same bytes
    Column("status", Text, nullable=False),  # pending | retrying | delivered | dead | cancelled
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("last_status_code", Integer),
    Column("last_error", Text),
    Column("delivered_at", DateTime(timezone=True)),
    # A page's timer round (the timer's `started_at` when it queued the page); None for a
    # subscription's delivery. A page of a round the timer has left is not sent.
    Column("round_started_at", DateTime(timezone=True)),
    _now(),
    UniqueConstraint("event_id", "destination", name="deliveries_once_per_destination"),
)

delivery_attempts = Table(
    "delivery_attempts",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("delivery_id", Uuid, ForeignKey("notifier.deliveries.id"), nullable=False, index=True),
    Column("attempt", Integer, nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("latency_ms", Float, nullable=False),
    Column("status_code", Integer),
    Column("error", Text),
    Column("outcome", Text, nullable=False),  # delivered | failed
)

# The latest snapshot of every case seen on the topic: what the console shows behind a link.
case_views = Table(
    "case_views",
    metadata,
    Column("case_id", Uuid, primary_key=True),
    Column("snapshot", JSONB, nullable=False),
    Column("last_event_type", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

escalation_policies = Table(
    "escalation_policies",
    metadata,
    Column("team", Text, primary_key=True),
    Column("policy", JSONB, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# One timer per case: the next escalation step and when it fires. `state` leaves `pending`
# for good on acknowledge or resolve (stopped) or after the last step (done).
escalation_timers = Table(
    "escalation_timers",
    metadata,
    Column("case_id", Uuid, primary_key=True),
    Column("team", Text, nullable=False),
    Column("severity", Text),
    Column("assignee", Text),
    Column("title", Text),  # None when the case is sensitive: pages then carry no title
    Column("next_step", Integer, nullable=False),
    Column("fire_at", DateTime(timezone=True), nullable=False),
    Column("state", Text, nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
)

# The partial indexes' predicates, for every statement that selects those rows. They are SQL
# literals, not bound parameters: PostgreSQL puts a partial index in a prepared statement's
# reusable (generic) plan only when the statement's own text implies the index's predicate.
# With the values bound, the generic plan could only scan and sort the whole table, so every
# delivery claim and every timer poll was planned anew, each time it ran.
DELIVERY_DUE = deliveries.c.status.in_([literal_column("'pending'"), literal_column("'retrying'")])
TIMER_PENDING = escalation_timers.c.state == literal_column("'pending'")
Index("deliveries_due", deliveries.c.next_attempt_at, postgresql_where=DELIVERY_DUE)
# Due pages are claimed before the subscriptions' deliveries, from an index of their own: a
# page wakes a responder, and a backlog of webhooks to a target that hangs must not hold it up
# (ADR 0016, migration 0005).
IS_A_PAGE = deliveries.c.kind == literal_column("'page'")
Index(
    "deliveries_due_pages", deliveries.c.next_attempt_at, postgresql_where=DELIVERY_DUE & IS_A_PAGE
)
Index("escalation_timers_due", escalation_timers.c.fire_at, postgresql_where=TIMER_PENDING)

# The first start of the shared delivery consumer. Case events from before it, older than
# FLARE_DELIVERY_MAX_EVENT_AGE_S, are history: they raise no deliveries or pages. Events
# after it always do, however late they are handled (say, after a notifier outage).
delivery_epoch = Table(
    "delivery_epoch",
    metadata,
    Column("name", Text, primary_key=True),
    Column("started_at", DateTime(timezone=True), nullable=False),
)
