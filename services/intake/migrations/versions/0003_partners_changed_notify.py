"""Every change to intake.partners NOTIFYs `flare_intake_partners`: intake's key cache listens.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# services.intake.partners.PARTNERS_CHANGED; spelled out so this migration never changes.
CHANNEL = "flare_intake_partners"


def upgrade() -> None:
    op.execute(f"""
        CREATE FUNCTION intake.notify_partners_changed() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('{CHANNEL}', '');
            RETURN NULL;
        END
        $$
    """)
    # Once per statement, not per row: a listener only needs to know that something changed.
    # INSERT too, though a new row cannot make a cached key wrong (only found keys are
    # cached): partners are created rarely, and "every change notifies" has no exception to
    # remember. NOTIFY is sent at commit, and only if the transaction commits.
    op.execute("""
        CREATE TRIGGER partners_changed
        AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON intake.partners
        FOR EACH STATEMENT EXECUTE FUNCTION intake.notify_partners_changed()
    """)


def downgrade() -> None:
    op.execute("DROP TRIGGER partners_changed ON intake.partners")
    op.execute("DROP FUNCTION intake.notify_partners_changed()")
