"""The notifier's test peers: case events on the topic, a webhook receiver, an SMTP server,
the notifier app served by uvicorn on a real port, and a deadline-bound wait."""

import asyncio
import ipaddress
import json
import os
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
import yaml
from aiokafka import AIOKafkaProducer
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Session
from aiosmtpd.smtp import Envelope as SmtpEnvelope
from fastapi import FastAPI, Request, Response

from shared.auth import Role, mint_token
from shared.events import CaseEvent, CaseSnapshot, CaseStatus, Category, Product, Severity
from shared.kafka import Envelope
from shared.settings import LOCAL_JWT_SECRET
from tests.conftest import FlareEnv
from tests.e2e.processes import free_port
from tests.integration.conftest import execute, serving
from tests.kafka_reader import publish_messages


def token(role: Role = Role.RESPONDER, subject: str = "ada") -> str:
    """A responder token signed with the default secret (the one tests run with)."""
    return mint_token(LOCAL_JWT_SECRET, subject, role, timedelta(minutes=10))


def bearer(role: Role = Role.RESPONDER) -> dict[str, str]:
    return {"authorization": f"Bearer {token(role)}"}


def snapshot(**overrides: Any) -> CaseSnapshot:
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        "case_id": uuid4(),
        "status": CaseStatus.OPEN,
        "title": "Coordinated spam wave on reshared posts",
        "category": Category.COMMUNITY_STANDARDS,
        "product": Product.FACEBOOK,
        "correlation_key": "dedup:test",
        "created_at": now,
        "updated_at": now,
        "severity": Severity.SEV2,
        "score": 70,
        "team": "Global Operations",
        "assignee": "ada",
    }
    return CaseSnapshot.model_validate(values | overrides)


def case_envelope(
    event_type: str, case: CaseSnapshot, event_id: UUID | None = None, detail: str | None = None
) -> Envelope:
    body = CaseEvent(case=case, actor="router", detail=detail)
    return Envelope.new(event_type, "/flare/router", body, event_id=event_id)


async def publish(env: FlareEnv, *envelopes: Envelope, key: str | None = None) -> None:
    """Case events straight onto the test's cases topic, keyed by case id."""
    producer = AIOKafkaProducer(bootstrap_servers=env.kafka)
    await producer.start()
    try:
        for envelope in envelopes:
            case_key = key or str(envelope.data.get("case", {}).get("case_id", envelope.id))
            message_key, value, headers = envelope.to_message(case_key)
            await producer.send_and_wait(
                env.topics.cases, value=value, key=message_key, headers=headers
            )
    finally:
        await producer.stop()


async def publish_raw(env: FlareEnv, value: bytes, headers: list[tuple[str, bytes]]) -> None:
    """One message onto the test's cases topic exactly as given (poison, say)."""
    await publish_messages(env.kafka, env.topics.cases, [(b"poison", value, headers)])


def escalation_admin(env: FlareEnv, *arguments: str) -> str:
    """`python -m services.notifier escalation ...`, as an operator would run it: its output."""
    done = subprocess.run(
        [sys.executable, "-m", "services.notifier", "escalation", *arguments],
        env={**os.environ, "FLARE_DATABASE_URL": env.database_url},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def set_policy(env: FlareEnv, tmp_path: Path, team: str, steps: list[dict[str, Any]]) -> str:
    """`escalation set TEAM FILE`."""
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(yaml.safe_dump({"steps": steps}))
    return escalation_admin(env, "set", team, str(policy_file))


QUEUE_DELIVERIES = """
INSERT INTO notifier.deliveries (id, event_id, destination, case_id, kind, channel, target,
    event_type, event_time, body, status, next_attempt_at)
SELECT gen_random_uuid(), gen_random_uuid(), 'chat:' || $3, gen_random_uuid(), $4, 'chat',
    $3, 'flare.escalation.page', now(), jsonb_build_object('text', repeat('x', 1000)), $2,
    now() - make_interval(secs => $5)
FROM generate_series(1, $1)
"""


async def queue_deliveries(
    env: FlareEnv,
    count: int,
    status: str = "pending",
    target: str = "https://chat.invalid/x",
    kind: str = "page",
    overdue_s: float = 1.0,
) -> None:
    """`count` chat deliveries to `target` (pages unless `kind` says otherwise), due `overdue_s`
    ago (or in `status`), each of its own case."""
    await execute(env, QUEUE_DELIVERIES, count, status, target, kind, overdue_s)


async def wait_until(
    condition: Callable[[], Awaitable[bool]], timeout_s: float = 15.0, what: str = "condition"
) -> None:
    """Poll `condition` until it holds; TimeoutError naming `what` at the deadline."""
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                if await condition():
                    return
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"{what} did not hold within {timeout_s}s") from None


