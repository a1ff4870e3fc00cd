"""The system under test and its references, each a real process on loopback: the bench's own
PostgreSQL and Kafka (it stops Kafka; the shared ones must never be touched), the three
services, the bare-endpoint ceiling and Alertmanager."""

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg

from services.intake.partners import create_partner
from services.notifier.escalation import Policy, Step
from shared.auth import Role, mint_token
from shared.db import make_engine, make_sessions
from shared.events import ReporterType, Topics
from shared.kafka import KafkaAccess
from shared.kafka_admin import create_topics
from shared.settings import LOCAL_JWT_SECRET
from tests.alertmanager import alertmanager
from tests.conftest import LOCAL, SERVICES, FlareEnv
from tests.disposable import Disposable, disposable_kafka, disposable_postgres
from tests.e2e.processes import ServiceProcess, answering, free_port, start_service

# The load must never be refused for quota: the partner's limit is far above any bench rate.
UNLIMITED_PER_MINUTE = 100_000_000
# The bench's WebSocket client may fall behind during a surge; the notifier buffers for it.
# Its pages go to a chat webhook of the bench's on loopback, which Flare refuses unless allowed.
SERVICE_SETTINGS = {
    "notifier": {
        "FLARE_STREAM_QUEUE_SIZE": "1000000",
        "FLARE_EGRESS_ALLOWED_NETWORKS": '["127.0.0.1/32"]',
    }
}


@dataclass(frozen=True)
class Infrastructure:
    env: FlareEnv
    kafka: Disposable

    @property
    def dsn(self) -> str:
        return self.env.dsn


@contextmanager
def infrastructure() -> Iterator[Infrastructure]:
    """PostgreSQL and Kafka of the bench's own on free ports, migrated, topics created."""
    with disposable_postgres() as (_, database_url), disposable_kafka() as (kafka, bootstrap):
        env = FlareEnv(database_url, bootstrap, "")
        for service in SERVICES:
            subprocess.run(
                [sys.executable, "-m", f"services.{service}", "migrate"],
                env={**os.environ, "FLARE_DATABASE_URL": database_url},
                check=True,
                capture_output=True,
            )
        asyncio.run(create_topics(KafkaAccess(bootstrap), env.topics))
        asyncio.run(create_topics(KafkaAccess(bootstrap), Topics.with_prefix("ceiling.")))
        yield Infrastructure(env, kafka)


def kafka_control(infra: Infrastructure) -> dict[str, Any]:
    """What the load process needs to stop, start and probe the bench's broker itself."""
    kafka = infra.kafka
    return {
        "kafka_script": str(LOCAL / kafka.script),
        "kafka_env": kafka.env,
        "bootstrap": infra.env.kafka,
    }


@asynccontextmanager
async def flare(env: FlareEnv, log_dir: Path) -> AsyncIterator[dict[str, ServiceProcess]]:
    """The three services, one process each, ready."""
    services = {
        name: start_service(name, env, log_dir, SERVICE_SETTINGS.get(name)) for name in SERVICES
    }
    try:
        for service in services.values():
            await service.wait_ready(120)
        yield services
    finally:
        for service in services.values():
            service.terminate()


async def partner_key(env: FlareEnv) -> str:
    engine = make_engine(env.database_url, pool_size=1)
    try:
        created = await create_partner(
            make_sessions(engine), "bench", ReporterType.TRUSTED_FLAGGER, UNLIMITED_PER_MINUTE
        )
    finally:
        await engine.dispose()
    return created.api_key


@asynccontextmanager
async def connected(dsn: str) -> AsyncIterator[asyncpg.Connection]:
    """One connection to the bench's database, closed after use."""
    connection = await asyncpg.connect(dsn)
    try:
        yield connection
    finally:
        await connection.close()


async def page_every_team(dsn: str, chat_url: str) -> int:
    """Give every team the escalation policy a deployment would have: page the on-call at once
    (here, on the bench's chat webhook). Returns how many teams. The notifier's policy cache
    hears of the change (NOTIFY)."""
    policy = Policy(steps=[Step(name="on-call", targets=[f"chat:{chat_url}"])])
    async with connected(dsn) as connection:
        teams = [row["name"] for row in await connection.fetch("SELECT name FROM router.teams")]
        await connection.executemany(
            "INSERT INTO notifier.escalation_policies (team, policy) VALUES ($1, $2::jsonb) "
            "ON CONFLICT (team) DO UPDATE SET policy = excluded.policy",
            [(team, policy.model_dump_json()) for team in teams],
        )
    return len(teams)


