"""Entry point: `python -m services.router [serve|migrate]`."""

from pathlib import Path

from services.router.app import create_app
from services.router.settings import RouterSettings
from shared.cli import run_service

run_service("router", RouterSettings, create_app, Path(__file__).parent / "migrations")
