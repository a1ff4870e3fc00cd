"""Every change to teams and rotations NOTIFYs `flare_router_rotations`: the router's on-call
cache listens.

Revision ID: 0005
Revises: 0004
"""

from shared.invalidation import create_change_notification, drop_change_notification

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# services.router.teams.ROTATIONS_CHANGED; spelled out so this migration never changes.
CHANNEL = "flare_router_rotations"
TABLES = ["teams", "rotations", "rotation_layers", "rotation_overrides"]


def upgrade() -> None:
    create_change_notification("router", TABLES, CHANNEL)


def downgrade() -> None:
    drop_change_notification("router", TABLES, CHANNEL)
