"""Entry point: `python -m services.router [serve|migrate|policy|token|team|rotation]`."""

from services.router.app import create_app
from services.router.cli import admin
from services.router.models import MIGRATIONS
from services.router.settings import RouterSettings
from shared.cli import run_service

run_service("router", RouterSettings, create_app, MIGRATIONS, admin)
