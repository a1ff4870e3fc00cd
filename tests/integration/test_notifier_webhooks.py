"""Signed webhooks against a real local receiver: subscriptions, retries, dead letters, SSRF,
and exactly one delivery per (event, destination) across redelivery and restart."""

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from uuid import uuid4

import httpx
import pytest
from prometheus_client import CollectorRegistry
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from structlog.testing import capture_logs

from services.notifier.app import create_app
from services.notifier.delivery_worker import DeliveryWorker
from services.notifier.senders import Outcome, Senders
from services.notifier.service import _queue_subscriptions
from services.notifier.settings import NotifierSettings
from services.notifier.templates import make_alert, render
from shared.auth import Role
from shared.db import make_engine, make_sessions
from shared.events import CaseEvent, Category, EmergingRisk, EventType, Severity
from shared.kafka import Envelope
from tests.conftest import FlareEnv
from tests.integration.conftest import execute, fetch, running
from tests.integration.notifier_peers import (
    Receiver,
    bearer,
    case_envelope,
    publish,
    publish_raw,
    queue_deliveries,
    receiver,
    snapshot,
    wait_until,
)
from tests.kafka_reader import read_topic

LOCAL = ["127.0.0.1/32"]


def settings(env: FlareEnv, **overrides: Any) -> NotifierSettings:
    values: dict[str, Any] = {
        "egress_allowed_networks": LOCAL,
        "retry_first_delay_s": 0.05,
        "retry_max_attempts": 3,
        "delivery_poll_interval_s": 0.05,
        "escalation_poll_interval_s": 0.05,
    }
    return env.settings(NotifierSettings, **(values | overrides))


async def subscribe(client: httpx.AsyncClient, target: str, **filters: Any) -> dict[str, Any]:
    response = await client.post(
        "/v1/subscriptions", json={"target": target, **filters}, headers=bearer(Role.ADMIN)
    )
    assert response.status_code == 201, response.text
    subscription: dict[str, Any] = response.json()
    return subscription


async def deliveries(client: httpx.AsyncClient, **filters: str) -> list[dict[str, Any]]:
    response = await client.get("/v1/deliveries", params=filters, headers=bearer())
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def received(peer: Receiver, count: int) -> None:
    async def enough() -> bool:
        return len(peer.requests) >= count

    await wait_until(enough, what=f"{count} requests at the receiver")


async def test_webhook_is_signed_per_standard_webhooks_and_verifies(flare_env: FlareEnv) -> None:
    async with receiver() as peer, running(create_app(settings(flare_env))) as client:
        subscription = await subscribe(client, f"{peer.url}/hook")
        case = snapshot()
        await publish(flare_env, case_envelope(EventType.CASE_CREATED, case))
        await received(peer, 1)

        async def counted() -> bool:
            metrics = (await client.get("/metrics")).text
            delivered = 'channel="webhook",kind="subscription",outcome="delivered"'
            return f"flare_deliveries_total{{{delivered}}} 1.0" in metrics

        await wait_until(counted, what="the delivery counted")
        metrics = (await client.get("/metrics")).text
        assert 'flare_delivery_latency_seconds_count{channel="webhook"} 1.0' in metrics
        assert "flare_escalation_timers_pending 0.0" in metrics
        assert "flare_stream_clients 0.0" in metrics

    request = peer.requests[0]
    payload = Webhook(subscription["secret"]).verify(request.body, request.headers)
    assert payload["type"] == "flare.case.created"
    assert payload["data"]["case_id"] == str(case.case_id)
    assert payload["data"]["title"] == case.title
    assert payload["data"]["link"].endswith(f"/cases/{case.case_id}")
    forged = {**request.headers, "webhook-signature": "v1,AAAA"}
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        Webhook(subscription["secret"]).verify(request.body, forged)


