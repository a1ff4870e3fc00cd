"""Every service's entry point: `python -m services.<name> serve|migrate`."""

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from fastapi import FastAPI

from shared.db import upgrade
from shared.http import serve
from shared.logging import configure_logging, get_logger
from shared.settings import FlareSettings

S = TypeVar("S", bound=FlareSettings)


def run_service(
    name: str, settings_type: type[S], create_app: Callable[[S], FastAPI], migrations: Path
) -> None:
    parser = argparse.ArgumentParser(
        prog=f"python -m services.{name}",
        description=f"Flare {name}. Settings come from FLARE_* variables.",
    )
    parser.add_argument(
        "command",
        nargs="?",
        choices=["serve", "migrate"],
        default="serve",
        help="serve HTTP (default) or apply this service's database migrations",
    )
    args = parser.parse_args()
    settings = settings_type()
    configure_logging(settings.log_level, name)
    if args.command == "migrate":
        upgrade(migrations, settings.database_url)
        get_logger(__name__).info("migrated", schema=name)
    else:
        serve(create_app(settings), settings)
