"""Partners and their hashed keys, idempotency keys, and where each escalation is.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "partners",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("name", sa.Text, nullable=False, unique=True),
        sa.Column("reporter_type", sa.Text, nullable=False),
        # SHA-256 of the API key: keys are 256-bit random, so a fast hash is enough.
        sa.Column("key_hash", sa.Text, nullable=False, unique=True),
        sa.Column("rate_limit_per_minute", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key_rotated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("disabled_at", sa.DateTime(timezone=True)),
        schema="intake",
    )
    for name, column_type in (
        ("partner_id", sa.Uuid),
        ("dedup_key", sa.Text),
        ("case_id", sa.Uuid),
        ("severity", sa.Text),
        ("score", sa.Integer),
        ("team", sa.Text),
        ("watchers", JSONB),
        ("routed_at", sa.DateTime(timezone=True)),
        ("source_status", sa.Text),
    ):
        op.add_column("escalations", sa.Column(name, column_type), schema="intake")
    op.create_foreign_key(
        "escalations_partner_id_fkey",
        "escalations",
        "partners",
        ["partner_id"],
        ["id"],
        source_schema="intake",
        referent_schema="intake",
    )
    op.create_index(
        "escalations_partner_dedup_key", "escalations", ["partner_id", "dedup_key"], schema="intake"
    )
    op.create_index("escalations_case_id", "escalations", ["case_id"], schema="intake")
    op.create_table(
        "idempotency_keys",
        sa.Column("partner_id", sa.Uuid, sa.ForeignKey("intake.partners.id"), primary_key=True),
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("request_hash", sa.Text, nullable=False),
        sa.Column("escalation_id", sa.Uuid, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        schema="intake",
    )


def downgrade() -> None:
    op.drop_table("idempotency_keys", schema="intake")
    op.drop_index("escalations_case_id", "escalations", schema="intake")
    op.drop_index("escalations_partner_dedup_key", "escalations", schema="intake")
    op.drop_constraint("escalations_partner_id_fkey", "escalations", schema="intake")
    for name in (
        "source_status",
        "routed_at",
        "watchers",
        "team",
        "score",
        "severity",
        "case_id",
        "dedup_key",
        "partner_id",
    ):
        op.drop_column("escalations", name, schema="intake")
    op.drop_table("partners", schema="intake")
