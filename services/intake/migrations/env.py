"""Alembic environment for the intake schema (see shared.db.run_migrations)."""

from services.intake.models import metadata
from shared.db import run_migrations

run_migrations(metadata)