async def test_target_failing_twice_then_succeeding_gets_exactly_one_success(
    flare_env: FlareEnv,
) -> None:
    async with receiver(failures=2) as peer, running(create_app(settings(flare_env))) as client:
        await subscribe(client, f"{peer.url}/flaky")
        case = snapshot()
        await publish(flare_env, case_envelope(EventType.CASE_CREATED, case))

        async def delivered() -> bool:
            items = await deliveries(client, case_id=str(case.case_id))
            return bool(items) and items[0]["status"] == "delivered"

        await wait_until(delivered, what="delivery after two failures")
        [delivery] = await deliveries(client, case_id=str(case.case_id))

    assert [attempt["status_code"] for attempt in delivery["attempt_log"]] == [503, 503, 204]
    assert [attempt["outcome"] for attempt in delivery["attempt_log"]] == [
        "failed",
        "failed",
        "delivered",
    ]
    assert all(attempt["latency_ms"] >= 0 for attempt in delivery["attempt_log"])
    assert len(peer.requests) == 3
    # Every attempt is the same message: the receiver deduplicates on webhook-id.
    assert len({request.headers["webhook-id"] for request in peer.requests}) == 1


async def test_a_target_slower_than_the_timeout_fails_the_attempt_at_the_timeout(
    flare_env: FlareEnv,
) -> None:
    """Recorded as a failed attempt, with the timeout named."""
    quick_timeout = settings(flare_env, delivery_timeout_s=0.5, retry_max_attempts=1)
    async with receiver() as peer, running(create_app(quick_timeout)) as client:
        peer.delay_s = 5
        await subscribe(client, f"{peer.url}/slow")
        case = snapshot()
        await publish(flare_env, case_envelope(EventType.CASE_CREATED, case))

        async def dead() -> bool:
            items = await deliveries(client, case_id=str(case.case_id))
            return bool(items) and items[0]["status"] == "dead"

        await wait_until(dead, what="the attempt given up")
        [delivery] = await deliveries(client, case_id=str(case.case_id))
    [attempt] = delivery["attempt_log"]
    assert attempt["error"] == "TimeoutError: no answer within 0.5 s"
    assert 500 <= attempt["latency_ms"] < peer.delay_s * 1000, (
        "ended by the timeout, not the answer"
    )
    assert peer.delivered == []


async def test_a_page_goes_out_before_the_subscriptions_deliveries_due_before_it(
    flare_env: FlareEnv,
) -> None:
    """A page wakes a responder: a backlog of webhooks, say to a target that hangs on every
    attempt, must not hold it up. One slot here, so the order of the sends is the claims'."""
    one_slot = settings(flare_env, delivery_poll_interval_s=60, delivery_concurrency=1)
    async with receiver() as peer:
        hook = f"{peer.url}/hook"
        await queue_deliveries(flare_env, 3, target=hook, kind="subscription", overdue_s=60)
        await queue_deliveries(flare_env, 1, target=f"{peer.url}/page")
        async with running(create_app(one_slot)):
            await received(peer, 4)
    assert [request.path for request in peer.requests] == ["page", "hook", "hook", "hook"]


async def test_a_target_that_does_not_resolve_is_retried_not_given_up_at_once(
    flare_env: FlareEnv,
) -> None:
    """A failed DNS lookup may be an outage that passes: the page is retried on the schedule,
    like any failed send, and dead only after the last attempt."""
    await queue_deliveries(flare_env, 1, target="https://flare-test.invalid/chat")

    async def dead() -> bool:
        return bool(
            await fetch(flare_env, "SELECT 1 FROM notifier.deliveries WHERE status = 'dead'")
        )

    async with running(create_app(settings(flare_env, retry_max_attempts=3))):
        await wait_until(dead, what="the page given up")
    attempts = await fetch(flare_env, "SELECT error FROM notifier.delivery_attempts")
    assert len(attempts) == 3
    assert all(row["error"].startswith("does not resolve: ") for row in attempts), attempts


class CrashingSenders(Senders):
    """Senders with a fault they do not classify, as a bug or a library's surprise would be."""

    async def send(self, channel: str, target: str, *args: Any) -> Outcome:
        raise RuntimeError(f"an unforeseen fault sending to {target}")


