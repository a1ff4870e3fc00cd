"""Teams, responders and rotations: who is on call (from Postgres) and the admin changes."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from prometheus_client import CollectorRegistry
from sqlalchemy import func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.router.assignment import pick_least_loaded
from services.router.errors import InvalidRotation, UnknownResponder, UnknownTeam
from services.router.models import (
    Case,
    LayerRow,
    OverrideRow,
    Responder,
    RotationRow,
    Team,
    TeamMember,
)
from services.router.rotations import Layer, Override, Rotation, team_on_call
from shared.invalidation import InvalidatedCache
from shared.logging import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class TeamView:
    slug: str
    name: str
    timezone: str
    members: list[str]


async def list_teams(session: AsyncSession) -> list[TeamView]:
    teams = (await session.scalars(select(Team).order_by(Team.slug))).all()
    rows = (await session.execute(select(TeamMember.team, TeamMember.responder))).all()
    members: dict[str, list[str]] = {}
    for team, responder in sorted(rows):
        members.setdefault(team, []).append(responder)
    return [TeamView(t.slug, t.name, t.timezone, members.get(t.slug, [])) for t in teams]


async def load_rotations(session: AsyncSession, team: str) -> list[Rotation]:
    rotations = (
        await session.scalars(
            select(RotationRow).where(RotationRow.team == team).order_by(RotationRow.id)
        )
    ).all()
    result = []
    for rotation in rotations:
        layers = await session.scalars(
            select(LayerRow).where(LayerRow.rotation_id == rotation.id).order_by(LayerRow.position)
        )
        overrides = await session.scalars(
            # The newest first: rotation_on_call takes the first that covers a moment, so of
            # overlapping overrides the one added last (a correction) wins.
            select(OverrideRow)
            .where(OverrideRow.rotation_id == rotation.id)
            .order_by(OverrideRow.id.desc())
        )
        result.append(
            Rotation(
                rotation.name,
                tuple(
                    Layer(
                        tuple(row.members),
                        row.timezone,
                        row.handoff,
                        row.shift_days,
                        row.starts_on,
                        row.active_from,
                        row.active_until,
                    )
                    for row in layers
                ),
                tuple(Override(row.responder, row.starts_at, row.ends_at) for row in overrides),
            )
        )
    return result


async def find_team(session: AsyncSession, team: str) -> Team | None:
    """A team by its name (as policies and cases name it) or its slug (as the CLI does)."""
    return await session.scalar(select(Team).where(or_(Team.name == team, Team.slug == team)))


async def on_call(session: AsyncSession, team: str, now: datetime) -> list[str]:
    """Who is on call for the team, read from the database now (for people asking). A team
    that does not exist is UnknownTeam, not "nobody on call"."""
    found = await require_team(session, team)
    return team_on_call(list(await load_rotations(session, found.slug)), now)


async def _team_rotations(session: AsyncSession, team: str) -> tuple[Rotation, ...] | None:
    found = await find_team(session, team)
    return None if found is None else tuple(await load_rotations(session, found.slug))


# NOTIFYed by triggers on every change to teams and rotations (router migration 0005).
ROTATIONS_CHANGED = "flare_router_rotations"
Rotations = InvalidatedCache[str, tuple[Rotation, ...]]
"""Each team's rotations by the name cases give it, kept until teams or rotations change."""


def rotations_cache(registry: CollectorRegistry) -> Rotations:
    return Rotations("router_rotations", registry)


async def open_case_counts(session: AsyncSession, handles: Sequence[str]) -> dict[str, int]:
    rows = await session.execute(
        select(Case.assignee, func.count())
        .where(Case.assignee.in_(handles), Case.status != "resolved")
        .group_by(Case.assignee)
    )
    return {assignee: count for assignee, count in rows if assignee is not None}


