"""The live streams' framing: a WebSocket pump and a Server-Sent Events generator over the hub.

Slow clients are cut off rather than slowing the others: a WebSocket closes with 1013 ("try
again later"), an SSE stream ends with a `dropped` event; both name the reason. When the
replica stops, a WebSocket closes with 1012 ("service restart") and an SSE stream simply ends:
browsers reconnect it on their own. When the client's token expires, a WebSocket closes with
1008 ("policy violation", reason "token expired") and an SSE stream ends with an `expired`
event: a token is the only grant, so a stream lasts no longer than its token. SSE sends a
comment every heartbeat interval while idle; WebSocket liveness uses protocol pings (uvicorn).
"""

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import suppress
from datetime import UTC, datetime

from fastapi import WebSocket, WebSocketDisconnect
from starlette.status import WS_1008_POLICY_VIOLATION

from services.notifier.hub import End, StreamEvent, StreamHub, Subscriber

# RFC 6455 close codes: "Try Again Later" (the client fell behind), "Service Restart".
CLOSE_CODES = {End.TOO_SLOW: 1013, End.SHUTDOWN: 1012}
# Browsers wait this long before reconnecting an EventSource.
SSE_RETRY_MS = 2000


async def _until_disconnect(websocket: WebSocket) -> None:
    with suppress(WebSocketDisconnect):
        while True:
            await websocket.receive_text()


def _seconds_until(moment: datetime) -> float:
    return (moment - datetime.now(UTC)).total_seconds()


async def pump_websocket(
    websocket: WebSocket, hub: StreamHub, subscriber: Subscriber, expires_at: datetime
) -> None:
    disconnected = asyncio.create_task(_until_disconnect(websocket))
    expired = asyncio.create_task(asyncio.sleep(_seconds_until(expires_at)))
    try:
        while True:
            next_message = asyncio.create_task(subscriber.queue.get())
            await asyncio.wait(
                {next_message, disconnected, expired}, return_when=asyncio.FIRST_COMPLETED
            )
            if disconnected.done() or expired.done():
                next_message.cancel()
                if not disconnected.done():
                    await websocket.close(code=WS_1008_POLICY_VIOLATION, reason="token expired")
                return
            event = next_message.result()
            if isinstance(event, End):
                await websocket.close(code=CLOSE_CODES[event], reason=event.value)
                return
            await websocket.send_text(event.text)
    finally:
        hub.unsubscribe(subscriber)
        disconnected.cancel()
        expired.cancel()


def sse_frame(event: StreamEvent) -> str:
    return f"id: {event.id}\nevent: {event.event_type}\ndata: {event.text}\n\n"


async def sse_events(
    hub: StreamHub,
    subscriber: Subscriber,
    missed: list[StreamEvent] | None,
    heartbeat_s: float,
    expires_at: datetime,
) -> AsyncIterator[str]:
    """The SSE body: what the client missed (or a `gap` event), then live events until the
    token expires."""
    try:
        yield f"retry: {SSE_RETRY_MS}\n\n"
        if missed is None:
            gap = {"detail": "Last-Event-ID is no longer buffered; reload the cases you need."}
            yield f"event: gap\ndata: {json.dumps(gap)}\n\n"
        for earlier in missed or ():
            yield sse_frame(earlier)
        while True:
            left_s = _seconds_until(expires_at)
            if left_s <= 0:
                yield f"event: expired\ndata: {json.dumps({'reason': 'token expired'})}\n\n"
                return
            try:
                event: StreamEvent | End = await asyncio.wait_for(
                    subscriber.queue.get(), min(heartbeat_s, left_s)
                )
            except TimeoutError:
                if left_s > heartbeat_s:
                    yield ": heartbeat\n\n"
                continue
            if event is End.TOO_SLOW:
                yield f"event: dropped\ndata: {json.dumps({'reason': event.value})}\n\n"
            if isinstance(event, End):
                return
            yield sse_frame(event)
    finally:
        hub.unsubscribe(subscriber)
