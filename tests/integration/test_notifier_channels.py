"""Email through a real SMTP server (aiosmtpd, with and without STARTTLS), Slack-compatible chat,
and guarantee 6: nothing sensitive in any channel's body, only the console link and a warning."""

import asyncio
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from email.message import Message
from pathlib import Path
from typing import Any
from uuid import uuid4

import aiohttp
import httpx
import pytest

from services.notifier.app import create_app
from services.notifier.senders import Senders
from services.notifier.settings import NotifierSettings
from services.notifier.templates import CONTENT_WARNING
from shared.auth import Role
from shared.events import Category, EventType, Severity
from tests.conftest import FlareEnv
from tests.integration.conftest import running
from tests.integration.notifier_peers import (
    Mailbox,
    Receiver,
    bearer,
    case_envelope,
    publish,
    receiver,
    self_signed_certificate,
    smtp_server,
    snapshot,
    wait_until,
)

EVIDENCE_URL = "https://cdn.example/evidence/graphic-123.mp4"


def settings(env: FlareEnv, smtp_port: int, **overrides: Any) -> NotifierSettings:
    values: dict[str, Any] = {
        "egress_allowed_networks": ["127.0.0.1/32"],
        "delivery_poll_interval_s": 0.05,
        "smtp_port": smtp_port,
        "console_url": "https://console.flare.example",
    }
    return env.settings(NotifierSettings, **(values | overrides))


async def subscribe_all(client: Any, peer: Receiver) -> None:
    for channel, target in (
        ("webhook", f"{peer.url}/hook"),
        ("chat", f"{peer.url}/chat"),
        ("email", "oncall@flare.example"),
    ):
        response = await client.post(
            "/v1/subscriptions",
            json={"channel": channel, "target": target},
            headers=bearer(Role.LEAD),
        )
        assert response.status_code == 201, response.text


async def everything_arrived(peer: Receiver, mailbox: Mailbox, requests: int, mails: int) -> None:
    async def arrived() -> bool:
        return len(peer.requests) >= requests and len(mailbox.messages) >= mails

    await wait_until(arrived, what=f"{requests} requests and {mails} emails")


def text_of(message: Message) -> str:
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return f"{message['Subject']}\n{payload.decode()}"


async def test_email_and_chat_carry_severity_title_team_and_link(flare_env: FlareEnv) -> None:
    case = snapshot(severity=Severity.SEV1, team="Legal")
    async with smtp_server() as (mailbox, port), receiver() as peer:
        app = create_app(settings(flare_env, port))
        async with running(app) as client:
            await subscribe_all(client, peer)
            await publish(flare_env, case_envelope(EventType.CASE_CREATED, case))
            await everything_arrived(peer, mailbox, 2, 1)

            async def logged() -> bool:
                response = await client.get(
                    "/v1/deliveries", params={"channel": "email"}, headers=bearer()
                )
                items = response.json()["items"]
                return [item["status"] for item in items] == ["delivered"]

            await wait_until(logged, what="the email in the delivery log")
            chats = await client.get("/v1/deliveries", params={"channel": "chat"}, headers=bearer())
            # A chat URL carries its credential: the log shows its host only.
            assert chats.json()["items"][0]["target"] == f"{peer.url}/…"

    [mail] = mailbox.messages
    assert mail["To"] == "oncall@flare.example"
    assert mail["Subject"] == f"[Flare SEV1] New case: {case.title}"
    assert f"https://console.flare.example/cases/{case.case_id}" in text_of(mail)
    [chat] = [request.json() for request in peer.requests if request.path == "chat"]
    assert chat["text"].startswith(f"[SEV1] New case: {case.title} (Legal)")
    assert chat["blocks"][0]["type"] == "header"
    assert "webhook-signature" not in [
        name for request in peer.requests if request.path == "chat" for name in request.headers
    ]


async def test_email_goes_through_starttls_when_configured(
    flare_env: FlareEnv, tmp_path: Path
) -> None:
    certificate = self_signed_certificate(tmp_path)
    async with smtp_server(starttls_certificate=certificate) as (mailbox, port):
        tls = {"smtp_starttls": True, "smtp_ca_file": str(certificate[0])}
        async with running(create_app(settings(flare_env, port, **tls))) as client:
            response = await client.post(
                "/v1/subscriptions",
                json={"channel": "email", "target": "lead@flare.example"},
                headers=bearer(Role.ADMIN),
            )
            assert response.status_code == 201
            await publish(flare_env, case_envelope(EventType.CASE_CREATED, snapshot()))

            async def mailed() -> bool:
                return len(mailbox.messages) == 1

            await wait_until(mailed, what="the email over STARTTLS")


async def test_an_smtp_server_that_stalls_fails_the_attempt_within_its_lease() -> None:
    """Cancelled at the attempt's timeout, aiosmtplib still says QUIT and waits for the answer:
    its own timeout bounds that wait, so the attempt ends before its claim's lease (ADR 0015)
    and no other slot sends the same email meanwhile."""
    # The attempt ends within two timeouts (its own, then QUIT's), the lease is three.
    settings = NotifierSettings(port=0, delivery_timeout_s=2)
    async with smtp_server() as (mailbox, port):
        mailbox.delay_s = 10  # longer than the lease: the server answers nothing before it
        senders = Senders(settings.model_copy(update={"smtp_port": port}))
        body = {"subject": "SEV1 · Crisis", "text": "A case needs you."}
        async with asyncio.timeout(settings.delivery_lease_s):
            outcome = await senders.send("email", "oncall@flare.example", body, uuid4(), None)
    assert not outcome.delivered
    assert outcome.error is not None
    assert "Timeout" in outcome.error
    assert not outcome.final, "retried later"