async def test_a_send_that_crashes_is_a_failed_attempt_retried_then_dead(
    flare_env: FlareEnv,
) -> None:
    """Not a delivery claimed again at each lease's end for ever, with nothing on record."""
    await queue_deliveries(flare_env, 1, target="https://chat.invalid/services/T0/s3cr3t")
    crashing = settings(flare_env, retry_max_attempts=3)
    engine, stopping = make_engine(flare_env.database_url), asyncio.Event()
    worker = DeliveryWorker(engine, CrashingSenders(crashing), crashing, CollectorRegistry())

    async def dead() -> bool:
        return bool(
            await fetch(flare_env, "SELECT 1 FROM notifier.deliveries WHERE status = 'dead'")
        )

    with capture_logs() as logs:
        running_worker = asyncio.create_task(worker.run(stopping))
        try:
            await wait_until(dead, what="the page given up")
        finally:
            stopping.set()
            await running_worker
            await engine.dispose()
    attempts = await fetch(flare_env, "SELECT error FROM notifier.delivery_attempts")
    # Without the chat URL's path: its credential. Nor in the log, traceback included.
    expected = "RuntimeError: an unforeseen fault sending to https://chat.invalid/…"
    assert [row["error"] for row in attempts] == [expected] * 3
    crashed = [line for line in logs if line["event"] == "delivery_send_crashed"]
    assert len(crashed) == 3
    assert all("RuntimeError" in line["traceback"] for line in crashed)
    assert "s3cr3t" not in repr(crashed)


async def test_a_subscription_deleted_during_its_send_stays_cancelled_with_the_attempt_logged(
    flare_env: FlareEnv,
) -> None:
    async with receiver() as peer, running(create_app(settings(flare_env))) as client:
        peer.gate.clear()  # the send stays in flight while the subscription is deleted
        created = await subscribe(client, f"{peer.url}/hook")
        case = snapshot()
        await publish(flare_env, case_envelope(EventType.CASE_CREATED, case))
        await received(peer, 1)
        gone = await client.delete(f"/v1/subscriptions/{created['id']}", headers=bearer(Role.ADMIN))
        assert gone.status_code == 204
        peer.gate.set()

        async def attempt_logged() -> bool:
            return bool(await fetch(flare_env, "SELECT 1 FROM notifier.delivery_attempts"))

        await wait_until(attempt_logged, what="the send's attempt logged")
        [delivery] = await deliveries(client, case_id=str(case.case_id))
        again = await client.post(
            f"/v1/deliveries/{delivery['id']}/redeliver", headers=bearer(Role.LEAD)
        )
    assert (delivery["status"], delivery["last_error"]) == ("cancelled", "subscription deleted")
    assert [attempt["outcome"] for attempt in delivery["attempt_log"]] == ["delivered"]
    assert len(peer.delivered) == 1
    assert again.status_code == 409
    assert again.json()["detail"] == (
        f"Delivery {delivery['id']} was cancelled (subscription deleted); it is not sent again."
    )


async def test_delivery_goes_dead_after_the_last_attempt_and_can_be_redelivered(
    flare_env: FlareEnv,
) -> None:
    async with receiver(failures=3) as peer, running(create_app(settings(flare_env))) as client:
        await subscribe(client, f"{peer.url}/down")
        case = snapshot()
        await publish(flare_env, case_envelope(EventType.CASE_CREATED, case))

        async def status_is(expected: str) -> bool:
            items = await deliveries(client, case_id=str(case.case_id))
            return bool(items) and items[0]["status"] == expected

        async def dead() -> bool:
            return await status_is("dead")

        async def delivered() -> bool:
            return await status_is("delivered")

        await wait_until(dead, what="the dead-letter state")
        [delivery] = await deliveries(client, status="dead")
        assert delivery["attempts"] == 3
        refused = await client.post(
            f"/v1/deliveries/{delivery['id']}/redeliver", headers=bearer(Role.RESPONDER)
        )
        assert refused.status_code == 403
        again = await client.post(
            f"/v1/deliveries/{delivery['id']}/redeliver", headers=bearer(Role.LEAD)
        )
        assert again.status_code == 202, again.text
        await wait_until(delivered, what="manual redelivery")
    assert len(peer.requests) == 4


async def test_redelivered_event_and_restart_send_nothing_twice(flare_env: FlareEnv) -> None:
    case = snapshot()
    event = case_envelope(EventType.CASE_CREATED, case)
    async with receiver() as peer:
        async with running(create_app(settings(flare_env))) as client:
            await subscribe(client, f"{peer.url}/once")
            await publish(flare_env, event, event)
            await received(peer, 1)
            await wait_until(lambda: handled_at_least(client, 2), what="both copies handled")
        # A new process over the same database and group: the event arrives once more.
        async with running(create_app(settings(flare_env))) as client:
            await publish(flare_env, event)
            await wait_until(lambda: handled_at_least(client, 1), what="the third copy handled")
    assert len(peer.requests) == 1
    rows = await fetch(flare_env, "SELECT status FROM notifier.deliveries")
    assert [row["status"] for row in rows] == ["delivered"]


