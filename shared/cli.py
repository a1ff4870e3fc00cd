"""Every service's command line: `python -m services.<name> serve | migrate | <admin commands>`."""

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import typer
from fastapi import FastAPI
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError

from shared.db import upgrade
from shared.http import serve
from shared.logging import configure_logging, get_logger
from shared.settings import FlareSettings, ResponderAuthSettings, settings_problems
from shared.tracing import configure_tracing

S = TypeVar("S", bound=FlareSettings)


def run_service(
    name: str,
    settings_type: type[S],
    create_app: Callable[[S], FastAPI],
    migrations: Path,
    admin: typer.Typer | None = None,
) -> None:
    """Settings come from FLARE_* variables and are read once, here, per command."""
    cli = typer.Typer(
        name=f"python -m services.{name}",
        no_args_is_help=False,
        help=f"Flare {name}. Settings come from FLARE_* environment variables.",
        add_completion=False,
    )

    def settings() -> S:
        loaded = settings_type()
        configure_logging(loaded.log_level, name)
        configure_tracing(name, loaded.otel_exporter, loaded.otel_endpoint)
        return loaded

    @cli.command("serve")
    def serve_command() -> None:
        """Serve HTTP (the default) until SIGTERM or Ctrl-C."""
        loaded = settings()
        try:
            if isinstance(loaded, ResponderAuthSettings):
                loaded.refuse_public_secret()
        except ValueError as unsafe:
            _exit(str(unsafe))
        serve(create_app(loaded), loaded)

    @cli.command("migrate")
    def migrate_command() -> None:
        """Apply this service's database migrations, then exit."""
        upgrade(migrations, settings().database_url)
        get_logger(__name__).info("migrated", schema=name)

    if admin is not None:
        cli.add_typer(admin)

    @cli.callback(invoke_without_command=True)
    def default(context: typer.Context) -> None:
        if context.invoked_subcommand is None:
            serve_command()

    # The usual mistakes get one line, not a traceback: a FLARE_* setting that does not
    # validate, a database or broker that does not answer (or a schema not migrated yet).
    try:
        cli()
    except ValidationError as error:
        _exit(f"invalid settings: {settings_problems(error)}")
    except (OSError, DBAPIError) as error:
        if sys.argv[1:2] == ["migrate"]:
            raise  # which revision failed, and where: the traceback says
        first_line = (str(error).splitlines() or [""])[0]
        _exit(f"{name} {' '.join(sys.argv[1:])} failed: {type(error).__name__}: {first_line}")


def _exit(message: str) -> None:
    print(f"[flare] {message}", file=sys.stderr)
    sys.exit(1)
