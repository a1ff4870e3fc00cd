"""Kafka administration for local runs, deploy jobs and operators.

python -m shared.kafka_admin --bootstrap 127.0.0.1:9092 wait --timeout 90
python -m shared.kafka_admin --bootstrap 127.0.0.1:9092 create-topics --replication-factor 3
python -m shared.kafka_admin --bootstrap 127.0.0.1:9092 replay-dlq --consumer router --dry-run
"""

import argparse
import asyncio
import logging
import os
import sys
import time
from contextlib import suppress
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from pydantic import ValidationError

from shared.events import Topics
from shared.kafka import EventProducer, KafkaAccess, kafka_reachable
from shared.settings import KafkaSettings, settings_problems


async def wait_for_broker(kafka: KafkaAccess, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            await kafka_reachable(kafka)
            return
        except (KafkaError, OSError, TimeoutError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


# How long the topics keep events: the router remembers handled event ids for longer
# (FLARE_PROCESSED_EVENTS_KEEP_DAYS), so a replay of everything kept is still recognised.
RETENTION_MS = 7 * 24 * 3600 * 1000


def topic_config(replication_factor: int) -> dict[str, str]:
    """Set on each topic, not left to the broker's defaults (often one in-sync replica): an
    acknowledged write is on two replicas (one broker's topics: on it), so it survives the loss
    of any one broker. With two replicas, writes wait while one is missing; the outboxes keep
    them meanwhile."""
    return {
        "retention.ms": str(RETENTION_MS),
        "min.insync.replicas": str(min(2, replication_factor)),
    }


async def create_topics(
    kafka: KafkaAccess, topics: Topics, replication_factor: int = 1
) -> list[str]:
    """Create the missing topics with their partition counts and `topic_config`; returns the
    names created. A topic that exists is left as it is."""
    admin = AIOKafkaAdminClient(**kafka.client_args())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(
                name,
                num_partitions=partitions,
                replication_factor=replication_factor,
                topic_configs=topic_config(replication_factor),
            )
            for name, partitions in topics.partition_counts().items()
            if name not in existing
        ]
        if wanted:
            # Another process may create them between our list and create: that is fine.
            with suppress(TopicAlreadyExistsError):
                await admin.create_topics(wanted)
        return [topic.name for topic in wanted]
    finally:
        await admin.close()


async def delete_topics(kafka: KafkaAccess, topics: Topics) -> None:
    admin = AIOKafkaAdminClient(**kafka.client_args())
    await admin.start()
    try:
        await admin.delete_topics(list(topics.partition_counts()))
    finally:
        await admin.close()


class NoSuchTopic(Exception):
    """The topic a command reads does not exist."""


@dataclass(frozen=True)
class Replayed:
    source: str
    consumer: str
    reason: str


async def replay_dead_letters(
    kafka: KafkaAccess, topics: Topics, consumer: str | None, dry_run: bool
) -> list[Replayed]:
    """Publish dead letters back to the topic they came from, once each.

    Run it after fixing what made them fail. A consumer group remembers how far replays got,
    so a second run only replays letters that arrived since; --dry-run lists without moving.
    With --consumer, letters of other consumers are passed over and stay for their own replay:
    each --consumer, and a replay of all, keeps a group of its own. (One group would have
    moved past them for good.) A letter replayed both ways goes back twice, which changes
    nothing: consumers ignore event ids they already handled.
    """
    reader = AIOKafkaConsumer(
        **kafka.client_args(),
        group_id=f"{topics.dlq}.replay" + ("" if consumer is None else f".{consumer}"),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    producer = EventProducer(kafka, client_id="flare-dlq-replay")
    replayed: list[Replayed] = []
    await reader.start()
    try:
        # Subscribed to a topic that does not exist, the reader would wait for ever.
        if topics.dlq not in await reader.topics():
            raise NoSuchTopic(f"there is no topic {topics.dlq} (is --prefix right?)")
        reader.subscribe([topics.dlq])
        ends: dict[TopicPartition, int] | None = None
        while ends is None or not await _caught_up(reader, ends):
            batches = await reader.getmany(timeout_ms=500)
            for records in batches.values():
                for record in records:
                    letter = _dead_letter(record)
                    if consumer not in (None, letter.consumer):
                        continue
                    replayed.append(letter)
                    if not dry_run:
                        headers = [
                            (k, v) for k, v in record.headers if not k.startswith("flare_dlq_")
                        ]
                        await producer.send_raw(
                            letter.source.split("/")[0], record.key, record.value, headers
                        )
            if batches and not dry_run:
                await reader.commit()
            if ends is None and reader.assignment():
                # What is in the DLQ now; letters arriving during the replay wait for the next.
                ends = await reader.end_offsets(list(reader.assignment()))
    finally:
        await reader.stop()
        await producer.stop()
    return replayed


async def _caught_up(reader: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    positions = [await reader.position(partition) for partition in ends]
    return all(
        position >= ends[partition] for position, partition in zip(positions, ends, strict=True)
    )


def _dead_letter(record: ConsumerRecord[bytes, bytes]) -> Replayed:
    headers = {name: value.decode(errors="replace") for name, value in record.headers}
    return Replayed(
        source=headers.get("flare_dlq_source", "?"),
        consumer=headers.get("flare_dlq_consumer", "?"),
        reason=headers.get("flare_dlq_reason", "?"),
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--bootstrap",
        help="the brokers (default: FLARE_KAFKA_BOOTSTRAP_SERVERS); TLS and SASL, as the "
        "services reach them, from FLARE_KAFKA_SECURITY_PROTOCOL and the other FLARE_KAFKA_*",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    wait = commands.add_parser("wait", help="wait until the broker answers a metadata request")
    wait.add_argument("--timeout", type=float, default=60)
    create = commands.add_parser("create-topics", help="create Flare's topics if missing")
    create.add_argument("--prefix", default=os.environ.get("FLARE_TOPIC_PREFIX", ""))
    create.add_argument(
        "--replication-factor",
        type=int,
        default=1,
        help="copies of each partition: 1 for one broker, 3 in production",
    )
    replay = commands.add_parser("replay-dlq", help="publish dead letters back to their topics")
    replay.add_argument("--prefix", default=os.environ.get("FLARE_TOPIC_PREFIX", ""))
    replay.add_argument("--consumer", help="only letters this consumer gave up on (e.g. router)")
    replay.add_argument("--dry-run", action="store_true", help="list, do not publish")
    args = parser.parse_args()
    overrides = {"kafka_bootstrap_servers": args.bootstrap} if args.bootstrap else {}
    try:
        kafka = KafkaSettings(**overrides).kafka
    except ValidationError as error:
        print(f"kafka_admin: invalid settings: {settings_problems(error)}", file=sys.stderr)
        sys.exit(1)
    # aiokafka logs every refused connection while we wait; the outcome is all we report.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    try:
        if args.command == "wait":
            asyncio.run(wait_for_broker(kafka, args.timeout))
        elif args.command == "create-topics":
            topics = Topics.with_prefix(args.prefix)
            created = asyncio.run(create_topics(kafka, topics, args.replication_factor))
            print("created topics: " + (", ".join(created) or "none (all exist)"))
        else:
            letters = asyncio.run(
                replay_dead_letters(
                    kafka, Topics.with_prefix(args.prefix), args.consumer, args.dry_run
                )
            )
            verb = "would replay" if args.dry_run else "replayed"
            for letter in letters:
                print(f"{verb} {letter.source} (consumer {letter.consumer}): {letter.reason}")
            print(f"{verb} {len(letters)} dead letters")
    except (KafkaError, OSError, TimeoutError, NoSuchTopic) as error:
        print(
            f"kafka_admin {args.command} failed against {kafka.bootstrap_servers}: {error!r}",
            file=sys.stderr,
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
