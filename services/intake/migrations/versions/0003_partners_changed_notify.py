"""Every change to intake.partners NOTIFYs `flare_intake_partners`: intake's key cache listens.

Revision ID: 0003
Revises: 0002
"""

from shared.invalidation import create_change_notification, drop_change_notification

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# services.intake.partners.PARTNERS_CHANGED; spelled out so this migration never changes.
CHANNEL = "flare_intake_partners"


def upgrade() -> None:
    create_change_notification("intake", ["partners"], CHANNEL)


def downgrade() -> None:
    drop_change_notification("intake", ["partners"], CHANNEL)
