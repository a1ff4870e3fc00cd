"""Helpers for the console's browser tests: Debian's Chromium, and Flare wired for a browser."""

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest

from shared.auth import Role, mint_token
from shared.settings import LOCAL_JWT_SECRET
from tests.conftest import SERVICES, FlareEnv
from tests.e2e.processes import ServiceProcess, free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# The tests' own screenshots (git-ignored); the README's live in docs/img/.
SCREENSHOTS = Path(__file__).parent / "screenshots"


def ensure_chromium() -> Path:
    """Debian's Chromium, installed with apt when missing; skip the test only if that fails."""
    if CHROMIUM.exists():
        return CHROMIUM
    apt = shutil.which("apt-get")
    if apt is None:
        pytest.skip("Chromium is missing at /usr/bin/chromium and apt-get is not available")
    for command in ([apt, "update"], [apt, "install", "-y", "chromium"]):
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=600,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            check=False,
        )
        if done.returncode != 0:
            pytest.skip(
                f"Chromium is missing and `{' '.join(command)}` failed: {done.stderr[-300:]}"
            )
    if not CHROMIUM.exists():
        pytest.skip("apt-get installed chromium but /usr/bin/chromium is still missing")
    return CHROMIUM


def responder_token(subject: str, role: Role = Role.LEAD) -> str:
    """Signed with the secret the services run with by default, as `token mint` does."""
    secret = LOCAL_JWT_SECRET
    return mint_token(secret, subject, role, timedelta(minutes=10))


def start_on_port(
    name: str, port: int, env: FlareEnv, log_dir: Path, settings: dict[str, str]
) -> ServiceProcess:
    """Like processes.start_service, on a port chosen beforehand (the services name each other)."""
    log = log_dir / f"{name}-{port}.log"
    process = subprocess.Popen(
        [sys.executable, "-m", f"services.{name}", "serve"],
        env={**os.environ, **env.service_env(), **settings, "FLARE_PORT": str(port)},
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    return ServiceProcess(name, port, process, log)


@dataclass
class ConsoleFlare:
    """The three services; the router lets the console's origin call it (cross-origin)."""

    env: FlareEnv
    log_dir: Path
    ports: dict[str, int] = field(default_factory=lambda: {n: free_port() for n in SERVICES})
    running: dict[str, ServiceProcess] = field(default_factory=dict)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def settings(self, name: str) -> dict[str, str]:
        if name == "router":
            return {"FLARE_CORS_ALLOWED_ORIGINS": json.dumps([self.url("notifier")])}
        if name == "notifier":
            return {
                "FLARE_CONSOLE_ROUTER_URL": self.url("router"),
                "FLARE_CONSOLE_URL": self.url("notifier"),
            }
        return {}

    def start(self, name: str) -> ServiceProcess:
        started = start_on_port(name, self.ports[name], self.env, self.log_dir, self.settings(name))
        self.running[name] = started
        return started

    async def wait_ready(self) -> None:
        for service in self.running.values():
            await service.wait_ready()


@contextmanager
def flare_for_the_console(env: FlareEnv, log_dir: Path) -> Iterator[ConsoleFlare]:
    flare = ConsoleFlare(env, log_dir)
    try:
        for name in SERVICES:
            flare.start(name)
        yield flare
    finally:
        for service in flare.running.values():
            service.terminate()
