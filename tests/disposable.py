"""A Kafka broker or a PostgreSQL server of a test's own, on free ports, that it may stop and
start again: the shared ones must never be touched. Started with the project's own scripts."""

import asyncio
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import LOCAL, ROOT
from tests.e2e.processes import free_port


@dataclass(frozen=True)
class Disposable:
    script: str
    port: int
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

    async def kill(self) -> None:
        """SIGKILL, as when the machine dies; `start` brings it back. For a server the scripts
        keep a pid file of (Kafka). The pid file goes too: nothing may reap the dead process,
        and a zombie would pass the script's "already running" check."""
        pid_file = Path(self.env["FLARE_LOCAL_DIR"]) / "run" / self.script.replace(".sh", ".pid")
        os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)  # "PID START_TIME"
        pid_file.unlink()
        for _ in range(300):  # 30 s
            if not await _port_open(self.port):
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"{self.script}: port {self.port} still open after SIGKILL")

    async def start(self) -> None:
        await asyncio.to_thread(self.run, "start")


async def _port_open(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    return True


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
def disposable_kafka(
    advertised_port: int | None = None, extra_config: str = ""
) -> Iterator[tuple[Disposable, str]]:
    """A single-node broker reusing the jars fetched for the shared one; yields its address.
    With `advertised_port`, clients are sent there (to a proxy in front of the broker);
    `extra_config`'s properties override the generated ones (more listeners, say)."""
    with _state_dir() as state:
        port = free_port()
        extra = state / "extra.properties"
        extra.write_text(extra_config)
        broker = Disposable(
            "kafka.sh",
            port,
            {
                "FLARE_LOCAL_DIR": str(state),
                "FLARE_KAFKA_PORT": str(port),
                "FLARE_KAFKA_ADVERTISED_PORT": str(advertised_port or port),
                "FLARE_KAFKA_CONTROLLER_PORT": str(free_port()),
                "FLARE_KAFKA_LIBS": str(ROOT / ".local" / "kafka" / "libs"),
                "FLARE_KAFKA_EXTRA_CONFIG": str(extra),
            },
        )
        try:
            broker.run("start")
            yield broker, f"127.0.0.1:{port}"
        finally:
            broker.run("stop")


@contextmanager
def disposable_postgres(
    extra_env: Mapping[str, str] | None = None,
) -> Iterator[tuple[Disposable, str]]:
    """A cluster of its own with the `flare` role and database; yields its asyncpg URL.
    `extra_env` goes to the server too (a faked clock, say)."""
    with _state_dir() as state:
        port = free_port()
        server = Disposable(
            "postgres.sh",
            port,
            {"FLARE_LOCAL_DIR": str(state), "FLARE_PG_PORT": str(port), **(extra_env or {})},
        )
        try:
            server.run("start")
            yield server, f"postgresql+asyncpg://flare:flare@127.0.0.1:{port}/flare"
        finally:
            server.run("stop")
