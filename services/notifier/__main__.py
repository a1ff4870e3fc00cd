"""Entry point: `python -m services.notifier [serve|migrate|escalation ...]`."""

from services.notifier.app import create_app
from services.notifier.cli import admin
from services.notifier.models import MIGRATIONS
from services.notifier.settings import NotifierSettings
from shared.cli import run_service

run_service("notifier", NotifierSettings, create_app, MIGRATIONS, admin=admin)
