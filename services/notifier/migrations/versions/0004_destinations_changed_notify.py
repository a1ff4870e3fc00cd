"""Every change to subscriptions and escalation policies NOTIFYs `flare_notifier_destinations`:
the notifier's destinations cache listens.

Revision ID: 0004
Revises: 0003
"""

from shared.invalidation import create_change_notification, drop_change_notification

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# services.notifier.service.DESTINATIONS_CHANGED; spelled out so this migration never changes.
CHANNEL = "flare_notifier_destinations"
TABLES = ["subscriptions", "escalation_policies"]


def upgrade() -> None:
    create_change_notification("notifier", TABLES, CHANNEL)


def downgrade() -> None:
    drop_change_notification("notifier", TABLES, CHANNEL)
