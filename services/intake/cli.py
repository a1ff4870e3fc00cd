"""intake's admin commands: `python -m services.intake partner create|list|rotate-key|disable`.

Results go to stdout (a new key exactly once); logs go to stderr so they never mix with a key.
"""

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.intake import partners
from services.intake.settings import IntakeSettings
from shared.db import make_engine, make_sessions
from shared.events import ReporterType
from shared.logging import configure_logging

T = TypeVar("T")
admin = typer.Typer(name="partner", help="Partners and their API keys.", no_args_is_help=True)


def run(use_case: Callable[[async_sessionmaker[AsyncSession], IntakeSettings], Awaitable[T]]) -> T:
    """Settings are read once per command; the engine lives as long as the command."""
    settings = IntakeSettings()
    configure_logging(settings.log_level, "intake", sys.stderr)

    async def main() -> T:
        engine = make_engine(settings.database_url, pool_size=1)
        try:
            return await use_case(make_sessions(engine), settings)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(main())
    except (
        partners.PartnerExists,
        partners.UnknownPartner,
        partners.InvalidPartnerName,
    ) as error:
        typer.echo(f"{type(error).__doc__} {error}", err=True)
        raise typer.Exit(1) from error


def show_key(new: partners.NewKey) -> None:
    typer.echo(f"partner: {new.partner.name} ({new.partner.id})")
    typer.echo("The API key is shown only now; store it in the partner's secret store:")
    typer.echo(f"api_key: {new.api_key}")


@admin.command("create")
def create(
    name: Annotated[str, typer.Argument(help="A unique name, e.g. safenet-monitoring.")],
    reporter_type: Annotated[
        ReporterType, typer.Option(help="What this partner reports as.")
    ] = ReporterType.PARTNER,
    rate_limit: Annotated[
        int | None, typer.Option(min=1, help="Requests per minute, per intake replica.")
    ] = None,
) -> None:
    """Create a partner and print its API key once."""
    show_key(
        run(
            lambda sessions, settings: partners.create_partner(
                sessions,
                name,
                reporter_type,
                rate_limit or settings.default_rate_limit_per_minute,
            )
        )
    )


@admin.command("list")
def list_command() -> None:
    """List partners (never their keys)."""
    found = run(lambda sessions, _: partners.list_partners(sessions))
    typer.echo("name\tid\treporter_type\trate_limit_per_minute\tstatus")
    for partner in found:
        state = "disabled" if partner.disabled else "active"
        typer.echo(
            f"{partner.name}\t{partner.id}\t{partner.reporter_type.value}\t"
            f"{partner.rate_limit_per_minute}\t{state}"
        )


@admin.command("rotate-key")
def rotate_key(name: str) -> None:
    """Replace a partner's key: the old one stops working now; the new one is printed once."""
    show_key(run(lambda sessions, _: partners.rotate_key(sessions, name)))


@admin.command("disable")
def disable(name: str) -> None:
    """Refuse the partner's key from now on (its reports are kept)."""
    partner = run(lambda sessions, _: partners.disable_partner(sessions, name))
    typer.echo(f"disabled: {partner.name} ({partner.id})")
