"""Escalations as received, and the outbox.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from shared.outbox import create_outbox_table

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "escalations",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("category", sa.Text, nullable=False),
        sa.Column("correlation_key", sa.Text, nullable=False),
        sa.Column("body", JSONB, nullable=False),
        schema="intake",
    )
    create_outbox_table("intake")


def downgrade() -> None:
    op.drop_table("outbox", schema="intake")
    op.drop_table("escalations", schema="intake")
