"""Live-stream fan-out inside one notifier replica: every connected client gets every event."""

import asyncio

from prometheus_client import CollectorRegistry, Counter, Gauge

# Put on a client's queue in place of events when it fell too far behind: close, do not block.
TOO_SLOW = None


class Subscriber:
    def __init__(self, queue_size: int) -> None:
        self.queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=queue_size)


class StreamHub:
    def __init__(self, queue_size: int, registry: CollectorRegistry) -> None:
        self._queue_size = queue_size
        self._subscribers: set[Subscriber] = set()
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

    def subscribe(self) -> Subscriber:
        subscriber = Subscriber(self._queue_size)
        self._subscribers.add(subscriber)
        self._clients.set(len(self._subscribers))
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.discard(subscriber)
        self._clients.set(len(self._subscribers))

    def publish(self, message: str) -> None:
        """Never waits: a client whose queue is full is cut off instead of slowing the others."""
        for subscriber in list(self._subscribers):
            try:
                subscriber.queue.put_nowait(message)
                self._sent.inc()
            except asyncio.QueueFull:
                self._drop(subscriber)

    def _drop(self, subscriber: Subscriber) -> None:
        self.unsubscribe(subscriber)
        self._dropped.inc()
        while not subscriber.queue.empty():
            subscriber.queue.get_nowait()
        subscriber.queue.put_nowait(TOO_SLOW)
