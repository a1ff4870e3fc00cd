"""Outbound adapters: signed webhooks (Standard Webhooks), Slack-compatible chat, SMTP email."""

import asyncio
import json
import re
import socket
import ssl
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any
from urllib.parse import quote, urlsplit
from uuid import UUID

import aiohttp
import aiosmtplib
from standardwebhooks.webhooks import Webhook
from yarl import URL

from services.notifier.egress import TargetRefused, check_addresses, target_host
from services.notifier.settings import NotifierSettings

# What a target URL's path and query may carry as they are: RFC 3986's reserved characters, and
# "%" of the escapes already made (letters, digits and "-._~" always). Anything else, a space
# or a non-ASCII letter, is percent-encoded as UTF-8.
AS_GIVEN = "!#$%&'()*+,/:;=?@[]~"


# Shorter than this, a path or query holds no credential, and cutting it wherever it appears
# would garble the rest (a traceback's file paths, say).
SECRET_LENGTH = 8
# A URL's origin, then the path, query or fragment that follows it.
URL_PATH = re.compile(r"(https?://[^/?#\s'\"]+)[/?#][^\s'\"]*")


@dataclass(frozen=True)
class Pinned:
    """A request to a target URL at a checked address."""

    url: URL  # the checked address, with the target's port, path and query as given
    host: str  # the Host header: the target's host, and its port unless the default
    server_name: str | None  # TLS's server name (SNI and the certificate check), for https


def pinned(target: str, address: str) -> Pinned:
    url, parts = URL(target), urlsplit(target)
    path_and_query = quote(parts.path or "/", safe=AS_GIVEN)
    if parts.query:
        path_and_query += "?" + quote(parts.query, safe=AS_GIVEN)
    origin = URL.build(scheme=url.scheme, host=address, port=url.explicit_port)
    host = str(url.host_port_subcomponent)
    server_name = url.raw_host if url.scheme == "https" else None
    return Pinned(URL(f"{origin}{path_and_query}", encoded=True), host, server_name)


def redacted(channel: str, target: str, text: str) -> str:
    """Text about a send, to store, list or log: without the credential a webhook's or chat's
    URL may carry (an email address carries none)."""
    return text if channel == "email" else without_credentials(text, target)


def shown_error(channel: str, target: str, text: str) -> str:
    """A send's error as stored, listed and logged: redacted, then cut to 500 characters (in
    that order: a cut could leave part of the URL that no longer matches it whole)."""
    return redacted(channel, target, text)[:500]


def without_credentials(text: str, target: str) -> str:
    """`text` without the target's path and query, as given or as sent (percent-encoded), whole
    or apart (any long enough to hold a credential), then with every URL left in it cut to its
    origin (errors name the URL sent to: the target's, or the address it was pinned to)."""
    parts = urlsplit(target)
    path, query = parts.path, parts.query
    secrets = {path, quote(path, safe=AS_GIVEN), query, quote(query, safe=AS_GIVEN)}
    if query:
        secrets |= {
            f"{path}?{query}",
            f"{quote(path, safe=AS_GIVEN)}?{quote(query, safe=AS_GIVEN)}",
        }
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= SECRET_LENGTH:
            text = text.replace(secret, "/…" if secret.startswith("/") else "…")
    return URL_PATH.sub(r"\1/…", text)


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    status_code: int | None = None
    error: str | None = None
    # True when retrying cannot help (the target is refused): the delivery goes dead at once.
    final: bool = False


def sign(secret: str, message_id: str, sent_at: datetime, payload: str) -> dict[str, str]:
    """The three Standard Webhooks headers for one payload."""
    signature = Webhook(secret).sign(msg_id=message_id, timestamp=sent_at, data=payload)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": signature,
    }


