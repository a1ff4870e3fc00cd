"""Network faults between the services and their Kafka and PostgreSQL: every service reaches
both through TCP proxies that first add latency, then cut every open connection (twice). The
load goes on; nothing accepted is lost or handled twice."""

import asyncio
from pathlib import Path

import pytest

from shared.kafka_admin import create_topics
from tests.chaos.system import Load, flare_running, settle
from tests.chaos.table import Row
from tests.chaos.tcp_proxy import TcpProxy, tcp_proxy
from tests.conftest import PG_PORT, FlareEnv
from tests.disposable import disposable_kafka

pytestmark = [pytest.mark.chaos("network-faults"), pytest.mark.slow]
REPORTS = 150
LATENCY_S = 0.05  # per chunk, each way


async def test_latency_and_cut_connections_to_kafka_and_postgres_lose_nothing(
    flare_env: FlareEnv, tmp_path: Path, chaos_row: Row
) -> None:
    async with tcp_proxy(PG_PORT) as postgres, tcp_proxy(0) as kafka:
        with disposable_kafka(advertised_port=kafka.port) as (broker, _):
            kafka.target_port = broker.port
            database_url = flare_env.database_url.replace(f":{PG_PORT}/", f":{postgres.port}/")
            env = FlareEnv(database_url, kafka.address, flare_env.topic_prefix)
            await create_topics(env.kafka_access, env.topics)
            async with flare_running(env, tmp_path) as flare:
                load = Load(flare, "network")
                posting = asyncio.create_task(load.run(REPORTS))
                await load.until_accepted(20)
                before = postgres.connections, kafka.connections
                await faults(postgres, kafka)
                after = postgres.connections, kafka.connections
                await posting
                await settle(flare, load, chaos_row)
    assert all(a > b for a, b in zip(after, before, strict=True)), "every service reconnected"
    assert set(load.statuses) <= {202, 503}


async def faults(*proxies: TcpProxy) -> None:
    for proxy in proxies:
        proxy.latency_s = LATENCY_S
    await asyncio.sleep(5)
    for _ in range(2):
        for proxy in proxies:
            proxy.cut()
        await asyncio.sleep(2)
    for proxy in proxies:
        proxy.latency_s = 0