async def handled_at_least(client: httpx.AsyncClient, count: int) -> bool:
    metrics = (await client.get("/metrics")).text
    prefix = 'flare_events_consumed_total{consumer="notifier_deliveries",outcome="handled"} '
    for line in metrics.splitlines():
        if line.startswith(prefix):
            return float(line.removeprefix(prefix)) >= count
    return False


async def test_internal_targets_are_refused_unless_allow_listed(flare_env: FlareEnv) -> None:
    async with running(create_app(settings(flare_env, egress_allowed_networks=[]))) as client:
        for target in (
            "http://127.0.0.1:9/hook",
            "http://10.0.0.8/hook",
            "http://169.254.169.254/latest/meta-data/",
            "http://[::1]/hook",
            "http://localhost/hook",
        ):
            response = await client.post(
                "/v1/subscriptions", json={"target": target}, headers=bearer(Role.ADMIN)
            )
            assert response.status_code == 422, target
            assert response.json()["errors"][0]["pointer"] == "/target"
        as_responder = await client.post(
            "/v1/subscriptions", json={"target": "https://example.org/h"}, headers=bearer()
        )
        assert as_responder.status_code == 403
    async with running(create_app(settings(flare_env))) as client:
        allowed = await client.post(
            "/v1/subscriptions",
            json={"target": "http://127.0.0.1:9/hook"},
            headers=bearer(Role.ADMIN),
        )
        assert allowed.status_code == 201
        listed = await client.get("/v1/subscriptions", headers=bearer(Role.LEAD))
        assert [item["target"] for item in listed.json()] == ["http://127.0.0.1:9/hook"]
        assert "secret" not in listed.json()[0]
        gone = await client.delete(
            f"/v1/subscriptions/{allowed.json()['id']}", headers=bearer(Role.ADMIN)
        )
        assert gone.status_code == 204
        assert (await client.get("/v1/subscriptions", headers=bearer(Role.LEAD))).json() == []


@pytest.mark.parametrize(
    "target",
    ["http://[::1/hook", "http://a..b/hook", f"http://{'x' * 64}.example/hook"],
    ids=["unclosed IPv6 bracket", "empty label", "label over 63 characters"],
)
async def test_a_malformed_target_is_a_422_naming_it_not_a_500(
    flare_env: FlareEnv, target: str
) -> None:
    async with running(create_app(settings(flare_env))) as client:
        response = await client.post(
            "/v1/subscriptions", json={"target": target}, headers=bearer(Role.ADMIN)
        )
    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == "/target"


def emerging_risk() -> Envelope:
    risk = EmergingRisk(
        region="DE",
        category=Category.ELECTIONS,
        report_count=40,
        window_start=datetime.now(UTC) - timedelta(minutes=10),
        window_minutes=15,
        detected_at=datetime.now(UTC),
    )
    return Envelope.new(EventType.RISK_EMERGING, "/test", risk)


async def test_an_emerging_risk_is_delivered_to_the_subscriptions_that_want_it(
    flare_env: FlareEnv,
) -> None:
    """A surge across one region and category names no case. It goes to the subscriptions that
    name its type (a receiver of case events keeps getting only those), unless they ask for a
    team or a severity, which it has not: as a signed webhook, and on chat."""
    async with receiver() as peer, running(create_app(settings(flare_env))) as client:
        webhook = await subscribe(
            client,
            f"{peer.url}/hook",
            event_types=["flare.risk.emerging"],
            categories=["elections"],
        )
        risks = ["flare.risk.emerging"]
        await subscribe(client, f"{peer.url}/chat", channel="chat", event_types=risks)
        await subscribe(client, f"{peer.url}/team", teams=["Legal"], event_types=risks)
        await subscribe(client, f"{peer.url}/cases")  # every case event, nothing else
        await publish(flare_env, emerging_risk(), key="risk:DE:elections")
        await received(peer, 2)
        # Queued in the one transaction that queued the two sent: the team's would be there.
        queued = await fetch(flare_env, "SELECT target, case_id FROM notifier.deliveries")
    assert sorted((row["target"].rsplit("/", 1)[1], row["case_id"]) for row in queued) == [
        ("chat", None),
        ("hook", None),
    ]
    assert sorted(request.path for request in peer.requests) == ["chat", "hook"]
    [hook] = [request for request in peer.requests if request.path == "hook"]
    payload = Webhook(webhook["secret"]).verify(hook.body, hook.headers)
    assert payload["type"] == "flare.risk.emerging"
    assert {key: payload["data"][key] for key in ("region", "category", "report_count")} == {
        "region": "DE",
        "category": "elections",
        "report_count": 40,
    }
    assert payload["data"]["link"].endswith("/trends")
    [chat] = [request for request in peer.requests if request.path == "chat"]
    assert "Emerging risk: 40 elections reports from DE" in chat.json()["text"]