class Senders:
    """The HTTP client is aiohttp's, not httpx's: a third of the CPU per POST (ADR 0014)."""

    def __init__(self, settings: NotifierSettings) -> None:
        self._settings = settings
        # The system's trust store, read now: SSL_CERT_FILE or SSL_CERT_DIR name another.
        self._tls = ssl.create_default_context()
        # Made at the first POST: aiohttp binds a session to the running event loop.
        self._http: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def send(
        self, channel: str, target: str, body: dict[str, Any], delivery_id: UUID, secret: str | None
    ) -> Outcome:
        """One attempt. Its error is stored, listed and logged: a webhook's or chat's path and
        query (a credential, often) are cut out of it, as from the target shown (aiohttp names
        the URL in some errors)."""
        outcome = await self._attempt(channel, target, body, delivery_id, secret)
        if outcome.error is None:
            return outcome
        return replace(outcome, error=shown_error(channel, target, outcome.error))

    async def _attempt(
        self, channel: str, target: str, body: dict[str, Any], delivery_id: UUID, secret: str | None
    ) -> Outcome:
        # One timeout for the whole attempt, so that a claim's lease outlasts it (ADR 0015).
        # Each step keeps its own as well: cancelled, aiosmtplib still says QUIT and waits for
        # the answer, for at most one more timeout.
        try:
            async with asyncio.timeout(self._settings.delivery_timeout_s):
                if channel == "email":
                    return await self._email(target, body)
                addresses = await self.resolve_checked(target)
                payload = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
                headers = {"content-type": "application/json", "user-agent": "flare-notifier/1"}
                if secret is not None:
                    headers |= sign(secret, str(delivery_id), datetime.now(UTC), payload)
                status = await self.post_to_first_reachable(
                    target, addresses, payload.encode(), headers
                )
        except TargetRefused as refused:
            return Outcome(False, error=f"refused: {refused}", final=True)
        except aiohttp.InvalidURL as error:  # before ClientError, which it also is
            return Outcome(False, error=f"unsendable: {error}", final=True)
        # Retried, not given up at once: a DNS outage or a resolver's SERVFAIL passes, and its
        # pages must still go out. A name that never resolves is dead after the retries.
        except socket.gaierror as error:  # before OSError, which it also is
            return Outcome(False, error=f"does not resolve: {error}")
        # Before ValueError: a certificate that fails the check is one too, and a renewed one
        # may pass at the next attempt.
        except (aiohttp.ClientError, aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            detail = str(error) or f"no answer within {self._settings.delivery_timeout_s} s"
            return Outcome(False, error=f"{type(error).__name__}: {detail}")
        except ValueError as error:  # a message no retry can fix, e.g. a malformed address
            return Outcome(False, error=f"unsendable: {error}", final=True)
        return Outcome(200 <= status < 300, status)

    async def post_to_first_reachable(
        self, target: str, addresses: list[str], content: bytes, headers: dict[str, str]
    ) -> int:
        """POST to the checked addresses in the resolver's order, going on to the next only
        when one cannot be connected to at all (refused, unreachable): a host with one address
        down still gets its page. A TLS failure, a timeout or an answer ends the attempt."""
        for address in addresses[:-1]:
            try:
                return await self.post_pinned(target, address, content, headers)
            except aiohttp.ClientConnectorError as error:
                if isinstance(error, aiohttp.ClientSSLError):
                    raise
        return await self.post_pinned(target, addresses[-1], content, headers)

    async def post_pinned(
        self, target: str, address: str, content: bytes, headers: dict[str, str]
    ) -> int:
        """POST to the address that was checked, not to a second DNS answer: a rebinding DNS
        server cannot swap in an internal address between the check and the connection.
        The Host header and TLS (SNI and certificate) still name the URL's host.

        The answer's body is not read: a small one has come with the headers and the
        connection is kept; a large or slow one closes the connection instead of being held.
        Returns the answer's status."""
        request = pinned(target, address)
        if self._http is None:
            timeout = aiohttp.ClientTimeout(total=self._settings.delivery_timeout_s)
            self._http = aiohttp.ClientSession(timeout=timeout, trust_env=False)
        async with self._http.post(
            request.url,
            data=content,
            headers=headers | {"host": request.host},
            allow_redirects=False,
            ssl=self._tls,
            server_hostname=request.server_name,
        ) as response:
            return response.status

    async def check_target(self, url: str) -> None:
        """TargetRefused unless the URL's host resolves to addresses Flare may call (SSRF)."""
        try:
            await self.resolve_checked(url)
        except socket.gaierror as error:
            raise TargetRefused(f"{target_host(url)[0]} does not resolve: {error}") from error

    async def resolve_checked(self, url: str) -> list[str]:
        """The addresses to connect to, in the resolver's order, once every one the host
        resolves to is allowed. A failed lookup raises `socket.gaierror`."""
        host, port = target_host(url)
        async with asyncio.timeout(self._settings.delivery_timeout_s):
            loop = asyncio.get_running_loop()
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        addresses = [str(info[4][0]) for info in infos]
        check_addresses(host, addresses, self._settings.egress_allowed_networks)
        return addresses

    async def _email(self, address: str, body: dict[str, Any]) -> Outcome:
        settings = self._settings
        message = EmailMessage()
        message["From"] = settings.smtp_sender
        message["To"] = address
        message["Subject"] = body["subject"]
        message.set_content(body["text"])
        password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
        await aiosmtplib.send(
            message,
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            start_tls=settings.smtp_starttls,
            use_tls=settings.smtp_use_tls,
            username=settings.smtp_username,
            password=password,
            cert_bundle=settings.smtp_ca_file,
            timeout=settings.delivery_timeout_s,
        )
        return Outcome(True, 250)
