"""Scored and assigned cases, their reports and append-only timeline, teams and rotations.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
CASE_COLUMNS: list[sa.Column[object]] = [
    sa.Column("region", sa.Text),
    sa.Column("severity", sa.Text),
    sa.Column("score", sa.Integer),
    sa.Column("team", sa.Text),
    sa.Column("watchers", ARRAY(sa.Text), nullable=False, server_default="{}"),
    sa.Column("assignee", sa.Text),
    sa.Column("report_count", sa.Integer, nullable=False, server_default="1"),
    sa.Column("first_seen_at", TS),
    sa.Column("last_seen_at", TS),
    sa.Column("velocity_per_hour", sa.Float),
    sa.Column("surge", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("sensitive", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("legal_deadline", TS),
    sa.Column("ack_due_at", TS),
    sa.Column("resolve_due_at", TS),
    sa.Column("ack_warned", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("ack_breached", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("resolve_warned", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("resolve_breached", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("acknowledged_at", TS),
    sa.Column("resolved_at", TS),
    sa.Column("resolution_code", sa.Text),
    sa.Column("policy_version", sa.Text),
    sa.Column("explanation", JSONB),
    sa.Column("previous_case_id", sa.Uuid),
    sa.Column("updated_at", TS),
]
APPEND_ONLY = [
    """
CREATE FUNCTION router.timeline_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'router.case_timeline is append-only';
END $$
""",
    """
CREATE TRIGGER case_timeline_append_only BEFORE UPDATE OR DELETE ON router.case_timeline
    FOR EACH ROW EXECUTE FUNCTION router.timeline_is_append_only()
""",
]


def upgrade() -> None:
    for column in CASE_COLUMNS:
        op.add_column("cases", column, schema="router")
    op.create_index("cases_listing", "cases", ["created_at", "id"], schema="router")
    op.create_index("cases_open_by_assignee", "cases", ["assignee", "status"], schema="router")
    op.create_table(
        "case_reports",
        sa.Column("escalation_id", sa.Uuid, primary_key=True),
        sa.Column("case_id", sa.Uuid, sa.ForeignKey("router.cases.id"), nullable=False),
        sa.Column("correlation_key", sa.Text, nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("category", sa.Text, nullable=False),
        sa.Column("region", sa.Text),
        sa.Column("score", sa.Integer, nullable=False),
        sa.Column("severity", sa.Text, nullable=False),
        sa.Column("explanation", JSONB, nullable=False),
        schema="router",
    )
    op.create_index("case_reports_case", "case_reports", ["case_id"], schema="router")
    op.create_index(
        "case_reports_key_time", "case_reports", ["correlation_key", "received_at"], schema="router"
    )
    op.create_index(
        "case_reports_region_category_time",
        "case_reports",
        ["region", "category", "received_at"],
        schema="router",
    )
    op.create_table(
        "case_timeline",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("case_id", sa.Uuid, sa.ForeignKey("router.cases.id"), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("detail", JSONB, nullable=False, server_default="{}"),
        schema="router",
    )
    op.create_index("case_timeline_case", "case_timeline", ["case_id", "id"], schema="router")
    for statement in APPEND_ONLY:
        op.execute(statement)
    op.create_table(
        "emerging_risks",
        sa.Column("region", sa.Text, primary_key=True),
        sa.Column("category", sa.Text, primary_key=True),
        sa.Column("window_start", TS, primary_key=True),
        sa.Column("report_count", sa.Integer, nullable=False),
        sa.Column("detected_at", TS, nullable=False),
        schema="router",
    )
    _create_on_call_tables()


def _create_on_call_tables() -> None:
    op.create_table(
        "teams",
        sa.Column("slug", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False, unique=True),
        sa.Column("timezone", sa.Text, nullable=False),
        schema="router",
    )
    op.create_table(
        "responders",
        sa.Column("handle", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("email", sa.Text),
        schema="router",
    )
    op.create_table(
        "team_members",
        sa.Column("team", sa.Text, sa.ForeignKey("router.teams.slug"), primary_key=True),
        sa.Column(
            "responder", sa.Text, sa.ForeignKey("router.responders.handle"), primary_key=True
        ),
        schema="router",
    )
    op.create_table(
        "rotations",
        sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
        sa.Column("team", sa.Text, sa.ForeignKey("router.teams.slug"), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.UniqueConstraint("team", "name"),
        schema="router",
    )

    def rotation() -> sa.ForeignKey:
        return sa.ForeignKey("router.rotations.id", ondelete="CASCADE")

    op.create_table(
        "rotation_layers",
        sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
        sa.Column("rotation_id", sa.Integer, rotation(), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("timezone", sa.Text, nullable=False),
        sa.Column("handoff", sa.Time, nullable=False),
        sa.Column("shift_days", sa.Integer, sa.CheckConstraint("shift_days > 0"), nullable=False),
        sa.Column("starts_on", sa.Date, nullable=False),
        sa.Column("active_from", sa.Time),
        sa.Column("active_until", sa.Time),
        sa.Column("members", ARRAY(sa.Text), nullable=False),
        schema="router",
    )
    op.create_table(
        "rotation_overrides",
        sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
        sa.Column("rotation_id", sa.Integer, rotation(), nullable=False),
        sa.Column("responder", sa.Text, sa.ForeignKey("router.responders.handle"), nullable=False),
        sa.Column("starts_at", TS, nullable=False),
        sa.Column("ends_at", TS, nullable=False),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.CheckConstraint("ends_at > starts_at"),
        schema="router",
    )


def downgrade() -> None:
    for table in ("rotation_overrides", "rotation_layers", "rotations", "team_members"):
        op.drop_table(table, schema="router")
    for table in ("responders", "teams", "emerging_risks", "case_timeline", "case_reports"):
        op.drop_table(table, schema="router")
    op.execute("DROP FUNCTION router.timeline_is_append_only()")
    op.drop_index("cases_open_by_assignee", "cases", schema="router")
    op.drop_index("cases_listing", "cases", schema="router")
    for column in reversed(CASE_COLUMNS):
        op.drop_column("cases", column.name, schema="router")
