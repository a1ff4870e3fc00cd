"""notifier's admin commands: escalation policies per team (set, show, list, delete)."""

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import typer
import yaml
from pydantic import ValidationError
from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.notifier.escalation import Policy, stored_policy
from services.notifier.models import case_views, escalation_policies
from services.notifier.settings import NotifierSettings
from shared.db import make_engine, make_sessions

admin = typer.Typer(name="escalation", help="Escalation policies: who is paged, when, per team.")
T = TypeVar("T")


def _with_sessions(work: Callable[[async_sessionmaker[AsyncSession]], Awaitable[T]]) -> T:
    async def run() -> T:
        engine = make_engine(NotifierSettings().database_url, pool_size=1)
        try:
            return await work(make_sessions(engine))
        finally:
            await engine.dispose()

    return asyncio.run(run())


def load_policy(path: Path) -> Policy:
    try:
        return Policy.model_validate(yaml.safe_load(path.read_text()))
    except (OSError, yaml.YAMLError, ValidationError) as error:
        raise typer.BadParameter(f"{path}: {error}") from error


@admin.command("set")
def set_policy(team: str, policy_file: Path) -> None:
    """Set TEAM's policy from a YAML file (replaces the old one; running timers follow it)."""
    policy = load_policy(policy_file)
    stored = policy.model_dump(mode="json")

    async def store(sessions: async_sessionmaker[AsyncSession]) -> bool:
        """Stores it; True when a case of that team has been seen."""
        async with sessions.begin() as session:
            await session.execute(
                insert(escalation_policies)
                .values(team=team, policy=stored)
                .on_conflict_do_update(index_elements=["team"], set_={"policy": stored})
            )
            seen = select(case_views.c.case_id).where(case_views.c.snapshot["team"].astext == team)
            return bool(await session.scalar(select(seen.exists())))

    if not _with_sessions(store):
        # A policy matches cases by their team's name exactly: a slug or a typo pages nobody.
        typer.echo(
            f"warning: no case of a team named {team!r} has been seen yet. Cases name their "
            "team as the router shows it (GET /v1/teams: 'name', e.g. 'Global Operations').",
            err=True,
        )
    typer.echo(f"{team}: {len(policy.steps)} steps")


@admin.command("show")
def show_policy(team: str) -> None:
    """Print TEAM's policy as YAML."""

    async def load(sessions: async_sessionmaker[AsyncSession]) -> object:
        async with sessions() as session:
            return await session.scalar(
                select(escalation_policies.c.policy).where(escalation_policies.c.team == team)
            )

    stored = _with_sessions(load)
    if stored is None:
        typer.echo(f"{team} has no escalation policy", err=True)
        raise typer.Exit(1)
    typer.echo(yaml.safe_dump(stored, sort_keys=False), nl=False)


@admin.command("list")
def list_policies() -> None:
    """One line per team with a policy: the team and its step names."""

    async def load(sessions: async_sessionmaker[AsyncSession]) -> list[tuple[str, object]]:
        async with sessions() as session:
            rows = await session.execute(
                select(escalation_policies.c.team, escalation_policies.c.policy).order_by(
                    escalation_policies.c.team
                )
            )
            return [(row.team, row.policy) for row in rows]

    for team, stored in _with_sessions(load):
        checked = stored_policy(stored)
        if isinstance(checked, ValidationError):  # stored before a rule it breaks: held
            typer.echo(f"{team}\tdoes not validate, set it again: {checked.errors()[0]['msg']}")
            continue
        typer.echo(f"{team}\t{json.dumps([step.name for step in checked.steps])}")


@admin.command("delete")
def delete_policy(team: str) -> None:
    """Remove TEAM's policy; its running timers stop at their next step."""

    async def remove(sessions: async_sessionmaker[AsyncSession]) -> None:
        async with sessions.begin() as session:
            await session.execute(
                delete(escalation_policies).where(escalation_policies.c.team == team)
            )

    _with_sessions(remove)
    typer.echo(f"{team}: policy removed")
