"""Real Kafka and PostgreSQL for the whole session; fresh names (database, topics) for each test.

The session starts the local broker and database with the project's own scripts when they are
not up (and stops them again at the end), migrates a template database once, and gives each
test its own copy of it and its own topic prefix, so tests never see each other or `make run`.
"""

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import asyncpg
import pytest

from shared.events import Topics
from shared.kafka import KafkaAccess
from shared.kafka_admin import create_topics, delete_topics
from shared.settings import FlareSettings

S = TypeVar("S", bound=FlareSettings)

ROOT = Path(__file__).resolve().parent.parent
LOCAL = ROOT / "deploy" / "local"
PG_PORT = int(os.environ.get("FLARE_PG_PORT", "5432"))
KAFKA = f"127.0.0.1:{os.environ.get('FLARE_KAFKA_PORT', '9092')}"
ADMIN_DSN = f"postgresql://flare:flare@127.0.0.1:{PG_PORT}/flare"
SERVICES = ("intake", "router", "notifier")


@dataclass(frozen=True)
class FlareEnv:
    """Where one test's Flare lives: its own database and its own topics on the shared infra."""

    database_url: str
    kafka: str
    topic_prefix: str

    @property
    def topics(self) -> Topics:
        return Topics.with_prefix(self.topic_prefix)

    @property
    def kafka_access(self) -> KafkaAccess:
        return KafkaAccess(self.kafka)

    @property
    def dsn(self) -> str:
        return self.database_url.replace("postgresql+asyncpg://", "postgresql://")

    def settings(self, settings_type: type[S], **overrides: object) -> S:
        values: dict[str, object] = {
            "port": 0,
            "database_url": self.database_url,
            "kafka_bootstrap_servers": self.kafka,
            "topic_prefix": self.topic_prefix,
            "shutdown_timeout_s": 5.0,
        }
        return settings_type.model_validate(values | overrides)

    def service_env(self) -> dict[str, str]:
        return {
            "FLARE_DATABASE_URL": self.database_url,
            "FLARE_KAFKA_BOOTSTRAP_SERVERS": self.kafka,
            "FLARE_TOPIC_PREFIX": self.topic_prefix,
        }


def _script(name: str, action: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LOCAL / name), action], capture_output=True, text=True, check=False)


def _ensure_up(name: str, config: pytest.Config) -> bool:
    """Start one piece of infrastructure; True when this session started it."""
    if _script(name, "status").returncode == 0:
        return False
    # The first start installs and downloads: show its progress instead of hiding it.
    capture = config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        started = subprocess.run([str(LOCAL / name), "start"], check=False)
    if started.returncode != 0:
        pytest.exit(f"deploy/local/{name} start failed (its message above names the log)", 3)
    return True


def migrate(database_url: str, services: tuple[str, ...] = SERVICES) -> None:
    """Each service's migrations, run as an operator runs them (`python -m ... migrate`)."""
    for service in services:
        migrated = subprocess.run(
            [sys.executable, "-m", f"services.{service}", "migrate"],
            capture_output=True,
            text=True,
            env={**os.environ, "FLARE_DATABASE_URL": database_url},
            check=False,
        )
        assert migrated.returncode == 0, (
            f"{service} migration failed:\n{migrated.stdout}{migrated.stderr}"
        )


def _database_url(name: str) -> str:
    return f"postgresql+asyncpg://flare:flare@127.0.0.1:{PG_PORT}/{name}"


async def _admin(*statements: str) -> None:
    connection = await asyncpg.connect(ADMIN_DSN)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def template_database(pytestconfig: pytest.Config) -> Iterator[str]:
    started = [name for name in ("postgres.sh", "kafka.sh") if _ensure_up(name, pytestconfig)]
    template = f"flare_test_template_{uuid.uuid4().hex[:8]}"
    asyncio.run(_admin(f'CREATE DATABASE "{template}"'))
    migrate(_database_url(template))
    yield template
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)'))
    for name in reversed(started):
        _script(name, "stop")


@pytest.fixture
async def flare_env(template_database: str) -> AsyncIterator[FlareEnv]:
    name = f"flare_test_{uuid.uuid4().hex[:12]}"
    await _admin(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
    env = FlareEnv(_database_url(name), KAFKA, f"test-{uuid.uuid4().hex[:8]}.")
    await create_topics(env.kafka_access, env.topics)
    yield env
    await delete_topics(env.kafka_access, env.topics)
    await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
