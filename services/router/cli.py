"""router's admin commands: policy check and dry run, tokens, teams, responders and rotations."""

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from services.router import teams
from services.router.assignment import route_escalation
from services.router.facts import EscalationFacts
from services.router.policy import Policy, PolicyInvalid
from services.router.policy_store import load_policy_file
from services.router.scoring import build_context, score_escalation
from services.router.settings import RouterSettings
from services.router.sla import sla_deadlines
from shared.auth import Role, mint_token
from shared.db import make_engine, make_sessions
from shared.http import Problem

T = TypeVar("T")
admin = typer.Typer(no_args_is_help=True)
policy_cli = typer.Typer(help="Check a policy file, or show how it would decide an escalation.")
token_cli = typer.Typer(help="Responder tokens for the cases API (development and break-glass).")
team_cli = typer.Typer(help="Teams and their responders.")
rotation_cli = typer.Typer(help="On-call rotations: layers and overrides.")
admin.add_typer(policy_cli, name="policy")
admin.add_typer(token_cli, name="token")
admin.add_typer(team_cli, name="team")
admin.add_typer(rotation_cli, name="rotation")


def _load(path: Path) -> Policy:
    try:
        return load_policy_file(path)
    except PolicyInvalid as error:
        typer.echo(f"policy refused:\n{error}", err=True)
        raise typer.Exit(1) from error


@policy_cli.command("check")
def check_policy(path: Path) -> None:
    """Validate a policy file; print its version, or each problem with its line and field."""
    policy = _load(path)
    typer.echo(f"ok: {policy.version} ({len(policy.rules)} rules, {len(policy.floors)} floors)")


def dry_run(
    policy: Policy, escalation: dict[str, Any], now: datetime, velocity: float
) -> dict[str, Any]:
    """How `policy` would score and route an escalation (the body of POST /v1/escalations)."""
    facts = EscalationFacts.model_validate(escalation)
    context = build_context(facts, policy, now, velocity)
    decision = score_escalation(facts, context, policy)
    routing = route_escalation(facts, context, policy)
    deadlines = sla_deadlines(decision.severity, now, facts.signals.legal_deadline, policy)
    return {
        **decision.explanation(),
        "team": routing.team,
        "watchers": list(routing.watchers),
        "routing_rules": list(routing.rules),
        "context": {
            "velocity_per_hour": velocity,
            "active_windows": sorted(context.active_windows),
            "keyword_hits": sorted(context.keyword_hits),
        },
        "ack_due_at": deadlines.acknowledge_due.isoformat(),
        "resolve_due_at": deadlines.resolve_due.isoformat(),
    }


@policy_cli.command("dry-run")
def dry_run_command(
    path: Path,
    escalation: Path,
    now: Annotated[
        str | None, typer.Option(help="Score as of this time (ISO 8601; UTC unless it says).")
    ] = None,
    velocity: Annotated[float, typer.Option(help="Reports per hour on its key.")] = 1.0,
) -> None:
    """Print the score, band, rules fired, team, watchers and SLA an escalation would get."""
    policy = _load(path)
    moment = _moment(now, "--now") if now else datetime.now(UTC)
    try:
        result = dry_run(policy, json.loads(escalation.read_text()), moment, velocity)
    except (ValueError, ValidationError) as error:
        typer.echo(f"{escalation}: not an escalation: {error}", err=True)
        raise typer.Exit(1) from error
    typer.echo(json.dumps(result, indent=2))


MAX_TTL_HOURS = 7 * 24


@token_cli.command("mint")
def mint(
    subject: str,
    role: Annotated[Role, typer.Option()] = Role.RESPONDER,
    ttl_hours: Annotated[float, typer.Option(min=0.01, max=MAX_TTL_HOURS)] = 12.0,
) -> None:
    """Print a responder token signed with FLARE_JWT_SECRET, valid for `--ttl-hours` (at most a
    week: a token cannot be revoked but by changing the secret, which signs everyone out)."""
    secret = RouterSettings().jwt_secret
    typer.echo(mint_token(secret, subject, role, timedelta(hours=ttl_hours)))


