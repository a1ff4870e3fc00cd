"""Due pages are claimed first, from an index of their own (ADR 0016).

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None
SCHEMA = "notifier"


def upgrade() -> None:
    op.create_index(
        "deliveries_due_pages",
        "deliveries",
        ["next_attempt_at"],
        schema=SCHEMA,
        postgresql_where=sa.text("status IN ('pending', 'retrying') AND kind = 'page'"),
    )


def downgrade() -> None:
    op.drop_index("deliveries_due_pages", table_name="deliveries", schema=SCHEMA)
