"""notifier's HTTP routes: the live WebSocket stream of case events."""

import asyncio
from contextlib import suppress

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from services.notifier.hub import TOO_SLOW, StreamHub

router = APIRouter(prefix="/v1", tags=["streams"])
# RFC 6455 "Try Again Later": the client fell behind and should reconnect.
CLOSE_TOO_SLOW = 1013


async def _until_disconnect(websocket: WebSocket) -> None:
    with suppress(WebSocketDisconnect):
        while True:
            await websocket.receive_text()


@router.websocket("/ws")
async def case_events(websocket: WebSocket) -> None:
    """Every case event, as JSON `{id, type, time, data}`, from the moment of connection."""
    hub: StreamHub = websocket.app.state.hub
    await websocket.accept()
    subscriber = hub.subscribe()
    disconnected = asyncio.create_task(_until_disconnect(websocket))
    try:
        while True:
            next_message = asyncio.create_task(subscriber.queue.get())
            await asyncio.wait({next_message, disconnected}, return_when=asyncio.FIRST_COMPLETED)
            if disconnected.done():
                next_message.cancel()
                return
            message = next_message.result()
            if message is TOO_SLOW:
                await websocket.close(code=CLOSE_TOO_SLOW, reason="client too slow; reconnect")
                return
            await websocket.send_text(message)
    finally:
        hub.unsubscribe(subscriber)
        disconnected.cancel()
