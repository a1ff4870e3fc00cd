"""Entry point: `python -m services.router [serve|migrate|policy|token|team|rotation]`."""

from pathlib import Path

from services.router.app import create_app
from services.router.cli import admin
from services.router.settings import RouterSettings
from shared.cli import run_service

run_service("router", RouterSettings, create_app, Path(__file__).parent / "migrations", admin)
