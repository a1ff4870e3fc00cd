"""When the shared delivery consumer first ran: the line between history and news.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "delivery_epoch",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        schema="notifier",
    )


def downgrade() -> None:
    op.drop_table("delivery_epoch", schema="notifier")
