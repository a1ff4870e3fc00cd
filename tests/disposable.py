"""A Kafka broker or a PostgreSQL server of a test's own, on free ports, that it may stop and
start again: the shared ones must never be touched. Started with the project's own scripts."""

import asyncio
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import LOCAL, ROOT
from tests.e2e.processes import free_port


@dataclass(frozen=True)
class Disposable:
    script: str
    env: dict[str, str]

    def run(self, action: str) -> None:
        done = subprocess.run(
            [str(LOCAL / self.script), action],
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, f"{self.script} {action}:\n{done.stdout}{done.stderr}"

    async def stop(self) -> None:
        await asyncio.to_thread(self.run, "stop")

    async def start(self) -> None:
        await asyncio.to_thread(self.run, "start")


@contextmanager
def _state_dir() -> Iterator[Path]:
    # Readable by the `postgres` user, which runs the server when tests run as root.
    state = Path(tempfile.mkdtemp(prefix="flare-disposable-", dir="/tmp"))
    state.chmod(0o755)
    try:
        yield state
    finally:
        shutil.rmtree(state, ignore_errors=True)


@contextmanager
def disposable_kafka() -> Iterator[tuple[Disposable, str]]:
    """A single-node broker reusing the jars fetched for the shared one; yields its address."""
    with _state_dir() as state:
        port = free_port()
        broker = Disposable(
            "kafka.sh",
            {
                "FLARE_LOCAL_DIR": str(state),
                "FLARE_KAFKA_PORT": str(port),
                "FLARE_KAFKA_CONTROLLER_PORT": str(free_port()),
                "FLARE_KAFKA_LIBS": str(ROOT / ".local" / "kafka" / "libs"),
            },
        )
        broker.run("start")
        try:
            yield broker, f"127.0.0.1:{port}"
        finally:
            broker.run("stop")


@contextmanager
def disposable_postgres() -> Iterator[tuple[Disposable, str]]:
    """A cluster of its own with the `flare` role and database; yields its asyncpg URL."""
    with _state_dir() as state:
        port = free_port()
        server = Disposable(
            "postgres.sh", {"FLARE_LOCAL_DIR": str(state), "FLARE_PG_PORT": str(port)}
        )
        server.run("start")
        try:
            yield server, f"postgresql+asyncpg://flare:flare@127.0.0.1:{port}/flare"
        finally:
            server.run("stop")