async def test_a_subjects_emerging_risk_is_logged_with_its_case_and_warns_of_its_content(
    flare_env: FlareEnv,
) -> None:
    """A surge on one subject names the case it raised: its delivery is listed with that case,
    and a sensitive case's risk carries the content warning, like the case's own alerts."""
    case_id = uuid4()
    risk = EmergingRisk(
        scope="subject",
        category=Category.CRISIS,
        case_id=case_id,
        sensitive=True,
        report_count=20,
        window_start=datetime.now(UTC) - timedelta(minutes=10),
        window_minutes=10,
        detected_at=datetime.now(UTC),
    )
    async with receiver() as peer, running(create_app(settings(flare_env))) as client:
        webhook = await subscribe(client, f"{peer.url}/hook", event_types=["flare.risk.emerging"])
        envelope = Envelope.new(EventType.RISK_EMERGING, "/test", risk)
        await publish(flare_env, envelope, key=str(case_id))
        await received(peer, 1)
        listed = await client.get(
            "/v1/deliveries", params={"case_id": str(case_id)}, headers=bearer(Role.LEAD)
        )
    [delivery] = listed.json()["items"]
    assert delivery["event_type"] == "flare.risk.emerging"
    payload = Webhook(webhook["secret"]).verify(peer.requests[0].body, peer.requests[0].headers)
    assert (payload["data"]["case_id"], payload["data"]["sensitive"]) == (str(case_id), True)
    assert payload["data"]["link"].endswith(f"/cases/{case_id}")
    assert "content_warning" in payload["data"]


async def test_a_subscription_to_events_never_delivered_is_a_422(flare_env: FlareEnv) -> None:
    async with running(create_app(settings(flare_env))) as client:
        response = await client.post(
            "/v1/subscriptions",
            json={"target": "https://example.org/h", "event_types": ["flare.escalation.received"]},
            headers=bearer(Role.ADMIN),
        )
    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == "/event_types"


async def test_poison_events_go_to_the_dlq_with_a_reason_and_delivery_goes_on(
    flare_env: FlareEnv,
) -> None:
    bad_body = Envelope.new(EventType.CASE_CREATED, "/test", snapshot())  # a snapshot, no event
    async with receiver() as peer, running(create_app(settings(flare_env))) as client:
        await subscribe(client, f"{peer.url}/hook")
        await publish_raw(flare_env, b"not json", [("content-type", b"application/json")])
        await publish(flare_env, bad_body, case_envelope(EventType.CASE_CREATED, snapshot()))
        await received(peer, 1)
        # Read while the notifier runs: the poison may sit on other partitions than the good
        # event, and be consumed after its webhook went out.
        dead = await read_topic(flare_env.kafka, flare_env.topics.dlq, expected=2)
    reasons = [dict(record.headers)["flare_dlq_reason"].decode() for record in dead]
    assert len(reasons) == 2, reasons
    assert any("not a CloudEvent" in reason for reason in reasons), reasons
    assert any("does not match CaseEvent" in reason for reason in reasons), reasons
    assert {dict(record.headers)["flare_dlq_consumer"] for record in dead} == {
        b"notifier_deliveries"
    }


