"""notifier's Kafka loops: the live-stream reader (every replica) and the delivery consumer.

The live-stream reader has no consumer group: each replica must see every event for its own
clients (see DESIGN "Scaling out"), so nothing is committed. Poison is logged and skipped
there; dead-lettering belongs to the shared-group delivery consumer, which would otherwise see
it once per replica. The delivery consumer queues deliveries and moves escalation timers,
then commits; each event is handled by one replica of the group.
"""

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from datetime import datetime

from aiokafka import AIOKafkaConsumer
from prometheus_client import CollectorRegistry, Histogram
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.notifier.hub import StreamEvent, StreamHub
from services.notifier.service import DestinationsCache, delivery_epoch_of, record_case_events
from services.notifier.settings import NotifierSettings
from shared.events import CaseEvent, is_case_event
from shared.kafka import ConsumerLoop, Envelope, EventProducer, group_consumer

ASSIGNMENT_TIMEOUT_S = 10.0


class CaseStream:
    def __init__(
        self, settings: NotifierSettings, hub: StreamHub, registry: CollectorRegistry
    ) -> None:
        self._settings, self._hub = settings, hub
        self._alert_latency = Histogram(
            "flare_alert_latency_seconds",
            "From a report's acceptance by intake to its alert on the live streams.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=registry,
        )
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
            **self._settings.kafka.client_args(),
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

    async def _handle(self, envelopes: Sequence[Envelope]) -> None:
        [envelope] = envelopes  # one at a time: publishing to the streams cannot be undone
        about_a_case = is_case_event(envelope.event_type)
        text = json.dumps(
            {
                "id": str(envelope.id),
                "type": envelope.event_type,
                "time": envelope.time.isoformat(),
                "data": envelope.data,
            }
        )
        body = envelope.body(CaseEvent) if about_a_case else None
        case = body.case if body else None
        self._hub.publish(StreamEvent(str(envelope.id), envelope.event_type, case, text))
        if body and body.received_at:
            # From intake's 202 to the alert on the responders' streams of this replica.
            self._alert_latency.observe(max(0.0, time.time() - body.received_at.timestamp()))

    async def ready(self) -> None:
        if not self.positioned.is_set():
            raise RuntimeError("the case stream is not positioned yet")


def delivery_consumer(
    settings: NotifierSettings,
    sessions: async_sessionmaker[AsyncSession],
    dead_letters: EventProducer,
    wake_deliveries: Callable[[], None],
    wake_timers: Callable[[], None],
    destinations: DestinationsCache,
    registry: CollectorRegistry,
) -> ConsumerLoop:
    epoch: list[datetime] = []

    async def remember_epoch(_: AIOKafkaConsumer) -> None:
        epoch[:] = [await delivery_epoch_of(sessions)]

    async def handle(envelopes: Sequence[Envelope]) -> None:
        recorded = await record_case_events(sessions, settings, envelopes, epoch[0], destinations)
        if recorded.deliveries:
            wake_deliveries()
        if recorded.timers_due:
            wake_timers()

    # A new group reads the retained topic; events from long before deliveries first started
    # raise nothing, so a first deployment does not page for old cases.
    make_consumer = group_consumer(
        settings.kafka,
        settings.topics.cases,
        settings.consumer_group,
        "flare-notifier-deliveries",
    )

    return ConsumerLoop(
        "notifier_deliveries",
        make_consumer,
        handle,
        registry,
        dead_letters=dead_letters,
        dlq_topic=settings.topics.dlq,
        on_started=remember_epoch,
        batches=True,
        max_records=settings.consumer_batch_max,
    )
