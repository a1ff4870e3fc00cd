"""Live-stream fan-out inside one notifier replica: each client gets the events its filter wants.

The hub also keeps the last few events, so an SSE client that reconnects with `Last-Event-ID`
gets what it missed (if the id is still in the buffer).
"""

import asyncio
from collections import deque
from dataclasses import dataclass, field
from enum import Enum

from prometheus_client import CollectorRegistry, Counter, Gauge

from services.notifier.filters import EventFilter
from shared.events import CaseSnapshot


@dataclass(frozen=True)
class StreamEvent:
    id: str
    event_type: str
    case: CaseSnapshot | None  # None for events that are not about one case
    text: str  # the JSON a client receives


class End(Enum):
    """Put on a client's queue in place of events: its stream ends, and says why."""

    TOO_SLOW = "client too slow; reconnect"  # it fell too far behind: cut off, not waited for
    SHUTDOWN = "server stopping; reconnect"  # this replica is stopping: reconnect to another


@dataclass(eq=False)
class Subscriber:
    filter: EventFilter = field(default_factory=EventFilter)
    # Bounded by the hub: it cuts off a client `queue_size` events behind.
    queue: "asyncio.Queue[StreamEvent | End]" = field(default_factory=asyncio.Queue)


class StreamHub:
    def __init__(self, queue_size: int, replay_size: int, registry: CollectorRegistry) -> None:
        self._queue_size = queue_size
        self._closed = False
        self._subscribers: set[Subscriber] = set()
        self._recent: deque[StreamEvent] = deque(maxlen=replay_size)
        self._clients = Gauge(
            "flare_stream_clients", "Open live-stream connections.", registry=registry
        )
        self._sent = Counter(
            "flare_stream_events_total", "Events queued to live clients.", registry=registry
        )
        self._dropped = Counter(
            "flare_stream_clients_dropped_total",
            "Live clients dropped for falling behind.",
            registry=registry,
        )

    def subscribe(
        self, event_filter: EventFilter | None = None, last_event_id: str | None = None
    ) -> tuple[Subscriber, list[StreamEvent] | None]:
        """A new client, and the buffered events after `last_event_id` that its filter wants
        (None when that id is no longer buffered: the client missed an unknown number)."""
        subscriber = Subscriber(event_filter or EventFilter())
        if self._closed:
            subscriber.queue.put_nowait(End.SHUTDOWN)
            return subscriber, []
        # No await between reading the buffer and joining: no event can fall in between.
        missed = self._since(last_event_id, subscriber.filter) if last_event_id else []
        self._subscribers.add(subscriber)
        self._clients.set(len(self._subscribers))
        return subscriber, missed

    def _since(self, last_event_id: str, event_filter: EventFilter) -> list[StreamEvent] | None:
        recent = list(self._recent)
        for index, event in enumerate(recent):
            if event.id == last_event_id:
                after = recent[index + 1 :]
                return [
                    event for event in after if event_filter.matches(event.event_type, event.case)
                ]
        return None

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.discard(subscriber)
        self._clients.set(len(self._subscribers))

    def publish(self, event: StreamEvent) -> None:
        """Never waits: a client whose queue is full is cut off instead of slowing the others."""
        self._recent.append(event)
        for subscriber in list(self._subscribers):
            if not subscriber.filter.matches(event.event_type, event.case):
                continue
            if subscriber.queue.qsize() >= self._queue_size:
                self._drop(subscriber)
                continue
            subscriber.queue.put_nowait(event)
            self._sent.inc()

    def close(self) -> None:
        """End every stream after the events it has queued (the server is stopping); streams
        opened later end at once."""
        self._closed = True
        for subscriber in list(self._subscribers):
            self.unsubscribe(subscriber)
            subscriber.queue.put_nowait(End.SHUTDOWN)

    def _drop(self, subscriber: Subscriber) -> None:
        self.unsubscribe(subscriber)
        self._dropped.inc()
        while not subscriber.queue.empty():
            subscriber.queue.get_nowait()
        subscriber.queue.put_nowait(End.TOO_SLOW)
