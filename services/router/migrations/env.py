"""Alembic environment for the router schema (see shared.db.run_migrations)."""

from services.router.models import metadata
from shared.db import run_migrations

run_migrations(metadata)
