"""The router through Kafka: received events become case events, in order and once each;
poison goes to the DLQ and the consumer goes on."""

import json
from datetime import timedelta

from shared.kafka import EventProducer
from tests.conftest import FlareEnv
from tests.integration.conftest import fetch
from tests.integration.router_helpers import T0, escalation, received, router_app
from tests.kafka_reader import read_topic


async def test_reports_become_case_events_in_order_and_poison_is_dead_lettered(
    flare_env: FlareEnv,
) -> None:
    topics = flare_env.topics
    reports = [
        received(escalation(dedup_key="video:9"), at=T0 + timedelta(minutes=minute))
        for minute in range(3)
    ]
    producer = EventProducer(flare_env.kafka_access, client_id="test")
    try:
        async with router_app(flare_env, sla_check_interval_s=3600):
            await producer.send_raw(topics.escalations, b"dedup:video:9", b"{not json", [])
            for report in [reports[0], reports[0], *reports[1:]]:  # the first one redelivered
                key, value, headers = report.to_message("dedup:video:9")
                await producer.send_raw(topics.escalations, key, value, headers)
            cases = await read_topic(flare_env.kafka, topics.cases, expected=3)
            dead = await read_topic(flare_env.kafka, topics.dlq, expected=1, timeout_s=5)
    finally:
        await producer.stop()
    published = [(dict(r.headers)["ce_type"].decode(), json.loads(r.value)) for r in cases]
    assert [(kind, body["case"]["report_count"]) for kind, body in published] == [
        ("flare.case.created", 1),
        ("flare.case.updated", 2),
        ("flare.case.updated", 3),
    ]
    assert [body["case"]["velocity_per_hour"] for _, body in published] == [1.0, 2.0, 3.0]
    assert [body["escalation_id"] for _, body in published] == [
        report.data["escalation_id"] for report in reports
    ]
    created = published[0][1]["case"]
    assert (created["severity"], created["team"]) == ("SEV2", "Global Operations")
    [poison] = dead
    assert poison.value == b"{not json"
    assert b"content-type" in dict(poison.headers)["flare_dlq_reason"]
    assert len(await fetch(flare_env, "SELECT 1 FROM router.cases")) == 1


async def test_a_received_event_that_fails_validation_is_dead_lettered_with_the_reason(
    flare_env: FlareEnv,
) -> None:
    topics = flare_env.topics
    good = received(escalation(dedup_key="x"))
    key, value, headers = good.to_message("x")
    broken = json.loads(value)
    broken["escalation"]["category"] = "gossip"
    producer = EventProducer(flare_env.kafka_access, client_id="test")
    try:
        async with router_app(flare_env, sla_check_interval_s=3600):
            await producer.send_raw(topics.escalations, key, json.dumps(broken).encode(), headers)
            dead = await read_topic(flare_env.kafka, topics.dlq, expected=1)
    finally:
        await producer.stop()
    [record] = dead
    reason = dict(record.headers)["flare_dlq_reason"].decode()
    assert "EscalationReceived" in reason
    assert "category" in reason
    assert dict(record.headers)["ce_id"] == dict(headers)["ce_id"]  # original headers kept
    assert await fetch(flare_env, "SELECT 1 FROM router.processed_events") == []
