"""Events delivered again: every record re-published as it was, then both consumer groups
rewound to offset 0 so they read the whole topic again, the copies in reverse order. Nothing
opens a second case, joins a report twice or alerts twice."""

from pathlib import Path

import pytest

from tests.chaos.system import Load, flare_running, settle
from tests.chaos.table import Row
from tests.conftest import FlareEnv
from tests.integration.conftest import fetch
from tests.kafka_reader import read_topic, republish, rewind_group, wait_caught_up

pytestmark = pytest.mark.chaos("redelivery")
REPORTS = 30


async def test_redelivered_and_replayed_events_change_nothing(
    flare_env: FlareEnv, tmp_path: Path, chaos_row: Row
) -> None:
    topics, kafka = flare_env.topics, flare_env.kafka
    partitions = topics.partition_counts()
    groups = {
        topics.escalations: f"{flare_env.topic_prefix}flare-router",
        topics.cases: f"{flare_env.topic_prefix}flare-notifier-deliveries",
    }
    async with flare_running(flare_env, tmp_path) as flare:
        load = Load(flare, "redelivery")
        await load.run(REPORTS, per_second=30)
        first = await settle(flare, load, chaos_row)
        timeline = await fetch(flare_env, "SELECT count(*) AS n FROM router.case_timeline")
        published = {topic: await read_topic(kafka, topic, expected=REPORTS) for topic in groups}
        for topic, records in published.items():
            await republish(kafka, records, topic)  # redelivery: the same events again
        for service in flare.running("router") + flare.running("notifier"):
            service.terminate()
        for topic, group in groups.items():
            await rewind_group(kafka, group, topic, partitions[topic])
            await republish(kafka, published[topic][::-1], topic)  # and out of order
        await flare.start("router").wait_ready()
        await flare.start("notifier").wait_ready()
        for topic, group in groups.items():
            await wait_caught_up(kafka, group, topic, partitions[topic])
        again = await settle(flare, load, chaos_row)
        assert await fetch(flare_env, "SELECT count(*) AS n FROM router.case_timeline") == timeline
        # The router published no new case event: the topic holds the originals and 2 copies.
        cases_topic = await read_topic(kafka, topics.cases, expected=3 * REPORTS)
        assert len(cases_topic) == 3 * len(published[topics.cases])
    assert (again.cases, again.alerts_sent) == (first.cases, first.alerts_sent) == (REPORTS,) * 2