def responder_token() -> str:
    """Signed with the secret the services run with (the local default)."""
    secret = LOCAL_JWT_SECRET
    return mint_token(secret, "bench-responder", Role.RESPONDER, timedelta(hours=1))


def start_ceiling(port: int, dsn: str, log_dir: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "bench.ceiling", str(port), dsn],
        stdout=(log_dir / "ceiling.log").open("ab"),  # every run's, one after the other
        stderr=subprocess.STDOUT,
    )


@asynccontextmanager
async def ceiling(dsn: str, log_dir: Path) -> AsyncIterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    process = start_ceiling(port, dsn, log_dir)
    url = f"http://127.0.0.1:{port}"
    try:
        await answering(f"{url}/docs", process, log_dir / "ceiling.log")
        yield url, process
    finally:
        process.terminate()
        process.wait(10)


def alertmanager_settings(webhook_port: int | None) -> dict[str, Any]:
    """Every alert its own group (`...`), notified at once (group_wait 0s) to the bench's
    webhook; without a port, a receiver that notifies nobody (alerts are only taken in)."""
    receiver: dict[str, Any] = {"name": "bench"}
    if webhook_port is not None:
        receiver["webhook_configs"] = [
            {"url": f"http://127.0.0.1:{webhook_port}/", "send_resolved": False}
        ]
    return {
        "route": {
            "receiver": "bench",
            "group_by": ["..."],
            "group_wait": "0s",
            "group_interval": "1s",
            "repeat_interval": "24h",
        },
        "receivers": [receiver],
    }


@asynccontextmanager
async def alertmanager_peer(
    binary: str, workdir: Path, webhook_port: int | None
) -> AsyncIterator[tuple[str, subprocess.Popen[bytes]]]:
    await asyncio.to_thread(workdir.mkdir, parents=True, exist_ok=True)
    async with alertmanager(binary, workdir, alertmanager_settings(webhook_port)) as peer:
        yield peer


async def count(dsn: str, query: str) -> int:
    async with connected(dsn) as connection:
        found: int = await connection.fetchval(query)
    return found


async def notified_cases(dsn: str) -> set[str]:
    """The cases the notifier has seen: the bench's own (the seeded ones never reach it)."""
    async with connected(dsn) as connection:
        rows = await connection.fetch("SELECT case_id FROM notifier.case_views")
    return {str(row["case_id"]) for row in rows}


# Each counts work the system still has to do; the system is idle when every one is 0 or less.
# The router's cases of this run are the recent ones: the seeded cases are 400 days old.
UNFINISHED = (
    "SELECT (SELECT count(*) FROM intake.escalations)"
    " - (SELECT count(*) FROM router.processed_events)",
    "SELECT (SELECT count(*) FROM router.cases WHERE created_at > now() - interval '1 day')"
    " - (SELECT count(*) FROM notifier.case_views)",
    "SELECT count(*) FROM notifier.escalation_timers WHERE state = 'pending'",
    "SELECT count(*) FROM notifier.deliveries WHERE status IN ('pending', 'retrying')",
)


async def settle(dsn: str, timeout_s: float = 300.0) -> None:
    """Wait until the pipeline is idle: the router has handled every stored escalation, the
    notifier has seen every case it opened and has sent every page."""
    async with asyncio.timeout(timeout_s):
        for query in UNFINISHED:
            while True:
                if await count(dsn, query) <= 0:
                    break
                await asyncio.sleep(0.5)


def _stat(pid: int) -> list[str]:
    """/proc/<pid>/stat from its third field (state) on."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (all its threads)."""
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of a server and its worker processes (PostgreSQL's backends): the living ones,
    and those that exited, which the kernel adds to the parent once it has reaped them."""
    fields = _stat(pid)
    total = cpu_seconds(pid) + (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if _stat(int(entry.name))[1] == str(pid):
                total += cpu_seconds(int(entry.name))
        except FileNotFoundError:  # exited meanwhile: counted in the parent once reaped
            continue
    return total


async def server_pids(infra: Infrastructure) -> dict[str, int]:
    """The PostgreSQL postmaster (the parent of any backend) and the Kafka broker."""
    async with connected(infra.dsn) as connection:
        # The backend's parent is read while the backend still exists.
        postmaster = int(_stat(await connection.fetchval("SELECT pg_backend_pid()"))[1])
    kafka = Path(infra.kafka.env["FLARE_LOCAL_DIR"]) / "run" / "kafka.pid"
    return {"postgres": postmaster, "kafka": int(kafka.read_text().split()[0])}  # "PID START"


def peak_rss_mib(pid: int) -> float:
    """The process's high-water mark of resident memory (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise ValueError(f"no VmHWM for pid {pid}")
