"""Kafka SIGKILLed under load and restarted after a delay: intake keeps accepting, the
backlog drains, and every accepted report is one case, alerted once."""

from pathlib import Path

import pytest

from shared.kafka import KafkaAccess
from shared.kafka_admin import create_topics
from tests.chaos.system import Load, flare_running, outage_under_load, settle
from tests.chaos.table import Row
from tests.conftest import FlareEnv
from tests.disposable import disposable_kafka

pytestmark = [pytest.mark.chaos("kafka-killed"), pytest.mark.slow]
REPORTS = 200
DOWN_S = 5


async def test_kafka_killed_under_load_loses_and_repeats_nothing(
    flare_env: FlareEnv, tmp_path: Path, chaos_row: Row
) -> None:
    with disposable_kafka() as (broker, bootstrap):
        env = FlareEnv(flare_env.database_url, bootstrap, flare_env.topic_prefix)
        await create_topics(KafkaAccess(bootstrap), env.topics)
        async with flare_running(env, tmp_path) as flare:
            load = Load(flare, "kafka")
            down = await outage_under_load(load, REPORTS, broker.kill, broker, DOWN_S)
            await settle(flare, load, chaos_row)
    assert down > 0, "intake accepted reports while Kafka was down"
    assert set(load.statuses) == {202}, "Kafka down: intake keeps accepting"
