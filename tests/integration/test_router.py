"""router against real Postgres: scored, assigned cases; one effect per event id; correlation."""

import json
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from uuid import UUID

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services.router import case_actions
from services.router.schemas import ResolutionCode, ResolveIn
from services.router.service import handle_events
from shared.events import EscalationReceived
from shared.kafka import Envelope, InvalidEvent
from shared.tracing import span, use_exporter
from tests.conftest import FlareEnv
from tests.integration.conftest import execute, fetch
from tests.integration.router_helpers import (
    NO_LAG,
    POLICY,
    T0,
    TRACEPARENT,
    escalation,
    every,
    handle_all,
    handle_poll,
    received,
    router_sessions,
    uncached,
)

# One event per transaction, or all of them as one poll: the outcome must be the same.
Handle = Callable[..., Awaitable[list[UUID | None]]]


async def test_received_event_opens_a_scored_assigned_case_and_queues_case_created(
    flare_env: FlareEnv,
) -> None:
    event = received(escalation(signals={"imminent_harm": True}, region="US"))
    [case_id] = await handle_all(flare_env, event)
    [case] = await fetch(flare_env, "SELECT * FROM router.cases")
    assert (case["id"], str(case["escalation_id"]), case["status"]) == (
        case_id,
        event.data["escalation_id"],
        "open",
    )
    assert (case["severity"], case["score"], case["team"], case["watchers"]) == (
        "SEV1",
        100,
        "Global Operations",
        ["Public Policy", "Communications"],
    )
    # Global Operations follows the sun: at 12:00 UTC the Dublin base layer is on call.
    assert case["assignee"] == "aoife"
    assert case["policy_version"].startswith("default@")
    assert case["ack_due_at"] == T0 + timedelta(minutes=15)
    queued = await fetch(flare_env, "SELECT topic, key, event_type, traceparent FROM router.outbox")
    assert [tuple(row) for row in queued] == [
        (flare_env.topics.cases, str(case_id), "flare.case.created", TRACEPARENT)
    ]
    timeline = await fetch(flare_env, "SELECT actor, action FROM router.case_timeline")
    assert [tuple(row) for row in timeline] == [("router", "created")]


async def test_redelivered_event_changes_nothing(flare_env: FlareEnv) -> None:
    event = received()
    first, again = await handle_all(flare_env, event, event)
    assert first is not None
    assert again is None
    assert len(await fetch(flare_env, "SELECT 1 FROM router.cases")) == 1
    assert len(await fetch(flare_env, "SELECT 1 FROM router.case_reports")) == 1
    assert len(await fetch(flare_env, "SELECT 1 FROM router.outbox")) == 1


async def test_event_of_another_type_is_invalid_and_stores_nothing(flare_env: FlareEnv) -> None:
    event = received()
    wrong = Envelope(event.id, "flare.case.created", event.source, event.time, event.data)
    with pytest.raises(InvalidEvent, match="cannot handle"):
        await handle_all(flare_env, wrong)
    assert await fetch(flare_env, "SELECT 1 FROM router.processed_events") == []


async def test_a_polls_events_are_handled_in_one_transaction_as_one_by_one_would(
    flare_env: FlareEnv,
) -> None:
    first, joining = received(), received(at=T0 + timedelta(hours=1))
    other = received(escalation(dedup_key="video:456"))
    async with router_sessions(flare_env) as sessions:
        changed = await handle_events(
            sessions, flare_env.topics, POLICY, uncached(), [first, joining, other, first], NO_LAG
        )
    case_a, again, case_b = changed
    assert case_a == again != case_b, "the second report joins the case the first opened"
    cases = await fetch(flare_env, "SELECT id, report_count FROM router.cases ORDER BY created_at")
    assert sorted((row["id"], row["report_count"]) for row in cases) == sorted(
        [(case_a, 2), (case_b, 1)]
    )
    events = await fetch(flare_env, "SELECT key, event_type FROM router.outbox ORDER BY id")
    assert [tuple(row) for row in events] == [
        (str(case_a), "flare.case.created"),
        (str(case_a), "flare.case.updated"),
        (str(case_b), "flare.case.created"),
    ], "the redelivered first report changed nothing"


