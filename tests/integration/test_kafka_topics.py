"""The topics carry their own retention and minimum of in-sync replicas, not the broker's
defaults (a cluster's default is often one replica: an acknowledged event on one disk)."""

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from shared.kafka_admin import RETENTION_MS, topic_config
from tests.conftest import FlareEnv

SET_ON_THE_TOPIC = 1  # DescribeConfigs' config source DYNAMIC_TOPIC_CONFIG


async def test_created_topics_carry_their_retention_and_min_insync_replicas(
    flare_env: FlareEnv,
) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=flare_env.kafka)
    await admin.start()
    try:
        names = list(flare_env.topics.partition_counts())
        [response] = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
        )
    finally:
        await admin.close()
    for _error, _message, _type, name, entries in response.resources:
        configs = {entry[0]: (entry[1], entry[3]) for entry in entries}
        assert configs["retention.ms"] == (str(RETENTION_MS), SET_ON_THE_TOPIC), name
        assert configs["min.insync.replicas"] == ("1", SET_ON_THE_TOPIC), name


@pytest.mark.parametrize(
    ("replication_factor", "min_insync"), [(1, "1"), (2, "2"), (3, "2"), (5, "2")]
)
def test_an_acknowledged_write_is_on_two_replicas_where_there_are_two(
    replication_factor: int, min_insync: str
) -> None:
    assert topic_config(replication_factor)["min.insync.replicas"] == min_insync
