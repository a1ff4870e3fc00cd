"""A lean HTTP/1.1 keep-alive client for the load generator: a Python client (httpx) spends more
CPU per request than the servers under test, so on two cores it would measure itself."""

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    sent_at: float  # time.monotonic() when the request was written
    latency_s: float


class Connection:
    """One keep-alive connection; one request at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer

    @classmethod
    async def open(cls, host: str, port: int) -> "Connection":
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), TIMEOUT_S)
        return cls(reader, writer)

    async def request(self, raw: bytes) -> Response:
        sent_at = time.monotonic()
        self._writer.write(raw)
        status, body = await asyncio.wait_for(self._read_response(), TIMEOUT_S)
        return Response(status, body, sent_at, time.monotonic() - sent_at)

    async def _read_response(self) -> tuple[int, bytes]:
        status_line = await self._reader.readuntil(b"\r\n")
        status = int(status_line.split(b" ", 2)[1])
        length, chunked = 0, False
        while (line := await self._reader.readuntil(b"\r\n")) != b"\r\n":
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if not chunked:
            return status, await self._reader.readexactly(length)
        body = bytearray()
        while size := int((await self._reader.readuntil(b"\r\n")).split(b";")[0], 16):
            body += await self._reader.readexactly(size)
            await self._reader.readexactly(2)
        await self._reader.readuntil(b"\r\n")
        return status, bytes(body)

    def close(self) -> None:
        self._writer.close()


@dataclass
class Endpoint:
    """Where requests go and how each is made: `body(n)` is the n-th request's JSON."""

    url: str
    body: Callable[[int], bytes]
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def host_port(self) -> tuple[str, int]:
        parts = urlsplit(self.url)
        assert parts.hostname == "127.0.0.1", "the bench only ever targets loopback"
        return parts.hostname, parts.port or 80

    def request(self, n: int) -> bytes:
        parts = urlsplit(self.url)
        body = self.body(n)
        head = [
            f"POST {parts.path} HTTP/1.1",
            f"Host: {parts.netloc}",
            "Content-Type: application/json",
            f"Content-Length: {len(body)}",
            *(f"{name}: {value}" for name, value in self.headers.items()),
        ]
        return ("\r\n".join(head) + "\r\n\r\n").encode() + body