async def test_events_of_a_poll_continue_the_trace_of_the_report_that_caused_them(
    flare_env: FlareEnv,
) -> None:
    other_trace = "0af7651916cd43dd8448eb211c80319c"
    first = received()
    other = Envelope.new(
        first.event_type,
        first.source,
        EscalationReceived.model_validate(received(escalation(dedup_key="video:456")).data),
        f"00-{other_trace}-b7ad6b7169203331-01",
    )
    use_exporter("tests", InMemorySpanExporter())
    try:
        # As the consumer loop runs a poll: in one span of its own, linked to both traces.
        with span("consume router batch", links=[first.traceparent, other.traceparent]):
            async with router_sessions(flare_env) as sessions:
                await handle_events(
                    sessions, flare_env.topics, POLICY, uncached(), [first, other], NO_LAG
                )
    finally:
        use_exporter("tests", None)
    rows = await fetch(flare_env, "SELECT traceparent FROM router.outbox ORDER BY id")
    assert [row["traceparent"].split("-")[1] for row in rows] == [
        TRACEPARENT.split("-")[1],
        other_trace,
    ]


async def test_a_poll_with_an_event_it_cannot_handle_stores_none_of_them(
    flare_env: FlareEnv,
) -> None:
    event = received()
    wrong = Envelope(event.id, "flare.case.created", event.source, event.time, event.data)
    async with router_sessions(flare_env) as sessions:
        with pytest.raises(InvalidEvent):
            await handle_events(
                sessions, flare_env.topics, POLICY, uncached(), [received(), wrong], NO_LAG
            )
    assert await fetch(flare_env, "SELECT 1 FROM router.processed_events") == []
    assert await fetch(flare_env, "SELECT 1 FROM router.cases") == []


async def test_reports_on_one_key_within_the_window_join_one_case(flare_env: FlareEnv) -> None:
    times = [T0, T0 + timedelta(hours=2), T0 + timedelta(hours=20)]
    ids = await handle_all(flare_env, *(received(at=at) for at in times))
    assert len(set(ids)) == 1
    [case] = await fetch(flare_env, "SELECT * FROM router.cases")
    assert (case["report_count"], case["first_seen_at"], case["last_seen_at"]) == (
        3,
        times[0],
        times[-1],
    )
    events = await fetch(flare_env, "SELECT event_type FROM router.outbox ORDER BY id")
    assert [row["event_type"] for row in events] == [
        "flare.case.created",
        "flare.case.updated",
        "flare.case.updated",
    ]


async def test_a_stronger_report_rescores_the_joined_case(flare_env: FlareEnv) -> None:
    stronger = escalation(signals={"imminent_harm": True, "legal_deadline": "2026-10-12T14:00:00Z"})
    await handle_all(flare_env, received(), received(stronger, at=T0 + timedelta(minutes=5)))
    [case] = await fetch(flare_env, "SELECT * FROM router.cases")
    assert (case["severity"], case["score"]) == ("SEV1", 100)
    assert "Legal" in case["watchers"]
    # Raised at 12:05 with the deadline at 14:00: resolution is due a margin before it, here
    # half the time left (57.5 min), as less than twice the policy's (60 min) is left.
    assert case["resolve_due_at"] == T0 + timedelta(minutes=62, seconds=30)


async def test_a_joined_report_never_makes_the_owning_team_a_watcher(flare_env: FlareEnv) -> None:
    legal, ip = (
        escalation(category=category) for category in ("legal_request", "intellectual_property")
    )
    await handle_all(flare_env, received(legal), received(ip, at=T0 + timedelta(minutes=5)))
    [case] = await fetch(flare_env, "SELECT team, watchers FROM router.cases")
    assert case["team"] == "Legal"
    assert "Legal" not in case["watchers"], "IP's routing names Legal as a watcher"


async def test_a_report_outside_the_window_opens_a_new_linked_case(flare_env: FlareEnv) -> None:
    first, later = await handle_all(flare_env, received(), received(at=T0 + timedelta(hours=25)))
    assert first != later
    [row] = await fetch(flare_env, "SELECT previous_case_id FROM router.cases WHERE id = $1", later)
    assert row["previous_case_id"] == first