async def pick_assignee(
    session: AsyncSession, team: str, now: datetime, rotations: Rotations
) -> str | None:
    """The least-loaded responder on call for the team now, or None when nobody is.

    Rotations come from memory while they have not changed (ADR 0011): a case is opened on
    every report, rotations change a few times a week."""
    found = await rotations.get(team, lambda: _team_rotations(session, team))
    responders = team_on_call(list(found or ()), now)
    if not responders:
        log.warning("nobody_on_call", team=team, at=now.isoformat())
        return None
    if len(responders) == 1:  # the usual case, one rotation: no loads to compare
        return responders[0]
    return pick_least_loaded(responders, await open_case_counts(session, responders))


async def require_team(session: AsyncSession, team: str) -> Team:
    found = await find_team(session, team)
    if found is None:
        raise UnknownTeam(team)
    return found


async def require_responders(session: AsyncSession, handles: Sequence[str]) -> None:
    known = set(
        await session.scalars(select(Responder.handle).where(Responder.handle.in_(handles)))
    )
    for handle in handles:
        if handle not in known:
            raise UnknownResponder(handle)


def check_timezone(zone: str) -> None:
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise InvalidRotation(f"{zone!r} is not an IANA time zone.") from error


async def save_team(session: AsyncSession, slug: str, name: str, timezone: str) -> None:
    check_timezone(timezone)
    await session.execute(
        insert(Team)
        .values(slug=slug, name=name, timezone=timezone)
        .on_conflict_do_update(
            index_elements=[Team.slug], set_={"name": name, "timezone": timezone}
        )
    )


async def save_responder(
    session: AsyncSession, handle: str, name: str, email: str | None, teams: Sequence[str]
) -> None:
    slugs = [(await require_team(session, team)).slug for team in teams]
    await session.execute(
        insert(Responder)
        .values(handle=handle, name=name, email=email)
        .on_conflict_do_update(
            index_elements=[Responder.handle], set_={"name": name, "email": email}
        )
    )
    for slug in slugs:
        await session.execute(
            insert(TeamMember).values(team=slug, responder=handle).on_conflict_do_nothing()
        )


async def rotation_id(session: AsyncSession, team: str, name: str) -> int:
    """The rotation's id, creating the rotation when the team has none of that name."""
    slug = (await require_team(session, team)).slug
    found = await session.scalar(
        select(RotationRow.id).where(RotationRow.team == slug, RotationRow.name == name)
    )
    if found is not None:
        return found
    rotation = RotationRow(team=slug, name=name)
    session.add(rotation)
    await session.flush()
    return rotation.id


@dataclass(frozen=True)
class LayerSpec:
    timezone: str
    handoff: time
    shift_days: int
    starts_on: date
    members: list[str]
    active_from: time | None = None
    active_until: time | None = None


async def add_layer(session: AsyncSession, team: str, rotation: str, spec: LayerSpec) -> None:
    """Add a layer on top of the rotation's others (it wins where it is active)."""
    check_timezone(spec.timezone)
    if spec.shift_days < 1 or not spec.members:
        raise InvalidRotation("A layer needs at least one member and shifts of a day or more.")
    await require_responders(session, spec.members)
    rotation_key = await rotation_id(session, team, rotation)
    top = await session.scalar(
        select(func.max(LayerRow.position)).where(LayerRow.rotation_id == rotation_key)
    )
    session.add(
        LayerRow(
            rotation_id=rotation_key,
            position=(top if top is not None else -1) + 1,
            timezone=spec.timezone,
            handoff=spec.handoff,
            shift_days=spec.shift_days,
            starts_on=spec.starts_on,
            active_from=spec.active_from,
            active_until=spec.active_until,
            members=spec.members,
        )
    )


async def add_override(
    session: AsyncSession,
    team: str,
    rotation: str,
    responder: str,
    period: tuple[datetime, datetime],
    reason: str,
) -> None:
    if period[1] <= period[0]:
        raise InvalidRotation("An override must end after it starts.")
    await require_responders(session, [responder])
    rotation_key = await rotation_id(session, team, rotation)
    session.add(
        OverrideRow(
            rotation_id=rotation_key,
            responder=responder,
            starts_at=period[0],
            ends_at=period[1],
            reason=reason,
        )
    )
