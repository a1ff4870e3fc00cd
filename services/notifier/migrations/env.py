"""Alembic environment for the notifier schema (see shared.db.run_migrations)."""

from services.notifier.models import metadata
from shared.db import run_migrations

run_migrations(metadata)
