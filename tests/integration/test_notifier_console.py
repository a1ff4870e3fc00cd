"""The responder console: a page with no data in it, and the case view its links open."""

import base64
import hashlib
from datetime import timedelta

import httpx

from services.notifier.app import create_app
from services.notifier.settings import NotifierSettings
from shared.events import CaseStatus, EventType
from tests.conftest import FlareEnv
from tests.integration.conftest import running
from tests.integration.notifier_peers import bearer, case_envelope, publish, snapshot, wait_until


async def test_console_page_is_served_without_data_and_with_a_strict_policy(
    flare_env: FlareEnv,
) -> None:
    async with running(create_app(flare_env.settings(NotifierSettings))) as client:
        for path in ("/", "/cases/0b7e5f0a-8d0c-4b8e-9a51-0d1f6c9a2b3c"):
            page = await client.get(path)
            assert page.status_code == 200
            assert page.headers["content-type"].startswith("text/html")
            policy = page.headers["content-security-policy"]
            assert "default-src 'none'" in policy
            assert 'new EventSource("/v1/stream?"' in page.text
            # Only the page's own script runs: the policy names it by its hash.
            served = page.text.split("<script>", 1)[1].split("</script>", 1)[0]
            digest = base64.b64encode(hashlib.sha256(served.encode()).digest()).decode()
            assert f"script-src 'sha256-{digest}';" in policy


async def test_case_view_shows_the_newest_snapshot_behind_responder_auth(
    flare_env: FlareEnv,
) -> None:
    opened = snapshot()
    later = opened.updated_at + timedelta(minutes=1)
    acknowledged = opened.model_copy(
        update={"status": CaseStatus.ACKNOWLEDGED, "updated_at": later}
    )
    created = case_envelope(EventType.CASE_CREATED, opened)
    async with running(create_app(flare_env.settings(NotifierSettings))) as client:
        path = f"/v1/cases/{opened.case_id}"
        assert (await client.get(path)).status_code == 401
        assert (await client.get(path, headers=bearer())).status_code == 404
        # The ack, then the creation again (a redelivery): the view stays acknowledged.
        await publish(flare_env, created, case_envelope(EventType.CASE_ACKNOWLEDGED, acknowledged))
        await publish(flare_env, created)

        async def acknowledged_view() -> bool:
            response = await client.get(path, headers=bearer())
            return (
                response.status_code == 200 and response.json()["case"]["status"] == "acknowledged"
            )

        await wait_until(acknowledged_view, what="the acknowledged case view")
        await wait_until(lambda: consumed(client, 3), what="the redelivered creation consumed")
        view = (await client.get(path, headers=bearer())).json()
    assert view["case"]["status"] == "acknowledged"
    assert view["last_event_type"] == "flare.case.acknowledged"


async def consumed(client: httpx.AsyncClient, count: int) -> bool:
    prefix = 'flare_events_consumed_total{consumer="notifier_deliveries",outcome="handled"} '
    for line in (await client.get("/metrics")).text.splitlines():
        if line.startswith(prefix):
            return float(line.removeprefix(prefix)) >= count
    return False
