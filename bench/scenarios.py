"""The load generator's scenarios, run in a process of their own (`python -m bench.scenarios
SPEC RESULT`): each reads a JSON spec, drives its load on loopback and writes a JSON result."""

import asyncio
import json
import os
import subprocess
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

import uvloop
from aiokafka.errors import KafkaError

from bench.bodies import BODIES
from bench.client import Endpoint, Response
from bench.kafka_ceiling import kafka_round_trip
from bench.load import LoadResult, closed_loop, open_loop
from bench.receivers import Arrivals, webhook_alerts, websocket_alerts
from bench.stats import percentile
from shared.kafka import KafkaAccess, kafka_reachable

Spec = dict[str, Any]
Result = dict[str, Any]


def endpoint(spec: Spec) -> Endpoint:
    return Endpoint(spec["url"], partial(BODIES[spec["body"]], spec["run"]), spec["headers"])


def latency_ms(values: list[float]) -> dict[str, float]:
    return {f"p{q}_ms": percentile(values, q) * 1000 for q in (50, 95, 99)}


def accepted_id(response: Response) -> str:
    escalation_id: str = json.loads(response.body)["id"]
    return escalation_id


async def saturate(spec: Spec) -> Result:
    """Closed loop: 2xx answers per second and their latency."""
    load = await closed_loop(
        endpoint(spec), spec["connections"], spec["max_requests"], spec["duration_s"], spec["label"]
    )
    latencies = [r.latency_s for r in load.ok]
    return {
        "ok": len(load.ok),
        "statuses": load.statuses(),
        "duration_s": load.ended_at - load.started_at,
        "rate": len(load.ok) / (load.ended_at - load.started_at),
        **latency_ms(latencies),
    }


def delivery(ids: dict[str, float], arrivals: Arrivals, load: LoadResult) -> Result:
    """Which accepted items arrived (once), and the latency from each POST to its arrival."""
    received = [item for item in ids if item in arrivals.first]
    return {
        "offered": len(load.responses) + load.errors,
        "accepted": len(ids),
        "received": len(received),
        "lost": len(ids) - len(received),
        "duplicated": arrivals.duplicates,
        "statuses": load.statuses(),
        "behind_schedule_ms": load.behind_schedule_s * 1000,
        **latency_ms([arrivals.first[item] - ids[item] for item in received]),
    }


async def pipeline(spec: Spec) -> Result:
    """`connections` partners, each posting its next escalation once the alert for its last
    one is on the WebSocket: the rate the whole pipeline sustains, with a bounded backlog."""
    late: list[str] = []
    async with websocket_alerts(spec["ws_url"], spec["token"]) as arrivals:

        async def until_alerted(response: Response) -> None:
            if response.status == 202:
                try:
                    await arrivals.wait_one(accepted_id(response), spec["drain_timeout_s"])
                except TimeoutError:
                    late.append(accepted_id(response))

        load = await closed_loop(
            endpoint(spec),
            spec["connections"],
            spec["max_requests"],
            spec["duration_s"],
            spec["label"],
            until_alerted,
        )
        ids = {accepted_id(r): r.sent_at for r in load.responses if r.status == 202}
        await arrivals.wait_for(set(ids), spec["drain_timeout_s"])
    last = max((arrivals.first[item] for item in ids if item in arrivals.first), default=0.0)
    result = delivery(ids, arrivals, load)
    result["late"] = len(late)
    result["rate"] = result["received"] / (last - load.started_at) if last else 0.0
    return result


