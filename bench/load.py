"""Bounded load loops: closed (N connections as fast as the server answers) and open (a fixed
offered rate, whatever the server does). Every loop stops at a request count and a deadline."""

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from tqdm import tqdm

from bench.client import Connection, Endpoint, Response

# An open loop never holds more requests in flight than this (it records how far behind it fell).
MAX_IN_FLIGHT = 512
# An open loop reuses a connection only if it was idle for less than this: uvicorn closes
# keep-alive connections idle for 5 s, and a request sent on one just closed is an error that
# says nothing about the server under test.
IDLE_REUSE_S = 2.0


@dataclass
class LoadResult:
    responses: list[Response] = field(default_factory=list)
    errors: int = 0
    started_at: float = 0.0
    ended_at: float = 0.0
    behind_schedule_s: float = 0.0  # open loop only: the worst delay of a send after its slot

    @property
    def ok(self) -> list[Response]:
        return [r for r in self.responses if 200 <= r.status < 300]

    def statuses(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for response in self.responses:
            counts[str(response.status)] = counts.get(str(response.status), 0) + 1
        if self.errors:
            counts["error"] = self.errors
        return counts


class Progress:
    """A tqdm bar fed from a counter a few times a second, not on every request."""

    def __init__(self, label: str, total: int) -> None:
        self.done = 0
        self._bar = tqdm(total=total, desc=label, unit="req", leave=False, mininterval=0.5)
        self._task = asyncio.create_task(self._refresh())

    async def _refresh(self) -> None:
        while True:
            await asyncio.sleep(0.25)
            self._bar.update(self.done - self._bar.n)

    def close(self) -> None:
        self._task.cancel()
        self._bar.update(self.done - self._bar.n)
        self._bar.close()


async def closed_loop(
    endpoint: Endpoint,
    connections: int,
    max_requests: int,
    duration_s: float,
    label: str,
    then: Callable[[Response], Awaitable[None]] | None = None,
) -> LoadResult:
    """`connections` clients, each sending its next request when the last one is answered
    (and, with `then`, once `then` is done with the answer)."""
    result = LoadResult()
    progress = Progress(label, max_requests)
    next_n = 0
    host, port = endpoint.host_port

    async def client() -> None:
        nonlocal next_n
        connection = await Connection.open(host, port)
        try:
            while next_n < max_requests and time.monotonic() < deadline:
                n, next_n = next_n, next_n + 1
                try:
                    response = await connection.request(endpoint.request(n))
                except (OSError, TimeoutError, asyncio.IncompleteReadError):
                    result.errors += 1
                    connection.close()
                    connection = await Connection.open(host, port)
                else:
                    result.responses.append(response)
                    if then is not None:
                        await then(response)
                progress.done += 1
        finally:
            connection.close()

    result.started_at = time.monotonic()
    deadline = result.started_at + duration_s
    try:
        await asyncio.gather(*(client() for _ in range(connections)))
    finally:
        progress.close()
    result.ended_at = time.monotonic()
    return result


async def open_loop(
    endpoint: Endpoint,
    rate: float,
    duration_s: float,
    label: str,
    on_response: Callable[[int, Response], None] | None = None,
) -> LoadResult:
    """Request n is due at start + n / rate; a free connection sends it, or a new one opens."""
    result = LoadResult()
    total = int(rate * duration_s)
    progress = Progress(label, total)
    host, port = endpoint.host_port
    idle: list[tuple[float, Connection]] = []  # (when it was last answered, connection)
    in_flight = asyncio.Semaphore(MAX_IN_FLIGHT)

    async def connection_for_now() -> Connection:
        while idle:
            since, connection = idle.pop()
            if time.monotonic() - since < IDLE_REUSE_S:
                return connection
            connection.close()
        return await Connection.open(host, port)

    async def send(n: int) -> None:
        connection = await connection_for_now()
        try:
            response = await connection.request(endpoint.request(n))
        except (OSError, TimeoutError, asyncio.IncompleteReadError):
            result.errors += 1
            connection.close()
        else:
            idle.append((time.monotonic(), connection))
            result.responses.append(response)
            if on_response is not None:
                on_response(n, response)
        finally:
            progress.done += 1
            in_flight.release()

    tasks = []
    result.started_at = time.monotonic()
    for n in range(total):
        due = result.started_at + n / rate
        if (wait_s := due - time.monotonic()) > 0:
            await asyncio.sleep(wait_s)
        await in_flight.acquire()
        result.behind_schedule_s = max(result.behind_schedule_s, time.monotonic() - due)
        tasks.append(asyncio.create_task(send(n)))
    await asyncio.gather(*tasks)
    progress.close()
    result.ended_at = time.monotonic()
    for _, connection in idle:
        connection.close()
    return result
