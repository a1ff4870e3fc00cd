"""Seed data: the eleven teams of the design brief, their responders and on-call rotations.

Revision ID: 0003
Revises: 0002
"""

from datetime import date, time

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

MONDAY = date(2026, 1, 5)
# slug, name, time zone, responders (handle, name)
TEAMS = [
    (
        "global-operations",
        "Global Operations",
        "Europe/Dublin",
        [
            ("aoife", "Aoife Byrne"),
            ("conor", "Conor Walsh"),
            ("mei", "Mei Tan"),
            ("ravi", "Ravi Menon"),
            ("sofia", "Sofia Reyes"),
            ("jake", "Jake Miller"),
        ],
    ),
    ("legal", "Legal", "America/New_York", [("dana", "Dana Cohen"), ("omar", "Omar Haddad")]),
    (
        "ip-operations",
        "IP Operations",
        "Europe/Dublin",
        [("niamh", "Niamh Kelly"), ("pierre", "Pierre Laurent")],
    ),
    (
        "public-policy",
        "Public Policy",
        "Europe/Brussels",
        [("lena", "Lena Vogel"), ("marco", "Marco Rossi")],
    ),
    (
        "elections-integrity",
        "Elections Integrity",
        "America/New_York",
        [("grace", "Grace Kim"), ("tunde", "Tunde Adeyemi"), ("ines", "Inês Costa")],
    ),
    (
        "law-enforcement-response",
        "Law Enforcement Response",
        "America/Los_Angeles",
        [("sam", "Sam Ortiz"), ("priya", "Priya Shah")],
    ),
    (
        "communications",
        "Communications",
        "America/Los_Angeles",
        [("hannah", "Hannah Lee"), ("diego", "Diego Alvarez")],
    ),
    (
        "partnerships",
        "Partnerships",
        "Europe/London",
        [("fatima", "Fatima Noor"), ("george", "George Evans")],
    ),
    (
        "ads-commerce-integrity",
        "Ads & Commerce Integrity",
        "Asia/Singapore",
        [("wei", "Wei Lin"), ("arjun", "Arjun Rao")],
    ),
    ("sales", "Sales", "America/New_York", [("kate", "Kate Brown"), ("luis", "Luis Garcia")]),
    (
        "product",
        "Product",
        "America/Los_Angeles",
        [("yuki", "Yuki Sato"), ("noah", "Noah Fischer")],
    ),
]
# Global Operations follows the sun: a Dublin base, Singapore and Los Angeles daytime layers.
FOLLOW_THE_SUN = [
    ("Europe/Dublin", ["aoife", "conor"], None, None),
    ("Asia/Singapore", ["mei", "ravi"], time(8), time(16)),
    ("America/Los_Angeles", ["sofia", "jake"], time(8), time(16)),
]

teams = sa.table(
    "teams", sa.column("slug"), sa.column("name"), sa.column("timezone"), schema="router"
)
responders = sa.table("responders", sa.column("handle"), sa.column("name"), schema="router")
members = sa.table("team_members", sa.column("team"), sa.column("responder"), schema="router")
rotations = sa.table(
    "rotations", sa.column("id"), sa.column("team"), sa.column("name"), schema="router"
)
layers = sa.table(
    "rotation_layers",
    *(
        sa.column(name)
        for name in (
            "rotation_id",
            "position",
            "timezone",
            "handoff",
            "shift_days",
            "starts_on",
            "active_from",
            "active_until",
        )
    ),
    sa.column("members", ARRAY(sa.Text)),
    schema="router",
)


def _layer(
    rotation_id: int,
    position: int,
    zone: str,
    people: list[str],
    active_from: time | None = None,
    active_until: time | None = None,
) -> dict[str, object]:
    return {
        "rotation_id": rotation_id,
        "position": position,
        "timezone": zone,
        "handoff": time(9),
        "shift_days": 7,
        "starts_on": MONDAY,
        "active_from": active_from,
        "active_until": active_until,
        "members": people,
    }


def upgrade() -> None:
    op.bulk_insert(teams, [{"slug": s, "name": n, "timezone": z} for s, n, z, _ in TEAMS])
    op.bulk_insert(
        responders, [{"handle": h, "name": n} for *_, people in TEAMS for h, n in people]
    )
    op.bulk_insert(
        members, [{"team": s, "responder": h} for s, _, _, people in TEAMS for h, _ in people]
    )
    rotation_rows = [
        {"id": i + 1, "team": team[0], "name": "primary"} for i, team in enumerate(TEAMS)
    ]
    op.bulk_insert(rotations, rotation_rows)
    layer_rows = [
        _layer(i + 1, 0, zone, [handle for handle, _ in people])
        for i, (slug, _, zone, people) in enumerate(TEAMS)
        if slug != "global-operations"
    ]
    layer_rows += [
        _layer(1, position, zone, people, start, end)
        for position, (zone, people, start, end) in enumerate(FOLLOW_THE_SUN)
    ]
    op.bulk_insert(layers, layer_rows)
    op.execute("SELECT setval(pg_get_serial_sequence('router.rotations', 'id'), 100)")


def downgrade() -> None:
    for table in (
        "rotation_overrides",
        "rotation_layers",
        "rotations",
        "team_members",
        "responders",
        "teams",
    ):
        op.execute(f"DELETE FROM router.{table}")
