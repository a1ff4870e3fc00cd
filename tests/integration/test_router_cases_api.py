"""The cases API: responder auth, filters and paging, detail with explanation, the lifecycle."""

import json
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest

from services.router.settings import RouterSettings
from shared.auth import Role
from shared.events import EscalationReceived
from tests.conftest import FlareEnv
from tests.integration.conftest import execute, fetch
from tests.integration.router_helpers import (
    T0,
    bearer,
    escalation,
    handle_all,
    received,
    router_app,
)
from tests.kafka_reader import read_topic

QUIET = {"sla_check_interval_s": 3600}


async def open_case(env: FlareEnv, **fields: Any) -> UUID:
    [case_id] = await handle_all(env, received(escalation(dedup_key=str(uuid4()), **fields)))
    assert case_id is not None
    return case_id


async def post(
    client: httpx.AsyncClient,
    settings: RouterSettings,
    path: str,
    body: Any = None,
    role: Role = Role.RESPONDER,
) -> httpx.Response:
    return await client.post(path, json=body, headers=bearer(settings, "ana", role))


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/v1/cases", {}),
        ("/v1/teams", {"Authorization": "Bearer nope"}),
        ("/v1/oncall", {"Authorization": "Basic x"}),
    ],
    ids=["no-token", "bad-token", "not-bearer"],
)
async def test_reading_without_a_valid_token_is_401_problem(
    flare_env: FlareEnv, path: str, headers: dict[str, str]
) -> None:
    async with router_app(flare_env, **QUIET) as (client, _):
        response = await client.get(path, headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_an_analyst_cannot_acknowledge_and_a_responder_cannot_reassign(
    flare_env: FlareEnv,
) -> None:
    case_id = await open_case(flare_env)
    async with router_app(flare_env, **QUIET) as (client, settings):
        ack = await post(client, settings, f"/v1/cases/{case_id}/acknowledge", role=Role.ANALYST)
        move = await post(
            client, settings, f"/v1/cases/{case_id}/reassign", {"team": "legal", "reason": "x"}
        )
    assert (ack.status_code, move.status_code) == (403, 403)
    assert ack.headers["content-type"] == "application/problem+json"


async def test_acknowledge_then_resolve_publishes_each_change_and_refuses_illegal_ones(
    flare_env: FlareEnv,
) -> None:
    case_id = await open_case(flare_env)
    base = f"/v1/cases/{case_id}"
    async with router_app(flare_env, **QUIET) as (client, settings):
        ack = await post(client, settings, f"{base}/acknowledge", {"note": "on it"})
        again = await post(client, settings, f"{base}/acknowledge")
        done = await post(
            client, settings, f"{base}/resolve", {"code": "actioned", "summary": "removed"}
        )
        late_ack = await post(client, settings, f"{base}/acknowledge")
        late_resolve = await post(client, settings, f"{base}/resolve", {"code": "duplicate"})
        late_move = await post(
            client, settings, f"{base}/reassign", {"team": "legal", "reason": "x"}, role=Role.LEAD
        )
        note = await post(client, settings, f"{base}/notes", {"text": "post-mortem filed"})
        records = await read_topic(flare_env.kafka, flare_env.topics.cases, expected=4)
    assert (ack.status_code, ack.json()["status"], ack.json()["assignee"]) == (
        200,
        "acknowledged",
        "aoife",
    )
    assert (done.status_code, done.json()["resolution_code"]) == (200, "actioned")
    assert [r.status_code for r in (again, late_ack, late_resolve, late_move)] == [409] * 4
    assert late_ack.headers["content-type"] == "application/problem+json"
    assert note.status_code == 201
    published = [(dict(r.headers)["ce_type"].decode(), json.loads(r.value)) for r in records]
    assert [event_type for event_type, _ in published] == [
        "flare.case.created",
        "flare.case.acknowledged",
        "flare.case.resolved",
        "flare.case.note_added",
    ]
    assert [body["actor"] for _, body in published] == ["router", "ana", "ana", "ana"]
    assert published[2][1]["case"]["status"] == "resolved"


async def test_case_detail_explains_the_score_and_keeps_the_timeline(flare_env: FlareEnv) -> None:
    case_id = await open_case(flare_env, signals={"imminent_harm": True})
    async with router_app(flare_env, **QUIET) as (client, settings):
        await post(client, settings, f"/v1/cases/{case_id}/notes", {"text": "called partner"})
        await post(
            client,
            settings,
            f"/v1/cases/{case_id}/reassign",
            {"team": "legal", "reason": "court order"},
            role=Role.LEAD,
        )
        detail = await client.get(f"/v1/cases/{case_id}", headers=bearer(settings))
        missing = await client.get(f"/v1/cases/{uuid4()}", headers=bearer(settings))
        # Who was on call for Legal when it was reassigned: the rotation hands over daily.
        reassigned_at = detail.json()["timeline"][2]["at"]
        rota = await client.get(
            "/v1/oncall", params={"at": reassigned_at}, headers=bearer(settings)
        )
    [[on_call]] = [team["on_call"] for team in rota.json() if team["team"] == "legal"]
    body = detail.json()
    assert body["explanation"]["policy_version"].startswith("default@")
    assert {"category_crisis", "imminent_harm", "crisis_imminent_harm_floor"} <= {
        rule["name"] for rule in body["explanation"]["rules"]
    }
    assert [(e["actor"], e["action"]) for e in body["timeline"]] == [
        ("router", "created"),
        ("ana", "note_added"),
        ("ana", "reassigned"),
    ]
    assert on_call in ("dana", "omar")
    assert body["timeline"][2]["detail"]["to"] == {"team": "Legal", "assignee": on_call}
    assert (body["case"]["team"], body["case"]["assignee"]) == ("Legal", on_call)
    assert missing.status_code == 404


async def test_evidence_is_served_apart_from_the_case_and_only_to_responders(
    flare_env: FlareEnv,
) -> None:
    frame = {"url": "https://evidence.example.org/77/frame.png", "kind": "image", "sensitive": True}
    page = {"url": "https://example.org/post/77", "kind": "link"}
    first = received(escalation(evidence=[frame]))
    second = received(escalation(evidence=[page]), at=T0 + timedelta(minutes=1))
    [case_id, joined] = await handle_all(flare_env, first, second)
    assert joined == case_id
    async with router_app(flare_env, **QUIET) as (client, settings):
        evidence = await client.get(f"/v1/cases/{case_id}/evidence", headers=bearer(settings))
        detail = await client.get(f"/v1/cases/{case_id}", headers=bearer(settings))
        anonymous = await client.get(f"/v1/cases/{case_id}/evidence")
        missing = await client.get(f"/v1/cases/{uuid4()}/evidence", headers=bearer(settings))
    first_id = EscalationReceived.model_validate(first.data).escalation_id
    second_id = EscalationReceived.model_validate(second.data).escalation_id
    assert evidence.json() == [
        {"escalation_id": str(first_id), **frame},
        {"escalation_id": str(second_id), **page, "sensitive": False},
    ]
    assert detail.json()["case"]["sensitive"] is True
    assert "evidence.example.org" not in detail.text
    assert (anonymous.status_code, missing.status_code) == (401, 404)
    viewed = await fetch(
        flare_env, "SELECT actor FROM router.case_timeline WHERE action = 'evidence_viewed'"
    )
    assert [row["actor"] for row in viewed] == ["ana"]


async def test_the_timeline_is_append_only_in_the_database(flare_env: FlareEnv) -> None:
    await open_case(flare_env)
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await fetch(flare_env, "UPDATE router.case_timeline SET actor = 'mallory'")
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await fetch(flare_env, "DELETE FROM router.case_timeline")


async def test_reassign_to_an_unknown_team_or_with_nothing_is_422(flare_env: FlareEnv) -> None:
    case_id = await open_case(flare_env)
    async with router_app(flare_env, **QUIET) as (client, settings):
        unknown = await post(
            client,
            settings,
            f"/v1/cases/{case_id}/reassign",
            {"team": "nobody", "reason": "x"},
            role=Role.LEAD,
        )
        empty = await post(
            client, settings, f"/v1/cases/{case_id}/reassign", {"reason": "x"}, role=Role.LEAD
        )
    assert (unknown.status_code, empty.status_code) == (422, 422)


async def test_reassign_to_a_team_with_nobody_on_call_names_a_responder_or_is_422(
    flare_env: FlareEnv,
) -> None:
    """Not a case nobody owns: without a responder named, a team nobody is on call for is
    refused, and the case stays as it was."""
    case_id = await open_case(flare_env)
    await execute(
        flare_env,
        "INSERT INTO router.teams (slug, name, timezone)"
        " VALUES ('trust-research', 'Trust Research', 'UTC')",
    )
    base = f"/v1/cases/{case_id}"
    async with router_app(flare_env, **QUIET) as (client, settings):
        before = (await client.get(base, headers=bearer(settings))).json()["case"]
        move = {"team": "trust-research", "reason": "research"}
        refused = await post(client, settings, f"{base}/reassign", move, role=Role.LEAD)
        after = (await client.get(base, headers=bearer(settings))).json()["case"]
        named = await post(
            client, settings, f"{base}/reassign", {**move, "responder": "dana"}, role=Role.LEAD
        )
    assert refused.status_code == 422
    assert refused.json()["detail"] == "Nobody is on call for Trust Research now: name a responder."
    assert after == before
    assert (named.json()["team"], named.json()["assignee"]) == ("Trust Research", "dana")


async def test_cases_are_filtered_by_a_teams_name_or_slug(flare_env: FlareEnv) -> None:
    """Also by a name no team has now: a team renamed since, or one only a policy names."""
    await open_case(flare_env)  # a crisis: Global Operations
    renamed = await open_case(flare_env)
    await execute(flare_env, "UPDATE router.cases SET team = 'Ops (old)' WHERE id = $1", renamed)
    async with router_app(flare_env, **QUIET) as (client, settings):
        pages = [
            await client.get("/v1/cases", params={"team": team}, headers=bearer(settings))
            for team in ("Global Operations", "global-operations", "legal", "Ops (old)")
        ]
    assert [len(page.json()["items"]) for page in pages] == [1, 1, 0, 1]


async def test_cases_are_filtered_and_paged_with_a_cursor(flare_env: FlareEnv) -> None:
    for index in range(5):
        await handle_all(
            flare_env,
            received(
                escalation(dedup_key=f"k{index}", region="US"), at=T0 + timedelta(minutes=index)
            ),
        )
    await handle_all(flare_env, received(escalation(category="legal_request", dedup_key="l")))
    async with router_app(flare_env, **QUIET) as (client, settings):
        seen: list[str] = []
        cursor: str | None = None
        pages = 0
        while True:
            params: dict[str, Any] = {"team": "Global Operations", "limit": 2}
            if cursor:
                params["cursor"] = cursor
            page = (await client.get("/v1/cases", params=params, headers=bearer(settings))).json()
            seen += [item["case_id"] for item in page["items"]]
            pages += 1
            cursor = page["next_cursor"]
            if cursor is None:
                break

        async def count(**params: Any) -> int:
            response = await client.get("/v1/cases", params=params, headers=bearer(settings))
            return len(response.json()["items"])

        counts = [
            await count(category="legal_request"),
            await count(region="US"),
            await count(status="open"),
            await count(status="resolved"),
            await count(severity="SEV1"),
            await count(since=(T0 + timedelta(minutes=3)).isoformat()),
        ]
        bad = await client.get("/v1/cases", params={"cursor": "x"}, headers=bearer(settings))
        naive = await client.get(
            "/v1/cases", params={"since": "2026-10-12T12:00:00"}, headers=bearer(settings)
        )
    assert (pages, len(seen), len(set(seen))) == (3, 5, 5)
    assert counts == [1, 5, 6, 0, 5, 2]
    assert bad.status_code == 400
    assert naive.status_code == 422
    assert naive.json()["errors"][0]["pointer"] == "/since"


async def test_a_case_reassigned_to_a_watching_team_and_a_named_responder(
    flare_env: FlareEnv,
) -> None:
    """The team that takes the case stops watching it; a named responder is assigned as named,
    one nobody knows is a 422 that changes nothing."""
    case_id = await open_case(flare_env)  # a crisis: Global Operations, watched by Communications
    base = f"/v1/cases/{case_id}"
    async with router_app(flare_env, **QUIET) as (client, settings):
        before = (await client.get(base, headers=bearer(settings))).json()["case"]
        unknown = await post(
            client,
            settings,
            f"{base}/reassign",
            {"team": "communications", "responder": "nobody-here", "reason": "x"},
            role=Role.LEAD,
        )
        after_refusal = (await client.get(base, headers=bearer(settings))).json()["case"]
        moved = await post(
            client,
            settings,
            f"{base}/reassign",
            {"team": "communications", "responder": "dana", "reason": "press angle"},
            role=Role.LEAD,
        )
    assert "Communications" in before["watchers"]
    assert unknown.status_code == 422
    assert unknown.headers["content-type"] == "application/problem+json"
    assert after_refusal == before
    assert moved.status_code == 200
    case = moved.json()
    assert (case["team"], case["assignee"]) == ("Communications", "dana")
    assert "Communications" not in case["watchers"]
    assert "Public Policy" in case["watchers"]
    assert "Global Operations" in case["watchers"], "the team it left keeps watching"
    [stored] = await fetch(flare_env, "SELECT team, assignee FROM router.cases")
    assert (stored["team"], stored["assignee"]) == ("Communications", "dana")
