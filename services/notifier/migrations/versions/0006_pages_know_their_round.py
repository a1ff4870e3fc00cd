"""A page records the start of the timer round that queued it: a page of a round its case's
timer has left (the case moved to another team) is cancelled when claimed.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None
SCHEMA = "notifier"


def upgrade() -> None:
    op.add_column(
        "deliveries",
        sa.Column("round_started_at", sa.DateTime(timezone=True), nullable=True),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_column("deliveries", "round_started_at", schema=SCHEMA)
