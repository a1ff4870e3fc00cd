"""The live streams' framing: a WebSocket pump and a Server-Sent Events generator over the hub.

Slow clients are cut off rather than slowing the others: a WebSocket closes with 1013 ("try
again later"), an SSE stream ends with a `dropped` event; both name the reason. When the
replica stops, a WebSocket closes with 1012 ("service restart") and an SSE stream simply ends:
browsers reconnect it on their own. SSE sends a comment every heartbeat interval while idle;
WebSocket liveness uses protocol pings (uvicorn).
"""

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import suppress

from fastapi import WebSocket, WebSocketDisconnect

from services.notifier.hub import End, StreamEvent, StreamHub, Subscriber

# RFC 6455 close codes: "Try Again Later" (the client fell behind), "Service Restart".
CLOSE_CODES = {End.TOO_SLOW: 1013, End.SHUTDOWN: 1012}
# Browsers wait this long before reconnecting an EventSource.
SSE_RETRY_MS = 2000


async def _until_disconnect(websocket: WebSocket) -> None:
    with suppress(WebSocketDisconnect):
        while True:
            await websocket.receive_text()


async def pump_websocket(websocket: WebSocket, hub: StreamHub, subscriber: Subscriber) -> None:
    disconnected = asyncio.create_task(_until_disconnect(websocket))
    try:
        while True:
            next_message = asyncio.create_task(subscriber.queue.get())
            await asyncio.wait({next_message, disconnected}, return_when=asyncio.FIRST_COMPLETED)
            if disconnected.done():
                next_message.cancel()
                return
            event = next_message.result()
            if isinstance(event, End):
                await websocket.close(code=CLOSE_CODES[event], reason=event.value)
                return
            await websocket.send_text(event.text)
    finally:
        hub.unsubscribe(subscriber)
        disconnected.cancel()


def sse_frame(event: StreamEvent) -> str:
    return f"id: {event.id}\nevent: {event.event_type}\ndata: {event.text}\n\n"


async def sse_events(
    hub: StreamHub,
    subscriber: Subscriber,
    missed: list[StreamEvent] | None,
    heartbeat_s: float,
) -> AsyncIterator[str]:
    """The SSE body: what the client missed (or a `gap` event), then live events."""
    try:
        yield f"retry: {SSE_RETRY_MS}\n\n"
        if missed is None:
            gap = {"detail": "Last-Event-ID is no longer buffered; reload the cases you need."}
            yield f"event: gap\ndata: {json.dumps(gap)}\n\n"
        for earlier in missed or ():
            yield sse_frame(earlier)
        while True:
            try:
                event: StreamEvent | End = await asyncio.wait_for(
                    subscriber.queue.get(), heartbeat_s
                )
            except TimeoutError:
                yield ": heartbeat\n\n"
                continue
            if event is End.TOO_SLOW:
                yield f"event: dropped\ndata: {json.dumps({'reason': event.value})}\n\n"
            if isinstance(event, End):
                return
            yield sse_frame(event)
    finally:
        hub.unsubscribe(subscriber)
