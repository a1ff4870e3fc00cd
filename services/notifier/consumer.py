"""notifier's live-stream reader: every replica reads all of the cases topic from its end.

No consumer group: each replica must see every event for its own clients (see DESIGN "Scaling
out"), so nothing is committed. Poison is logged and skipped here; dead-lettering belongs to
the shared-group delivery consumer, which would otherwise see it once per replica.
"""

import asyncio
import json

from aiokafka import AIOKafkaConsumer
from prometheus_client import CollectorRegistry

from services.notifier.hub import StreamHub
from services.notifier.settings import NotifierSettings
from shared.kafka import ConsumerLoop, Envelope

ASSIGNMENT_TIMEOUT_S = 10.0


class CaseStream:
    def __init__(
        self, settings: NotifierSettings, hub: StreamHub, registry: CollectorRegistry
    ) -> None:
        self._settings, self._hub = settings, hub
        # Set once the reader holds every partition at its end: events after that reach clients.
        self.positioned = asyncio.Event()
        self.loop = ConsumerLoop(
            "notifier_stream",
            self._make_consumer,
            self._handle,
            registry,
            commit=False,
            on_started=self._position,
        )

    def _make_consumer(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            bootstrap_servers=self._settings.kafka_bootstrap_servers,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="latest",
            client_id="flare-notifier-stream",
        )

    async def _position(self, consumer: AIOKafkaConsumer) -> None:
        self.positioned.clear()
        topic = self._settings.topics.cases
        # Without a group, subscribing assigns every partition once metadata arrives.
        consumer.subscribe([topic])
        deadline = asyncio.get_running_loop().time() + ASSIGNMENT_TIMEOUT_S
        while not consumer.assignment():
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError(
                    f"no partitions of {topic} after {ASSIGNMENT_TIMEOUT_S}s: does the topic exist?"
                )
            await asyncio.sleep(0.05)
        for partition in consumer.assignment():
            await consumer.position(partition)  # resolves "latest" now, not at the first fetch
        self.positioned.set()

    async def _handle(self, envelope: Envelope) -> None:
        self._hub.publish(
            json.dumps(
                {
                    "id": str(envelope.id),
                    "type": envelope.event_type,
                    "time": envelope.time.isoformat(),
                    "data": envelope.data,
                }
            )
        )

    async def ready(self) -> None:
        if not self.positioned.is_set():
            raise RuntimeError("the case stream is not positioned yet")