def _in_database(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    async def run() -> T:
        engine = make_engine(RouterSettings().database_url, pool_size=1)
        try:
            async with make_sessions(engine).begin() as session:
                return await work(session)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except Problem as problem:
        typer.echo(problem.detail, err=True)
        raise typer.Exit(1) from problem


@team_cli.command("add")
def add_team(slug: str, name: str, timezone: Annotated[str, typer.Option()] = "UTC") -> None:
    """Create a team (or rename it / change its time zone)."""
    _in_database(lambda session: teams.save_team(session, slug, name, timezone))
    typer.echo(f"team {slug} saved")


@team_cli.command("list")
def list_teams() -> None:
    for team in _in_database(teams.list_teams):
        typer.echo(f"{team.slug}\t{team.name}\t{team.timezone}\t{', '.join(team.members)}")


@team_cli.command("add-responder")
def add_responder(
    handle: str,
    name: str,
    team: Annotated[list[str], typer.Option(help="A team to join; repeatable.")],
    email: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Create a responder (or update them) and add them to teams."""
    _in_database(lambda session: teams.save_responder(session, handle, name, email, team))
    typer.echo(f"responder {handle} saved")


@rotation_cli.command("add-layer")
def add_layer(
    team: str,
    rotation: str,
    member: Annotated[list[str], typer.Option(help="In hand-off order; repeatable.")],
    timezone: Annotated[str, typer.Option()],
    handoff: Annotated[str, typer.Option(help="Local time, HH:MM.")] = "09:00",
    shift_days: Annotated[int, typer.Option()] = 7,
    starts_on: Annotated[datetime | None, typer.Option(formats=["%Y-%m-%d"])] = None,
    active_from: Annotated[str | None, typer.Option(help="HH:MM; with --active-until.")] = None,
    active_until: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Add a layer on top of a rotation (created if new); it wins where it is active."""
    if (active_from is None) != (active_until is None):
        raise typer.BadParameter("--active-from and --active-until go together")
    spec = teams.LayerSpec(
        timezone,
        _clock(handoff, "--handoff"),
        shift_days,
        starts_on.date() if starts_on else date.today(),
        member,
        _clock(active_from, "--active-from") if active_from else None,
        _clock(active_until, "--active-until") if active_until else None,
    )
    _in_database(lambda session: teams.add_layer(session, team, rotation, spec))
    typer.echo(f"layer added to {team}/{rotation}")


@rotation_cli.command("override")
def override(
    team: str,
    rotation: str,
    responder: str,
    starts: Annotated[str, typer.Option(help="ISO 8601, e.g. 2026-12-24T09:00 or ...+01:00")],
    ends: Annotated[str, typer.Option(help="ISO 8601, as --starts")],
    reason: Annotated[str, typer.Option()] = "",
) -> None:
    """Put a responder on call for a rotation for a period (times in UTC unless they say)."""
    period = (_moment(starts, "--starts"), _moment(ends, "--ends"))
    _in_database(
        lambda session: teams.add_override(session, team, rotation, responder, period, reason)
    )
    typer.echo(f"override saved for {team}/{rotation}")


@rotation_cli.command("oncall")
def show_on_call(team: str) -> None:
    """Who is on call for a team now."""
    now = datetime.now(UTC)
    typer.echo(
        ", ".join(_in_database(lambda session: teams.on_call(session, team, now))) or "nobody"
    )


def _clock(value: str, option: str) -> time:
    """A time of day as HH:MM."""
    try:
        return time.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not a time of day as HH:MM", param_hint=option
        ) from None


def _moment(value: str, option: str) -> datetime:
    """An ISO 8601 date and time, in UTC unless it carries an offset."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not an ISO 8601 date and time", param_hint=option
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
