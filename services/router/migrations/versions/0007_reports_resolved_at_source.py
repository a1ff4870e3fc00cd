"""A report records when its source (a partner's tool) resolved it: a case holding reports of
several tools resolves once each has resolved its own, not never.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "case_reports",
        sa.Column("resolved_at_source", sa.DateTime(timezone=True), nullable=True),
        schema="router",
    )


def downgrade() -> None:
    op.drop_column("case_reports", "resolved_at_source", schema="router")
