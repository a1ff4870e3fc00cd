"""Kafka administration for local runs and deploy jobs: wait for the broker, create the topics.

python -m shared.kafka_admin --bootstrap 127.0.0.1:9092 wait --timeout 90
python -m shared.kafka_admin --bootstrap 127.0.0.1:9092 create-topics --prefix ""
"""

import argparse
import asyncio
import logging
import sys
import time
from contextlib import suppress

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from shared.events import Topics
from shared.kafka import kafka_reachable


async def wait_for_broker(bootstrap_servers: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            await kafka_reachable(bootstrap_servers)
            return
        except (KafkaError, OSError, TimeoutError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


async def create_topics(bootstrap_servers: str, topics: Topics) -> list[str]:
    """Create the missing topics with their partition counts; returns the names created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(name, num_partitions=partitions, replication_factor=1)
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


async def delete_topics(bootstrap_servers: str, topics: Topics) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        await admin.delete_topics(list(topics.partition_counts()))
    finally:
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    commands = parser.add_subparsers(dest="command", required=True)
    wait = commands.add_parser("wait", help="wait until the broker answers a metadata request")
    wait.add_argument("--timeout", type=float, default=60)
    create = commands.add_parser("create-topics", help="create Flare's topics if missing")
    create.add_argument("--prefix", default="")
    args = parser.parse_args()
    # aiokafka logs every refused connection while we wait; the outcome is all we report.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    try:
        if args.command == "wait":
            asyncio.run(wait_for_broker(args.bootstrap, args.timeout))
        else:
            created = asyncio.run(create_topics(args.bootstrap, Topics.with_prefix(args.prefix)))
            print("created topics: " + (", ".join(created) or "none (all exist)"))
    except (KafkaError, OSError, TimeoutError) as error:
        print(
            f"kafka_admin {args.command} failed against {args.bootstrap}: {error!r}",
            file=sys.stderr,
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
