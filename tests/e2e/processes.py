"""The services as real processes (`python -m services.<name>`) for end-to-end tests."""

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.conftest import FlareEnv

# A notifier's settings for tests: local receivers are allowed; timers and the delivery queue
# are polled often.
FAST_NOTIFIER = {
    "FLARE_EGRESS_ALLOWED_NETWORKS": '["127.0.0.1/32"]',
    "FLARE_ESCALATION_POLL_INTERVAL_S": "0.1",
    "FLARE_DELIVERY_POLL_INTERVAL_S": "0.1",
}


@dataclass
class ServiceProcess:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, lines: int = 30) -> str:
        return log_tail(self.log, lines)

    async def wait_ready(self, timeout_s: float = 60.0) -> None:
        await answering(f"{self.url}/readyz", self.process, self.log, timeout_s)

    def terminate(self, timeout_s: float = 30.0) -> int:
        """SIGTERM, as Kubernetes sends it; returns the exit code (killed if it hangs)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL: no shutdown at all, as when a node dies."""
        self.process.kill()
        self.process.wait()


def log_tail(log: Path, lines: int = 30) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


async def answering(
    url: str, process: subprocess.Popen[bytes], log: Path, timeout_s: float = 60.0
) -> None:
    """Poll `url` until it answers 200: a process we started is ready. Fails at once, with
    the end of its log, if the process exits first."""
    async with httpx.AsyncClient(timeout=2.0) as client, asyncio.timeout(timeout_s):
        while True:
            if process.poll() is not None:
                raise AssertionError(f"{log.stem} exited early:\n{log_tail(log)}")
            try:
                if (await client.get(url)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_service(
    name: str, env: FlareEnv, log_dir: Path, settings: Mapping[str, str] | None = None
) -> ServiceProcess:
    """`settings` are extra FLARE_* variables for this process."""
    port = free_port()
    log = log_dir / f"{name}.log"
    process = subprocess.Popen(
        [sys.executable, "-m", f"services.{name}", "serve"],
        env={**os.environ, **env.service_env(), **(settings or {}), "FLARE_PORT": str(port)},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    return ServiceProcess(name, port, process, log)