async def wait_ready(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as client:

        async def ready() -> bool:
            return (await client.get("/readyz")).status_code == 200

        await wait_until(ready, 30, "readiness")


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A webhook and chat receiver: records every request; fails the first `failures`."""

    failures: int = 0
    status_on_failure: int = 503
    requests: list[Received] = field(default_factory=list)
    url: str = ""
    # While cleared, requests are recorded but not answered (a page "in flight").
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    # Seconds before answering: longer than the sender's timeout makes a slow target.
    delay_s: float = 0.0
    # Requests answered with a success while their sender still waited for the answer.
    delivered: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.gate.set()

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/{path:path}")
        async def receive(path: str, request: Request) -> Response:
            received = Received(path, dict(request.headers), await request.body())
            self.requests.append(received)
            await self.gate.wait()
            await asyncio.sleep(self.delay_s)
            if self.failures > 0:
                self.failures -= 1
                return Response(status_code=self.status_on_failure)
            if not await request.is_disconnected():
                self.delivered.append(received)
            return Response(status_code=204)

        return app


@asynccontextmanager
async def receiver(failures: int = 0) -> AsyncIterator[Receiver]:
    peer = Receiver(failures=failures)
    async with serving(peer.app()) as url:
        peer.url = url
        yield peer


class Mailbox:
    """aiosmtpd's handler: keeps every message it is sent, after `delay_s` (a stalling server)."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.delay_s = 0.0

    async def handle_DATA(  # noqa: N802 (aiosmtpd's hook name)
        self, server: SMTP, session: Session, envelope: SmtpEnvelope
    ) -> str:
        assert isinstance(envelope.content, bytes)
        await asyncio.sleep(self.delay_s)
        self.messages.append(message_from_bytes(envelope.content))
        return "250 Message accepted for delivery"


def self_signed_certificate(directory: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A certificate for `host` (an address or a DNS name) and its key, made with the openssl
    command line."""
    certificate, key = directory / f"{host}.crt", directory / f"{host}.key"
    request = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
    try:
        ipaddress.ip_address(host)
        kind = "IP"
    except ValueError:
        kind = "DNS"
    subject = ["-subj", f"/CN={host}", "-addext", f"subjectAltName={kind}:{host}"]
    subprocess.run(
        ["openssl", *request, *subject, "-keyout", str(key), "-out", str(certificate)],
        check=True,
        capture_output=True,
    )
    return certificate, key


@asynccontextmanager
async def smtp_server(
    starttls_certificate: tuple[Path, Path] | None = None,
) -> AsyncIterator[tuple[Mailbox, int]]:
    """aiosmtpd on a free port; with a certificate it offers and requires STARTTLS."""
    mailbox, port = Mailbox(), free_port()
    tls: dict[str, Any] = {}
    if starttls_certificate is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*starttls_certificate)
        tls = {"tls_context": context, "require_starttls": True}
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, **tls)
    await asyncio.to_thread(controller.start)
    try:
        yield mailbox, port
    finally:
        await asyncio.to_thread(controller.stop)
