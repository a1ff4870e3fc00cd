"""Debian's real `prometheus-alertmanager` as a local peer, for tests and the bench: installed
with apt-get when missing, started on a free loopback port with a config of the caller's."""

import json
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from tests.e2e.processes import answering, free_port

BINARY = "prometheus-alertmanager"
READY_DEADLINE_S = 30.0


def install_alertmanager() -> str | None:
    """The binary's path, installed with apt-get first when missing; None if that failed."""
    if shutil.which(BINARY) is None:
        for command in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", BINARY]):
            subprocess.run(command, capture_output=True, check=False)
    return shutil.which(BINARY)


def start_alertmanager(
    binary: str, workdir: Path, settings: dict[str, Any], port: int
) -> subprocess.Popen[bytes]:
    config_file = workdir / "alertmanager.yml"
    config_file.write_text(json.dumps(settings))  # JSON is YAML
    return subprocess.Popen(
        [
            binary,
            f"--config.file={config_file}",
            f"--storage.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(workdir / "alertmanager.log").open("wb"),
    )


@asynccontextmanager
async def alertmanager(
    binary: str, workdir: Path, settings: dict[str, Any]
) -> AsyncIterator[tuple[str, subprocess.Popen[bytes]]]:
    """Alertmanager up and ready; yields its URL and its process."""
    port = free_port()
    process = start_alertmanager(binary, workdir, settings, port)
    url = f"http://127.0.0.1:{port}"
    try:
        await answering(f"{url}/-/ready", process, workdir / "alertmanager.log", READY_DEADLINE_S)
        yield url, process
    finally:
        process.terminate()
        process.wait(10)
