"""Each report's evidence links, kept for the console's content-warned evidence view.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "case_reports",
        sa.Column("evidence", JSONB, nullable=False, server_default="[]"),
        schema="router",
    )


def downgrade() -> None:
    op.drop_column("case_reports", "evidence", schema="router")
