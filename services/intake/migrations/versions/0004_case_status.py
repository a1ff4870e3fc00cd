"""A report records its case's status: a tool's alert whose case Flare resolved is not open
any more, so the tool's next trigger for it opens a new case instead of being a repeat.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None
SCHEMA = "intake"


def upgrade() -> None:
    op.add_column("escalations", sa.Column("case_status", sa.Text, nullable=True), schema=SCHEMA)


def downgrade() -> None:
    op.drop_column("escalations", "case_status", schema=SCHEMA)
