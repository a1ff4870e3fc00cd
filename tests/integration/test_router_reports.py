"""Trend and SLA reports over a date range, as JSON and as CSV."""

import base64
import csv
import io
from datetime import UTC, date, datetime, timedelta
from uuid import uuid4

from services.router import case_actions
from shared.auth import Role
from tests.conftest import FlareEnv
from tests.integration.conftest import execute
from tests.integration.router_helpers import (
    T0,
    bearer,
    escalation,
    handle_all,
    received,
    router_app,
    router_sessions,
)

RANGE = {"start": "2026-10-12", "end": "2026-10-13"}


async def seed(env: FlareEnv) -> None:
    ids = await handle_all(
        env,
        received(escalation(region="US", dedup_key="a")),
        received(escalation(region="US", dedup_key="a"), at=T0 + timedelta(minutes=1)),
        received(escalation(category="legal_request", dedup_key="b"), at=T0 + timedelta(days=1)),
        received(escalation(dedup_key="c"), at=T0 + timedelta(days=5)),  # outside the range
    )
    async with router_sessions(env) as sessions, sessions.begin() as session:
        assert ids[0] is not None
        await case_actions.acknowledge(
            session, env.topics, ids[0], "ana", None, T0 + timedelta(minutes=10)
        )


async def test_trends_count_cases_over_time_by_category_region_team_and_top_subjects(
    flare_env: FlareEnv,
) -> None:
    await seed(flare_env)
    risks = (
        "INSERT INTO router.emerging_risks (region, category, window_start, report_count,"
        " detected_at) VALUES ($1, 'crisis', $2, 57, $2)"
    )
    await execute(flare_env, risks, "SD", T0 + timedelta(hours=2))
    await execute(flare_env, risks, "SD", T0 + timedelta(days=5))  # outside the range
    async with router_app(flare_env, sla_check_interval_s=3600) as (client, settings):
        headers = bearer(settings, role=Role.ANALYST)
        response = await client.get("/v1/reports/trends", params=RANGE, headers=headers)
        as_csv = await client.get(
            "/v1/reports/trends", params=RANGE, headers=headers | {"Accept": "text/csv"}
        )
        refused = await client.get("/v1/reports/trends", params=RANGE, headers=bearer(settings))
    body = response.json()
    assert body["by_day"] == [{"key": "2026-10-12", "count": 1}, {"key": "2026-10-13", "count": 1}]
    assert body["by_category"] == [
        {"key": "crisis", "count": 1},
        {"key": "legal_request", "count": 1},
    ]
    assert {"key": "US", "count": 1} in body["by_region"]
    assert body["by_day_category"] == [
        {"day": "2026-10-12", "key": "crisis", "count": 1},
        {"day": "2026-10-13", "key": "legal_request", "count": 1},
    ]
    assert body["by_day_region"] == [
        {"day": "2026-10-12", "key": "US", "count": 1},
        {"day": "2026-10-13", "key": "unknown", "count": 1},
    ]
    assert body["top_subjects"][0] == {"key": "dedup:a", "count": 2}
    assert body["emerging_risks"] == [{"key": "SD crisis, 2026-10-12 14:00 UTC", "count": 57}]
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert {"section": "by_team", "day": "", "key": "Legal", "count": "1"} in rows
    assert {"section": "by_day_region", "day": "2026-10-12", "key": "US", "count": "1"} in rows
    assert refused.status_code == 403


async def test_sla_report_gives_percentiles_and_breaches_by_team(flare_env: FlareEnv) -> None:
    await seed(flare_env)
    async with router_app(flare_env, sla_check_interval_s=3600) as (client, settings):
        headers = bearer(settings, role=Role.ANALYST)
        response = await client.get("/v1/reports/sla", params=RANGE, headers=headers)
        as_csv = await client.get(
            "/v1/reports/sla", params=RANGE, headers=headers | {"Accept": "text/csv"}
        )
        backwards = await client.get(
            "/v1/reports/sla", params={"start": "2026-10-13", "end": "2026-10-12"}, headers=headers
        )
    teams = {row["team"]: row for row in response.json()["teams"]}
    assert teams["Global Operations"]["acknowledged"] == 1
    assert teams["Global Operations"]["ack_p50_minutes"] == 10.0
    assert teams["all"]["cases"] == 2
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [row["team"] for row in rows] == ["Global Operations", "Legal", "all"]
    assert backwards.status_code == 422


async def test_times_a_datetime_cannot_do_arithmetic_on_are_refused_not_failed(
    flare_env: FlareEnv,
) -> None:
    async with router_app(flare_env, sla_check_interval_s=3600) as (client, settings):
        analyst = bearer(settings, role=Role.ANALYST)
        late = {"start": "9999-12-31", "end": "9999-12-31"}
        answers = [
            await client.get(f"/v1/reports/{report}", params=dates, headers=analyst)
            for report in ("trends", "sla")
            for dates in (late, {"end": "0001-01-05"})  # its default start: before year 1
        ]
        early = "0001-01-01T00:00:00+14:00"
        responder = bearer(settings)
        answers.append(await client.get("/v1/oncall", params={"at": early}, headers=responder))
        answers.append(await client.get("/v1/cases", params={"since": early}, headers=responder))
        for crafted in (f"{early}|{uuid4()}", f"2026-01-01T00:00:00|{uuid4()}"):  # naive too
            cursor = base64.urlsafe_b64encode(crafted.encode()).decode()
            answers.append(
                await client.get("/v1/cases", params={"cursor": cursor}, headers=responder)
            )
    assert [answer.status_code for answer in answers] == [422] * 6 + [400, 400]
    assert all(answer.headers["content-type"] == "application/problem+json" for answer in answers)


async def test_a_report_asked_for_without_dates_covers_the_last_four_weeks(
    flare_env: FlareEnv,
) -> None:
    # A day's margin either side: the answer is the same if midnight passes meanwhile.
    today = datetime.now(UTC)
    await handle_all(
        flare_env,
        received(escalation(dedup_key="recent"), at=today - timedelta(days=26)),
        received(escalation(dedup_key="old"), at=today - timedelta(days=29)),
        now=today,
    )
    async with router_app(flare_env, sla_check_interval_s=3600) as (client, settings):
        headers = bearer(settings, role=Role.ANALYST)
        trends = (await client.get("/v1/reports/trends", headers=headers)).json()
        sla = await client.get("/v1/reports/sla", headers=headers)
        until = await client.get(
            "/v1/reports/trends", params={"end": "2026-10-13"}, headers=headers
        )
    start, end = date.fromisoformat(trends["start"]), date.fromisoformat(trends["end"])
    assert end in (today.date(), today.date() + timedelta(days=1))
    assert end - start == timedelta(days=27)
    assert trends["top_subjects"] == [{"key": "dedup:recent", "count": 1}]
    assert sla.status_code == 200
    assert (until.json()["start"], until.json()["end"]) == ("2026-09-16", "2026-10-13")