async def test_subscription_receives_only_events_its_filters_want(flare_env: FlareEnv) -> None:
    async with receiver() as peer, running(create_app(settings(flare_env))) as client:
        await subscribe(
            client,
            f"{peer.url}/legal",
            teams=["Legal"],
            min_severity="SEV2",
            event_types=["flare.case.created"],
        )
        await subscribe(client, f"{peer.url}/all")
        wanted = snapshot(team="Legal", severity=Severity.SEV1)
        events = [
            case_envelope(EventType.CASE_CREATED, snapshot(team="Sales")),
            case_envelope(EventType.CASE_CREATED, snapshot(team="Legal", severity=Severity.SEV3)),
            case_envelope(EventType.CASE_RESOLVED, wanted),
            case_envelope(EventType.CASE_CREATED, wanted),
        ]
        await publish(flare_env, *events)
        await received(peer, 5)

    legal = [
        request.json()["data"]["case_id"] for request in peer.requests if request.path == "legal"
    ]
    assert legal == [str(wanted.case_id)]
    assert len([request for request in peer.requests if request.path == "all"]) == 4


async def test_events_older_than_the_max_age_raise_no_deliveries(flare_env: FlareEnv) -> None:
    old_case = snapshot()
    stale = replace(
        case_envelope(EventType.CASE_CREATED, old_case),
        time=datetime.now(UTC) - timedelta(hours=2),
    )
    fresh = snapshot()
    async with receiver() as peer, running(create_app(settings(flare_env))) as client:
        await subscribe(client, f"{peer.url}/hook")
        await publish(flare_env, stale, case_envelope(EventType.CASE_CREATED, fresh), key="one")
        await received(peer, 1)
        await wait_until(lambda: handled_at_least(client, 2), what="both events handled")
    assert [request.json()["data"]["case_id"] for request in peer.requests] == [str(fresh.case_id)]
    views = await fetch(flare_env, "SELECT case_id FROM notifier.case_views")
    assert {row["case_id"] for row in views} == {old_case.case_id, fresh.case_id}


async def test_events_after_deliveries_began_are_delivered_however_late(
    flare_env: FlareEnv,
) -> None:
    # Deliveries began three hours ago; then the notifier was down for more than an hour.
    await execute(
        flare_env,
        "INSERT INTO notifier.delivery_epoch (name, started_at) VALUES ('deliveries', $1)",
        datetime.now(UTC) - timedelta(hours=3),
    )
    during_outage = snapshot()
    late = replace(
        case_envelope(EventType.CASE_CREATED, during_outage),
        time=datetime.now(UTC) - timedelta(hours=2),
    )
    async with receiver() as peer, running(create_app(settings(flare_env))) as client:
        await subscribe(client, f"{peer.url}/hook")
        await publish(flare_env, late, key="one")
        await received(peer, 1)
    assert [request.json()["data"]["case_id"] for request in peer.requests] == [
        str(during_outage.case_id)
    ]


async def test_each_outcome_is_recorded_when_its_send_ends_not_with_slower_ones(
    flare_env: FlareEnv,
) -> None:
    # A crash repeats only the sends under way: a finished one is already on record.
    # The stuck send outlasts the wait below: its timeout cannot end it early.
    patient = settings(flare_env, delivery_timeout_s=60)
    async with (
        receiver() as stuck,
        receiver() as quick,
        running(create_app(patient)) as client,
    ):
        stuck.gate.clear()  # its answer is held: that send stays in flight
        await subscribe(client, f"{stuck.url}/stuck")
        quick_subscription = await subscribe(client, f"{quick.url}/quick")
        case = snapshot()
        await publish(flare_env, case_envelope(EventType.CASE_CREATED, case))
        await received(stuck, 1)

        async def quick_recorded() -> bool:
            items = await deliveries(client, case_id=str(case.case_id))
            mine = [i for i in items if i["subscription_id"] == quick_subscription["id"]]
            return [item["status"] for item in mine] == ["delivered"]

        await wait_until(quick_recorded, what="the quick delivery recorded")
        assert stuck.delivered == [], "the stuck send is still in flight"
        stuck.gate.set()