@pytest.mark.parametrize("handle", [handle_all, handle_poll], ids=["one by one", "one poll"])
async def test_a_surge_on_one_key_raises_the_case_one_band_once(
    flare_env: FlareEnv, handle: Handle
) -> None:
    # SEV3 on its own, velocity included: 20 + 5 + 20.
    quiet = escalation(
        category="community_standards",
        description="Spam wave",
        reporter={"type": "monitoring", "name": "Probe"},
        evidence=[{"url": "https://cdn.example/1.jpg", "kind": "image", "sensitive": True}],
    )
    events = [received(quiet, at=at) for at in every(minutes=0.25, count=21)]
    ids = await handle(flare_env, *events)
    assert len(set(ids)) == 1
    [case] = await fetch(flare_env, "SELECT * FROM router.cases")
    assert (case["surge"], case["severity"], case["report_count"]) == (True, "SEV2", 21)
    assert json.loads(case["explanation"])["rules"][-1]["name"] == "surge"
    surges = await fetch(
        flare_env, "SELECT 1 FROM router.outbox WHERE event_type = 'flare.case.surge'"
    )
    assert len(surges) == 1
    [risk] = await fetch(
        flare_env, "SELECT key, data FROM router.outbox WHERE event_type = 'flare.risk.emerging'"
    )
    body = json.loads(risk["data"])
    assert risk["key"] == str(case["id"])
    assert (body["scope"], body["case_id"], body["category"]) == (
        "subject",
        str(case["id"]),
        "community_standards",
    )
    # The 20th report (4 min 45 s after the first) surged: the window is the ten minutes before it.
    assert (body["report_count"], body["window_minutes"]) == (20, 10)
    surged_at = T0 + timedelta(minutes=4, seconds=45)
    assert datetime.fromisoformat(body["window_start"]) == surged_at - timedelta(minutes=10)
    assert body["sensitive"] is True, "its evidence is: receivers see a content warning"


@pytest.mark.parametrize("handle", [handle_all, handle_poll], ids=["one by one", "one poll"])
async def test_every_change_of_a_case_has_a_later_snapshot_than_the_one_before(
    flare_env: FlareEnv, handle: Handle
) -> None:
    """Readers keep a case's newest snapshot by updated_at: the report that makes a surge and
    the surge itself happen at one moment, yet their snapshots must not tie."""
    events = [received(at=at) for at in every(minutes=0.25, count=20)]
    await handle(flare_env, *events)
    rows = await fetch(
        flare_env,
        "SELECT event_type, data FROM router.outbox"
        " WHERE event_type LIKE 'flare.case.%' ORDER BY id",
    )
    assert rows[-1]["event_type"] == "flare.case.surge"
    stamps = [datetime.fromisoformat(json.loads(row["data"])["case"]["updated_at"]) for row in rows]
    assert stamps == sorted(set(stamps)), "strictly increasing"


@pytest.mark.parametrize("handle", [handle_all, handle_poll], ids=["one by one", "one poll"])
async def test_a_region_category_surge_emits_one_emerging_risk(
    flare_env: FlareEnv, handle: Handle
) -> None:
    events = [
        received(escalation(region="SD", dedup_key=f"post:{index}"), at=at)
        for index, at in enumerate(every(minutes=0.5, count=52))
    ]
    await handle(flare_env, *events)
    risks = await fetch(
        flare_env, "SELECT key, data FROM router.outbox WHERE event_type = 'flare.risk.emerging'"
    )
    assert [row["key"] for row in risks] == ["risk:SD:crisis"]
    body = json.loads(risks[0]["data"])
    assert (body["scope"], body["region"], body["case_id"]) == ("region_category", "SD", None)
    assert len(await fetch(flare_env, "SELECT 1 FROM router.cases")) == 52


async def test_cases_unrelated_by_key_do_not_join(flare_env: FlareEnv) -> None:
    ids = await handle_all(
        flare_env, received(escalation(dedup_key="a")), received(escalation(dedup_key="b"))
    )
    assert len({UUID(str(case_id)) for case_id in ids}) == 2


async def test_a_report_after_the_case_is_resolved_opens_a_new_linked_case(
    flare_env: FlareEnv,
) -> None:
    [first] = await handle_all(flare_env, received())
    assert first is not None
    async with router_sessions(flare_env) as sessions, sessions.begin() as session:
        body = ResolveIn(code=ResolutionCode.ACTIONED)
        await case_actions.resolve(session, flare_env.topics, first, "ana", body, T0)
    [again] = await handle_all(flare_env, received(at=T0 + timedelta(minutes=5)))
    assert again != first
    rows = await fetch(
        flare_env, "SELECT id, status, previous_case_id FROM router.cases ORDER BY created_at"
    )
    assert [tuple(row) for row in rows] == [(first, "resolved", None), (again, "open", first)]


