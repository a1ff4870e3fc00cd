"""Entry point: `python -m services.intake [serve|migrate|partner ...]`."""

from services.intake.app import create_app
from services.intake.cli import admin
from services.intake.models import MIGRATIONS
from services.intake.settings import IntakeSettings
from shared.cli import run_service

run_service("intake", IntakeSettings, create_app, MIGRATIONS, admin)