async def latency(spec: Spec) -> Result:
    """Open loop at a fixed rate; each item's time from its POST to the far end."""
    ids: dict[str, float] = {}

    def remember(n: int, response: Response) -> None:
        if spec["body"] == "alert" and response.status == 200:
            ids[f"{spec['run']}-{n}"] = response.sent_at
        elif response.status == 202:
            ids[accepted_id(response)] = response.sent_at

    receiver = (
        webhook_alerts(spec["webhook_port"])
        if spec["body"] == "alert"
        else websocket_alerts(spec["ws_url"], spec["token"])
    )
    async with receiver as arrivals:
        load = await open_loop(
            endpoint(spec), spec["rate"], spec["duration_s"], spec["label"], remember
        )
        await arrivals.wait_for(set(ids), spec["drain_timeout_s"])
    return {"rate": spec["rate"], **delivery(ids, arrivals, load)}


def run_kafka_script(script: str, action: str, env: dict[str, str]) -> None:
    """Stop or start the bench's own broker; returns when the script is done."""
    subprocess.run([script, action], env={**os.environ, **env}, check=True, capture_output=True)


async def first_answer(bootstrap: str, starting: "asyncio.Future[None]") -> float:
    """When the restarted broker first answers a metadata request, probed every 50 ms (the
    start script looks only every half second): the services reconnect from then on, so the
    drain's clock starts there. Raises what made the start script fail."""
    host, port = bootstrap.rsplit(":", 1)
    while True:
        try:
            # The port first, quietly: aiokafka logs an error for every refused connection.
            _, writer = await asyncio.open_connection(host, int(port))
            writer.close()
            await kafka_reachable(KafkaAccess(bootstrap), timeout_s=1.0)
            return time.monotonic()
        except (KafkaError, OSError, TimeoutError):
            if starting.done():
                starting.result()
            await asyncio.sleep(0.05)


async def drain(spec: Spec) -> Result:
    """Kafka down while posting at a fixed rate; then up again, timed until every alert is in."""
    script, env = spec["kafka_script"], spec["kafka_env"]
    async with websocket_alerts(spec["ws_url"], spec["token"]) as arrivals:
        await asyncio.to_thread(run_kafka_script, script, "stop", env)
        ids: dict[str, float] = {}

        def remember(_: int, response: Response) -> None:
            if response.status == 202:
                ids[accepted_id(response)] = response.sent_at

        load = await open_loop(
            endpoint(spec), spec["rate"], spec["outage_s"], spec["label"], remember
        )
        starting = asyncio.ensure_future(asyncio.to_thread(run_kafka_script, script, "start", env))
        # The start script gives the broker 90 s; the probe, a little more, then gives up.
        kafka_up = await asyncio.wait_for(first_answer(spec["bootstrap"], starting), 120)
        await starting
        await arrivals.wait_for(set(ids), spec["drain_timeout_s"])
    backlog = [item for item in ids if arrivals.first.get(item, kafka_up) >= kafka_up]
    drained_at = max((arrivals.first.get(item, 0.0) for item in ids), default=kafka_up)
    drain_s = drained_at - kafka_up
    return {
        **delivery(ids, arrivals, load),
        "intake_rate": len(ids) / (load.ended_at - load.started_at),
        "backlog": len(backlog),
        "kafka_restart_s": kafka_up - load.ended_at,
        "drain_s": drain_s,
        "drain_rate": len(backlog) / drain_s if drain_s > 0 else 0.0,
        # On the machine's monotonic clock, which the bench's page receiver shares.
        "kafka_up": kafka_up,
    }


async def kafka_ceiling(spec: Spec) -> Result:
    return await kafka_round_trip(
        spec["bootstrap"], spec["topic_in"], spec["topic_out"], spec["count"], spec["run"]
    )


SCENARIOS = {
    "saturate": saturate,
    "pipeline": pipeline,
    "latency": latency,
    "drain": drain,
    "kafka_ceiling": kafka_ceiling,
}


def main() -> None:
    spec_path, result_path = Path(sys.argv[1]), Path(sys.argv[2])
    spec = json.loads(spec_path.read_text())
    result = uvloop.run(SCENARIOS[spec["scenario"]](spec))
    result_path.write_text(json.dumps(result))


if __name__ == "__main__":
    main()
