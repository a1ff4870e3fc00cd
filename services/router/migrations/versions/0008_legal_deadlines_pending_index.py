"""Index the unresolved cases with a legal deadline, for the periodic check that applies the
rules a deadline drawing near brings (router/deadline_rules.py): without it the check read
every case ever stored, every 15 s.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# services.router.deadline_rules.DEADLINE_PENDING; spelled out so this migration never changes.
DEADLINE_PENDING = "status <> 'resolved' AND legal_deadline IS NOT NULL"


def upgrade() -> None:
    op.create_index(
        "cases_legal_deadline_pending",
        "cases",
        ["legal_deadline"],
        schema="router",
        postgresql_where=sa.text(DEADLINE_PENDING),
    )


def downgrade() -> None:
    op.drop_index("cases_legal_deadline_pending", "cases", schema="router")
