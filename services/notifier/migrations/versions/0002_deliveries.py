"""Subscriptions, the delivery log with its attempts, case views, escalation policies, timers.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None
SCHEMA = "notifier"


def _created_at() -> sa.Column[object]:
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    )


def upgrade() -> None:
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("secret", sa.Text),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("teams", ARRAY(sa.Text), nullable=False, server_default="{}"),
        sa.Column("categories", ARRAY(sa.Text), nullable=False, server_default="{}"),
        sa.Column("event_types", ARRAY(sa.Text), nullable=False, server_default="{}"),
        sa.Column("min_severity", sa.Text),
        sa.Column("created_by", sa.Text, nullable=False),
        _created_at(),
        sa.Column("deleted_at", sa.DateTime(timezone=True)),
        schema=SCHEMA,
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("event_id", sa.Uuid, nullable=False),
        sa.Column("destination", sa.Text, nullable=False),
        sa.Column("subscription_id", sa.Uuid, sa.ForeignKey(f"{SCHEMA}.subscriptions.id")),
        sa.Column("case_id", sa.Uuid, index=True),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("event_type", sa.Text, nullable=False),
        sa.Column("event_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("body", JSONB, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_status_code", sa.Integer),
        sa.Column("last_error", sa.Text),
        sa.Column("delivered_at", sa.DateTime(timezone=True)),
        _created_at(),
        sa.UniqueConstraint("event_id", "destination", name="deliveries_once_per_destination"),
        schema=SCHEMA,
    )
    op.create_index(
        "deliveries_due",
        "deliveries",
        ["next_attempt_at"],
        schema=SCHEMA,
        postgresql_where=sa.text("status IN ('pending', 'retrying')"),
    )
    op.create_table(
        "delivery_attempts",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column(
            "delivery_id",
            sa.Uuid,
            sa.ForeignKey(f"{SCHEMA}.deliveries.id"),
            nullable=False,
            index=True,
        ),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("latency_ms", sa.Float, nullable=False),
        sa.Column("status_code", sa.Integer),
        sa.Column("error", sa.Text),
        sa.Column("outcome", sa.Text, nullable=False),
        schema=SCHEMA,
    )
    op.create_table(
        "case_views",
        sa.Column("case_id", sa.Uuid, primary_key=True),
        sa.Column("snapshot", JSONB, nullable=False),
        sa.Column("last_event_type", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )
    op.create_table(
        "escalation_policies",
        sa.Column("team", sa.Text, primary_key=True),
        sa.Column("policy", JSONB, nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        schema=SCHEMA,
    )
    op.create_table(
        "escalation_timers",
        sa.Column("case_id", sa.Uuid, primary_key=True),
        sa.Column("team", sa.Text, nullable=False),
        sa.Column("severity", sa.Text),
        sa.Column("assignee", sa.Text),
        sa.Column("title", sa.Text),
        sa.Column("next_step", sa.Integer, nullable=False),
        sa.Column("fire_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )
    op.create_index(
        "escalation_timers_due",
        "escalation_timers",
        ["fire_at"],
        schema=SCHEMA,
        postgresql_where=sa.text("state = 'pending'"),
    )


def downgrade() -> None:
    for table in (
        "escalation_timers",
        "escalation_policies",
        "case_views",
        "delivery_attempts",
        "deliveries",
        "subscriptions",
    ):
        op.drop_table(table, schema=SCHEMA)