async def test_no_outgoing_body_on_any_channel_carries_sensitive_content(
    flare_env: FlareEnv,
) -> None:
    secret_title = f"Graphic self-harm video involving a minor, see {EVIDENCE_URL}"
    sensitive = snapshot(title=secret_title, sensitive=True)
    by_category = snapshot(title=secret_title, category=Category.LAW_ENFORCEMENT)
    note = f"Evidence: {EVIDENCE_URL} — the child's school is named in the clip"
    async with smtp_server() as (mailbox, port), receiver() as peer:
        app_settings = settings(flare_env, port, sensitive_categories=["law_enforcement"])
        async with running(create_app(app_settings)) as client:
            await subscribe_all(client, peer)
            await publish(
                flare_env,
                case_envelope(EventType.CASE_CREATED, sensitive, detail=note),
                case_envelope(EventType.CASE_NOTE_ADDED, by_category, detail=note),
            )
            await everything_arrived(peer, mailbox, 4, 2)

    bodies = [request.body.decode() for request in peer.requests]
    bodies += [text_of(message) for message in mailbox.messages]
    assert len(bodies) == 6
    for body in bodies:
        assert "cdn.example" not in body
        assert "self-harm" not in body
        assert "school" not in body
        assert "/cases/" in body
        assert CONTENT_WARNING in body.replace("\\n", "\n")


async def test_webhooks_connect_to_the_checked_address_and_name_the_host() -> None:
    """DNS rebinding: the address that passed the SSRF check is the one connected to."""
    settings = NotifierSettings(port=0, egress_allowed_networks=["127.0.0.1/32"])
    senders = Senders(settings)
    async with receiver() as peer:
        port = httpx.URL(peer.url).port
        try:
            status = await senders.post_pinned(
                f"http://hooks.partner.example:{port}/flare", "127.0.0.1", b"{}", {}
            )
        finally:
            await senders.close()
    assert status == 204
    assert [(r.path, r.headers["host"]) for r in peer.requests] == [
        ("flare", f"hooks.partner.example:{port}")
    ]


async def test_a_target_whose_first_address_refuses_is_sent_to_its_next_one() -> None:
    """A host with one of its addresses down still gets its page; one with all of them down
    fails the attempt (retried later)."""
    senders = Senders(NotifierSettings(port=0))
    async with receiver() as peer:  # on 127.0.0.1 alone: nothing answers on 127.0.0.2
        port = httpx.URL(peer.url).port
        target = f"http://hooks.partner.example:{port}/flare"
        try:
            status = await senders.post_to_first_reachable(
                target, ["127.0.0.2", "127.0.0.1"], b"{}", {}
            )
            with pytest.raises(aiohttp.ClientConnectorError):
                await senders.post_to_first_reachable(target, ["127.0.0.2", "127.0.0.3"], b"{}", {})
        finally:
            await senders.close()
    assert status == 204
    assert [request.path for request in peer.requests] == ["flare"]


@asynccontextmanager
async def tls_receiver(certificate: tuple[Path, Path]) -> AsyncIterator[tuple[int, list[str]]]:
    """An HTTPS peer answering 204 to every POST; records each request's TLS server name (SNI)
    and its Host header."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    seen: list[str] = []

    def server_name(_: ssl.SSLObject, name: str | None, __: ssl.SSLContext) -> None:
        seen.append(f"sni {name}")

    context.sni_callback = server_name

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode().lower().split("\r\n")
        fields = dict(line.split(": ", 1) for line in head[1:] if line)
        await reader.readexactly(int(fields["content-length"]))
        seen.append(f"host {fields['host']}")
        writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=context)
    async with server:
        yield server.sockets[0].getsockname()[1], seen


async def test_https_webhooks_check_the_certificate_of_the_urls_host_at_the_checked_address(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Connected to the pinned address, TLS still names and verifies the URL's host."""
    certificate = self_signed_certificate(tmp_path, "hooks.partner.example")
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))  # trusted by the sender
    senders = Senders(NotifierSettings(port=0))
    async with tls_receiver(certificate) as (port, seen):
        try:
            status = await senders.post_pinned(
                f"https://hooks.partner.example:{port}/flare", "127.0.0.1", b"{}", {}
            )
            with pytest.raises(aiohttp.ClientConnectorCertificateError):
                await senders.post_pinned(
                    f"https://other.example:{port}/flare", "127.0.0.1", b"{}", {}
                )
        finally:
            await senders.close()
    assert status == 204
    assert seen[:2] == ["sni hooks.partner.example", f"host hooks.partner.example:{port}"]
    assert seen[2:] == ["sni other.example"], "refused on the certificate, before any request"


async def test_a_certificate_that_fails_the_check_is_retried_not_given_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The receiver's certificate names another host (a renewal gone wrong): the attempt fails
    and the delivery stays due for its next attempt, as for any failed connection."""
    certificate = self_signed_certificate(tmp_path, "hooks.partner.example")
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    senders = Senders(NotifierSettings(port=0, egress_allowed_networks=["127.0.0.1/32"]))
    async with tls_receiver(certificate) as (port, seen):
        try:
            outcome = await senders.send(
                "webhook", f"https://127.0.0.1:{port}/flare", {"text": "x"}, uuid4(), None
            )
        finally:
            await senders.close()
    assert not outcome.delivered
    assert not outcome.final
    assert "certificate" in str(outcome.error).lower()
    assert seen == ["sni None"], "no request sent"