async def test_a_delivery_queued_behind_a_stuck_send_goes_out_without_waiting_for_it(
    flare_env: FlareEnv,
) -> None:
    patient = settings(flare_env, delivery_timeout_s=60)  # the stuck send outlasts the test
    async with (
        receiver() as stuck,
        receiver() as quick,
        running(create_app(patient)) as client,
    ):
        stuck.gate.clear()
        await subscribe(client, f"{stuck.url}/stuck", teams=["Legal"])
        await subscribe(client, f"{quick.url}/quick", teams=["Global Operations"])
        await publish(flare_env, case_envelope(EventType.CASE_CREATED, snapshot(team="Legal")))
        await received(stuck, 1)
        await publish(flare_env, case_envelope(EventType.CASE_CREATED, snapshot()))
        await received(quick, 1)
        assert stuck.delivered == [], "the stuck send is still in flight"
        stuck.gate.set()


async def test_sends_run_side_by_side_up_to_the_concurrency_and_no_further(
    flare_env: FlareEnv,
) -> None:
    async with (
        receiver() as peer,
        running(create_app(settings(flare_env, delivery_concurrency=3))) as client,
    ):
        peer.gate.clear()  # every answer is held: each send stays in flight
        await subscribe(client, f"{peer.url}/hook")
        await publish(
            flare_env, *(case_envelope(EventType.CASE_CREATED, snapshot()) for _ in range(5))
        )

        async def all_queued() -> bool:
            return len(await fetch(flare_env, "SELECT 1 FROM notifier.deliveries")) == 5

        await wait_until(all_queued, what="five deliveries queued")
        await received(peer, 3)
        # Nothing more may happen: ten polls' time, in which a fourth slot would have sent.
        await asyncio.sleep(0.5)
        assert len(peer.requests) == 3
        peer.gate.set()
        await received(peer, 5)


async def test_deliveries_due_together_go_out_at_once_not_one_per_poll(
    flare_env: FlareEnv,
) -> None:
    """One look finds five due, and one slot may send: it keeps claiming until a claim finds
    none. With a minute between polls, a slot that stopped after one delivery would leave the
    others waiting for a minute."""
    one_slot = settings(flare_env, delivery_poll_interval_s=60, delivery_concurrency=1)
    async with receiver() as peer:
        await queue_deliveries(flare_env, 5, target=f"{peer.url}/chat")
        async with running(create_app(one_slot)):
            await received(peer, 5)


async def test_a_delivery_queued_while_its_subscription_is_deleted_is_cancelled_not_sent(
    flare_env: FlareEnv,
) -> None:
    async with receiver() as peer, running(create_app(settings(flare_env))) as client:
        created = await subscribe(client, f"{peer.url}/hook")
        gone = await client.delete(f"/v1/subscriptions/{created['id']}", headers=bearer(Role.ADMIN))
        assert gone.status_code == 204
        # What a delivery consumer still holding the subscriptions it read just before the
        # delete queues for the rest of its poll.
        [stale] = await fetch(flare_env, "SELECT * FROM notifier.subscriptions")
        envelope = case_envelope(EventType.CASE_CREATED, snapshot())
        event = CaseEvent.model_validate(envelope.data)
        engine = make_engine(flare_env.database_url)
        try:
            async with make_sessions(engine).begin() as session:
                body_for = partial(render, alert=make_alert(envelope.event_type, event, "", ()))
                queued = await _queue_subscriptions(
                    session,
                    envelope,
                    event.case,
                    partial(body_for, occurred_at=envelope.time),
                    datetime.now(UTC),
                    [dict(stale)],
                )
        finally:
            await engine.dispose()
        assert queued == 1

        async def cancelled() -> bool:
            rows = await fetch(flare_env, "SELECT status, last_error FROM notifier.deliveries")
            return [tuple(row) for row in rows] == [("cancelled", "subscription deleted")]

        await wait_until(cancelled, what="the delivery cancelled")
    assert peer.requests == []


async def test_every_delivery_outcome_is_counted_from_zero_before_the_first(
    flare_env: FlareEnv,
) -> None:
    """FlareDeliveriesDead fires on `increase()`: a series born at 1 would hide the first page
    that reached nobody."""
    async with running(create_app(settings(flare_env))) as client:
        metrics = (await client.get("/metrics")).text
    for kind in ("page", "subscription"):
        for channel in ("webhook", "chat", "email"):
            dead = f'channel="{channel}",kind="{kind}",outcome="dead"'
            assert f"flare_deliveries_total{{{dead}}} 0.0" in metrics
