"""Due deliveries are claimed pages first: the due index leads with whether a delivery is a page.

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
DUE = sa.text("status IN ('pending', 'retrying')")


def upgrade() -> None:
    op.drop_index("deliveries_due", table_name="deliveries", schema=SCHEMA)
    op.create_index(
        "deliveries_due",
        "deliveries",
        [sa.text("(kind <> 'page')"), "next_attempt_at"],
        schema=SCHEMA,
        postgresql_where=DUE,
    )


def downgrade() -> None:
    op.drop_index("deliveries_due", table_name="deliveries", schema=SCHEMA)
    op.create_index(
        "deliveries_due", "deliveries", ["next_attempt_at"], schema=SCHEMA, postgresql_where=DUE
    )