async def test_a_poll_decides_exactly_as_its_events_one_by_one(flare_env: FlareEnv) -> None:
    """A poll reads cases and counts once and keeps them current in memory (router/poll.py):
    joins, rescoring, both surges, late reports and new linked cases come out the same."""
    quiet = escalation(
        category="community_standards",
        description="Spam wave",
        reporter={"type": "monitoring", "name": "Probe"},
        dedup_key="spam",
    )
    stronger = escalation(signals={"imminent_harm": True})
    events = [
        received(at=T0),
        received(at=T0 + timedelta(minutes=1)),
        received(stronger, at=T0 + timedelta(minutes=3)),
        *(received(quiet, at=at) for at in every(minutes=0.25, count=21)),
        *(
            received(escalation(region="SD", dedup_key=f"post:{index}"), at=at)
            for index, at in enumerate(every(minutes=0.5, count=52))
        ),
        received(escalation(dedup_key="late"), at=T0 + timedelta(hours=25)),
        # Late by a day: joins the case its key opened last, as a late report one by one would.
        received(escalation(dedup_key="late"), at=T0 + timedelta(minutes=30)),
        received(at=T0 + timedelta(hours=30)),  # outside the window: a new case, linked
    ]
    await handle_all(flare_env, *events, events[0])
    one_by_one = await _outcome(flare_env)
    await execute(
        flare_env,
        "TRUNCATE router.cases, router.case_reports, router.case_timeline, router.outbox,"
        " router.processed_events, router.emerging_risks",
    )
    await handle_poll(flare_env, *events, events[0])
    assert await _outcome(flare_env) == one_by_one
    assert one_by_one["risks"], "the region surge is part of what is compared"
    assert any(case["surge"] for case in one_by_one["cases"]), "and the key surge"


async def _outcome(env: FlareEnv) -> dict[str, list[dict[str, object]]]:
    """Everything the router stored, with each case named by the report that opened it."""
    opened_by = "(SELECT o.escalation_id FROM router.cases o WHERE o.id = {})"
    queries = {
        "cases": "SELECT escalation_id, report_count, velocity_per_hour, surge, severity, score,"
        " team, assignee, watchers, first_seen_at, last_seen_at, ack_due_at, resolve_due_at,"
        f" explanation, {opened_by.format('c.previous_case_id')} AS previous"
        " FROM router.cases c ORDER BY escalation_id",
        "reports": f"SELECT escalation_id, {opened_by.format('r.case_id')} AS opened_by, score,"
        " severity, explanation FROM router.case_reports r ORDER BY escalation_id",
        "timeline": f"SELECT {opened_by.format('t.case_id')} AS opened_by, at, action, detail"
        " FROM router.case_timeline t ORDER BY id",
        "outbox": "SELECT event_type, CASE WHEN key LIKE 'risk:%' THEN key ELSE"
        f" {opened_by.format('key::uuid')}::text END AS key FROM router.outbox ORDER BY id",
        "risks": "SELECT region, category, window_start, report_count FROM router.emerging_risks",
    }
    return {name: [dict(row) for row in await fetch(env, query)] for name, query in queries.items()}


@pytest.mark.parametrize("handle", [handle_all, handle_poll], ids=["one by one", "one poll"])
async def test_the_newest_case_is_the_last_created_not_the_last_opened(
    flare_env: FlareEnv, handle: Handle
) -> None:
    [resolved] = await handle_all(flare_env, received(at=T0 + timedelta(hours=1)))
    assert resolved is not None
    async with router_sessions(flare_env) as sessions, sessions.begin() as session:
        body = ResolveIn(code=ResolutionCode.ACTIONED)
        await case_actions.resolve(session, flare_env.topics, resolved, "ana", body, T0)
    # A late report opens a case dated before the resolved one, which stays the newest: the
    # next report does not join the late case, it opens another.
    late, after = await handle(
        flare_env, received(at=T0), received(at=T0 + timedelta(hours=1, minutes=5))
    )
    assert len({resolved, late, after}) == 3
