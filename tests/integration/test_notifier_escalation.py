"""Escalation until someone acknowledges: policies set with the admin CLI, timers in Postgres that
fire each step once across replicas, and no page claimed after the acknowledgement is
recorded."""

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from services.notifier.app import create_app
from services.notifier.settings import NotifierSettings
from shared.auth import Role
from shared.events import CaseStatus, EventType
from tests.conftest import FlareEnv
from tests.integration.conftest import execute, fetch, running
from tests.integration.notifier_peers import (
    Receiver,
    bearer,
    case_envelope,
    escalation_admin,
    publish,
    receiver,
    set_policy,
    snapshot,
    wait_until,
)

TEAM = "Global Operations"


def settings(env: FlareEnv, **overrides: Any) -> NotifierSettings:
    values: dict[str, Any] = {
        "egress_allowed_networks": ["127.0.0.1/32"],
        "delivery_poll_interval_s": 0.05,
        "escalation_poll_interval_s": 0.05,
        "retry_first_delay_s": 0.3,
    }
    return env.settings(NotifierSettings, **(values | overrides))


async def timer_state(env: FlareEnv, case_id: UUID) -> str | None:
    rows = await fetch(
        env, "SELECT state FROM notifier.escalation_timers WHERE case_id = $1", case_id
    )
    return rows[0]["state"] if rows else None


def chat(peer: Receiver, path: str) -> str:
    return f"chat:{peer.url}/{path}"


def page_on_call(env: FlareEnv, tmp_path: Path, team: str, peer: Receiver, path: str) -> None:
    """The team's policy: one step, paging at once on `peer`'s chat webhook at `path`."""
    set_policy(env, tmp_path, team, [{"name": "on-call", "targets": [chat(peer, path)]}])


async def test_unacknowledged_case_pages_each_step_once_across_two_replicas(
    flare_env: FlareEnv, tmp_path: Path
) -> None:
    async with receiver() as peer:
        steps = [
            {"name": "on-call", "targets": [chat(peer, "oncall")]},
            {"name": "on-call again", "wait": "300ms", "targets": [chat(peer, "oncall")]},
            {"name": "lead", "wait": "300ms", "targets": [chat(peer, "lead")]},
        ]
        assert set_policy(flare_env, tmp_path, TEAM, steps) == f"{TEAM}: 3 steps\n"
        case = snapshot(team=TEAM)
        async with (
            running(create_app(settings(flare_env))),
            running(create_app(settings(flare_env))),
        ):
            await publish(flare_env, case_envelope(EventType.CASE_CREATED, case))

            async def done() -> bool:
                return await timer_state(flare_env, case.case_id) == "done"

            await wait_until(done, what="the last step fired")

            async def all_sent() -> bool:
                rows = await fetch(flare_env, "SELECT status FROM notifier.deliveries")
                return len(rows) == 3 and {row["status"] for row in rows} == {"delivered"}

            await wait_until(all_sent, what="three pages delivered")

    assert [request.path for request in peer.requests] == ["oncall", "oncall", "lead"]
    texts = [request.json()["text"] for request in peer.requests]
    assert all(case.title in text and "/cases/" in text for text in texts)


async def test_acknowledged_case_is_never_paged_after_the_ack_is_recorded(
    flare_env: FlareEnv, tmp_path: Path
) -> None:
    async with receiver(failures=1) as peer:
        steps = [
            {"name": "on-call", "targets": [chat(peer, "oncall")]},
            {"name": "lead", "wait": "30s", "targets": [chat(peer, "lead")]},
        ]
        set_policy(flare_env, tmp_path, TEAM, steps)
        case = snapshot(team=TEAM)
        async with running(create_app(settings(flare_env, retry_first_delay_s=1.0))):
            await publish(flare_env, case_envelope(EventType.CASE_CREATED, case))

            async def first_page_failed() -> bool:
                return len(peer.requests) == 1

            await wait_until(first_page_failed, what="the first page attempt")
            # The first page now waits for its retry; the case is acknowledged meanwhile.
            acknowledged = case.model_copy(update={"status": CaseStatus.ACKNOWLEDGED})
            await publish(flare_env, case_envelope(EventType.CASE_ACKNOWLEDGED, acknowledged))

            async def retry_cancelled() -> bool:
                rows = await fetch(flare_env, "SELECT status FROM notifier.deliveries")
                return [row["status"] for row in rows] == ["cancelled"]

            await wait_until(retry_cancelled, what="the pending page cancelled")
    assert await timer_state(flare_env, case.case_id) == "stopped"
    assert len(peer.requests) == 1


async def test_ack_during_a_page_in_flight_is_recorded_at_once_and_the_page_still_lands(
    flare_env: FlareEnv, tmp_path: Path
) -> None:
    """A page claimed before the acknowledgement goes out; the acknowledgement does not wait
    for it, and stops the timer: the next step never fires (ADR 0015)."""
    async with receiver() as peer:
        steps = [
            {"name": "on-call", "targets": [chat(peer, "oncall")]},
            {"name": "lead", "wait": "30s", "targets": [chat(peer, "lead")]},
        ]
        set_policy(flare_env, tmp_path, TEAM, steps)
        case = snapshot(team=TEAM)
        peer.gate.clear()
        async with running(create_app(settings(flare_env))):
            await publish(flare_env, case_envelope(EventType.CASE_CREATED, case))

            async def page_in_flight() -> bool:
                return len(peer.requests) == 1

            await wait_until(page_in_flight, what="the first page reaching the receiver")
            acknowledged = case.model_copy(update={"status": CaseStatus.ACKNOWLEDGED})
            await publish(flare_env, case_envelope(EventType.CASE_ACKNOWLEDGED, acknowledged))

            async def stopped() -> bool:
                return await timer_state(flare_env, case.case_id) == "stopped"

            await wait_until(stopped, what="the acknowledgement recorded")
            assert peer.delivered == [], "recorded while the page was still in flight"
            peer.gate.set()

            async def settled() -> bool:
                rows = await fetch(flare_env, "SELECT status FROM notifier.deliveries")
                return [row["status"] for row in rows] == ["delivered"]

            await wait_until(settled, what="the page in flight recorded")
        pages = await fetch(flare_env, "SELECT target, status FROM notifier.deliveries")
    assert [request.path for request in peer.delivered] == ["oncall"]
    assert [page["status"] for page in pages] == ["delivered"]


async def test_a_policy_set_while_the_notifier_runs_applies_from_its_notification(
    flare_env: FlareEnv, tmp_path: Path
) -> None:
    def sample(metrics: str, name: str) -> float:
        prefix = f"flare_notifier_destinations_cache_{name}_total "
        [line] = [line for line in metrics.splitlines() if line.startswith(prefix)]
        return float(line.removeprefix(prefix))

    async with receiver() as peer, running(create_app(settings(flare_env))) as client:
        before, after = snapshot(team=TEAM), snapshot(team=TEAM)

        async def projected(case_id: UUID) -> bool:
            rows = await fetch(
                flare_env, "SELECT 1 FROM notifier.case_views WHERE case_id = $1", case_id
            )
            return bool(rows)

        await publish(flare_env, case_envelope(EventType.CASE_CREATED, before))
        await wait_until(lambda: projected(before.case_id), what="the first case recorded")
        seen = sample((await client.get("/metrics")).text, "invalidations")
        steps = [{"name": "on-call", "wait": "1h", "targets": [chat(peer, "oncall")]}]
        set_policy(flare_env, tmp_path, TEAM, steps)

        async def notified() -> bool:
            return sample((await client.get("/metrics")).text, "invalidations") > seen

        await wait_until(notified, what="the policy's notification")
        await publish(flare_env, case_envelope(EventType.CASE_CREATED, after))
        await wait_until(lambda: projected(after.case_id), what="the second case recorded")
        metrics = (await client.get("/metrics")).text
    assert await timer_state(flare_env, before.case_id) is None, "no policy yet: no timer"
    assert await timer_state(flare_env, after.case_id) == "pending"
    assert sample(metrics, "misses") >= 2, "read again after the change"


async def test_a_step_due_at_once_pages_without_waiting_for_the_next_poll(
    flare_env: FlareEnv, tmp_path: Path
) -> None:
    # Both workers poll once a minute here: only the consumer's wake can page within the wait.
    slow_polls = settings(flare_env, escalation_poll_interval_s=60, delivery_poll_interval_s=60)
    async with receiver() as peer:
        page_on_call(flare_env, tmp_path, TEAM, peer, "oncall")
        async with running(create_app(slow_polls)):
            await publish(flare_env, case_envelope(EventType.CASE_CREATED, snapshot(team=TEAM)))

            async def paged() -> bool:
                return len(peer.requests) == 1

            await wait_until(paged, what="the first page, long before the next poll")


async def test_due_steps_of_many_cases_fire_together_each_by_its_own_team_policy(
    flare_env: FlareEnv, tmp_path: Path
) -> None:
    other, dropped = "Legal", "IP Operations"
    async with receiver() as peer:

        def on_call(path: str, wait: str) -> dict[str, Any]:
            return {"name": "on-call", "wait": wait, "targets": [chat(peer, path)]}

        lead = {"name": "lead", "wait": "1h", "targets": [chat(peer, "lead")]}
        set_policy(flare_env, tmp_path, TEAM, [on_call("global", "1s"), lead])
        set_policy(flare_env, tmp_path, other, [on_call("legal", "1s")])
        # Due well after its policy is deleted below, however slowly the events are handled.
        set_policy(flare_env, tmp_path, dropped, [on_call("ip", "4s")])
        async with running(create_app(settings(flare_env, escalation_poll_interval_s=1.0))):
            cases = [snapshot(team=team) for team in (TEAM, TEAM, other, other, dropped)]
            await publish(
                flare_env, *(case_envelope(EventType.CASE_CREATED, case) for case in cases)
            )

            async def started() -> bool:
                rows = await fetch(flare_env, "SELECT 1 FROM notifier.escalation_timers")
                return len(rows) == len(cases)

            await wait_until(started, what="five timers started")
            await execute(
                flare_env, "DELETE FROM notifier.escalation_policies WHERE team = $1", dropped
            )

            async def fired() -> bool:
                done = await fetch(
                    flare_env, "SELECT 1 FROM notifier.escalation_timers WHERE state = 'done'"
                )
                delivered = await fetch(
                    flare_env, "SELECT 1 FROM notifier.deliveries WHERE status = 'delivered'"
                )
                return len(done) == 3 and len(delivered) == 4

            await wait_until(fired, what="every first step fired and its pages delivered")
        timers = await fetch(
            flare_env, "SELECT case_id, next_step, state FROM notifier.escalation_timers"
        )
    assert {row["case_id"]: (row["next_step"], row["state"]) for row in timers} == {
        cases[0].case_id: (1, "pending"),
        cases[1].case_id: (1, "pending"),
        cases[2].case_id: (1, "done"),
        cases[3].case_id: (1, "done"),
        cases[4].case_id: (0, "done"),  # its team's policy was deleted before the step was due
    }
    assert sorted(request.path for request in peer.requests) == [
        "global",
        "global",
        "legal",
        "legal",
    ]


async def test_a_case_moved_to_another_team_escalates_by_that_teams_policy(
    flare_env: FlareEnv, tmp_path: Path
) -> None:
    """From the new team's first step; a team without a policy pages nobody more. Before, the
    old team's tiers went on being paged for a case that was no longer theirs."""
    async with receiver() as peer:
        lead = {"name": "lead", "wait": "1h", "targets": [chat(peer, "lead")]}
        set_policy(
            flare_env,
            tmp_path,
            TEAM,
            [{"name": "on-call", "targets": [chat(peer, "global")]}, lead],
        )
        page_on_call(flare_env, tmp_path, "Legal", peer, "legal")
        to_legal, to_sales = snapshot(team=TEAM), snapshot(team=TEAM)
        async with running(create_app(settings(flare_env))):
            await publish(
                flare_env,
                *(case_envelope(EventType.CASE_CREATED, case) for case in (to_legal, to_sales)),
            )

            async def paged(paths: list[str]) -> bool:
                return sorted(request.path for request in peer.requests) == paths

            await wait_until(lambda: paged(["global", "global"]), what="both first steps")
            await publish(
                flare_env,
                case_envelope(
                    EventType.CASE_REASSIGNED, to_legal.model_copy(update={"team": "Legal"})
                ),
                case_envelope(
                    EventType.CASE_REASSIGNED, to_sales.model_copy(update={"team": "Sales"})
                ),
            )

            async def both_done() -> bool:
                return {
                    await timer_state(flare_env, case.case_id) for case in (to_legal, to_sales)
                } == {"done"}

            await wait_until(both_done, what="both timers moved and run out")
            await wait_until(
                lambda: paged(["global", "global", "legal"]), what="Legal's on-call paged"
            )
        timers = await fetch(
            flare_env, "SELECT case_id, team, next_step FROM notifier.escalation_timers"
        )
    assert {row["case_id"]: (row["team"], row["next_step"]) for row in timers} == {
        to_legal.case_id: ("Legal", 1),
        to_sales.case_id: ("Sales", 0),  # no policy: nothing to page
    }


async def test_a_target_both_teams_page_is_paged_again_when_the_case_moves(
    flare_env: FlareEnv, tmp_path: Path
) -> None:
    """The new team's steps are a new round: a shared duty phone, say, is paged for it too."""
    async with receiver() as peer:
        shared = [{"name": "duty phone", "targets": [chat(peer, "duty")]}]
        set_policy(flare_env, tmp_path, TEAM, shared)
        set_policy(flare_env, tmp_path, "Legal", shared)
        case = snapshot(team=TEAM)
        async with running(create_app(settings(flare_env))):
            await publish(flare_env, case_envelope(EventType.CASE_CREATED, case))

            async def paged(count: int) -> bool:
                return len(peer.requests) == count

            await wait_until(lambda: paged(1), what="the first team's page")
            moved = case.model_copy(update={"team": "Legal", "updated_at": datetime.now(UTC)})
            await publish(flare_env, case_envelope(EventType.CASE_REASSIGNED, moved))
            await wait_until(lambda: paged(2), what="the same target paged for the new team")
    assert [request.path for request in peer.requests] == ["duty", "duty"]


async def test_a_replayed_history_does_not_move_the_timer_back_nor_page_again(
    flare_env: FlareEnv, tmp_path: Path
) -> None:
    """A redelivered poll replays a case's events: the ones older than what the notifier has
    seen change nothing, so the timer stays with the team and the step it has reached."""
    async with receiver() as peer:
        lead = {"name": "lead", "wait": "1h", "targets": [chat(peer, "legal-lead")]}
        page_on_call(flare_env, tmp_path, TEAM, peer, "global")
        set_policy(
            flare_env,
            tmp_path,
            "Legal",
            [{"name": "on-call", "targets": [chat(peer, "legal")]}, lead],
        )
        case = snapshot(team=TEAM)
        created = case_envelope(EventType.CASE_CREATED, case)
        moved = case.model_copy(update={"team": "Legal", "updated_at": datetime.now(UTC)})
        reassigned = case_envelope(EventType.CASE_REASSIGNED, moved)
        async with running(create_app(settings(flare_env))):
            await publish(flare_env, created)

            async def paged(paths: list[str]) -> bool:
                return [request.path for request in peer.requests] == paths

            await wait_until(lambda: paged(["global"]), what="the first team's page")
            await publish(flare_env, reassigned)
            await wait_until(lambda: paged(["global", "legal"]), what="the new team's page")
            query = "SELECT team, next_step, fire_at, started_at FROM notifier.escalation_timers"
            [before] = await fetch(flare_env, query)
            # The same two events again, then a later one: once it is seen, so were they.
            noted = moved.model_copy(update={"updated_at": datetime.now(UTC)})
            await publish(
                flare_env, created, reassigned, case_envelope(EventType.CASE_NOTE_ADDED, noted)
            )

            async def note_seen() -> bool:
                rows = await fetch(flare_env, "SELECT last_event_type FROM notifier.case_views")
                return [row["last_event_type"] for row in rows] == ["flare.case.note_added"]

            await wait_until(note_seen, what="the note after the replay")
            [after] = await fetch(flare_env, query)
            assert dict(after) == dict(before)
    assert [request.path for request in peer.requests] == ["global", "legal"]


async def test_the_old_teams_page_still_waiting_to_be_retried_is_cancelled_by_the_move(
    flare_env: FlareEnv, tmp_path: Path
) -> None:
    """Retried later, it would page the team the case has left, in its name."""
    async with receiver(failures=1000) as down, receiver() as peer:
        page_on_call(flare_env, tmp_path, TEAM, down, "global")
        page_on_call(flare_env, tmp_path, "Legal", peer, "legal")
        case = snapshot(team=TEAM)
        async with running(create_app(settings(flare_env))) as client:
            subscribed = await client.post(
                "/v1/subscriptions",
                json={"target": f"{peer.url}/sub", "event_types": ["flare.case.reassigned"]},
                headers=bearer(Role.ADMIN),
            )
            assert subscribed.status_code == 201
            await publish(flare_env, case_envelope(EventType.CASE_CREATED, case))

            async def failed() -> bool:
                return len(down.requests) >= 1

            await wait_until(failed, what="the first team's page failed, to be retried")
            moved = case.model_copy(update={"team": "Legal", "updated_at": datetime.now(UTC)})
            await publish(flare_env, case_envelope(EventType.CASE_REASSIGNED, moved))

            async def pages(*statuses: str) -> bool:
                listed = await client.get(
                    "/v1/deliveries", params={"kind": "page"}, headers=bearer()
                )
                return sorted(item["status"] for item in listed.json()["items"]) == list(statuses)

            await wait_until(lambda: pages("cancelled", "delivered"), what="the old page cancelled")
            listed = await client.get("/v1/deliveries", params={"kind": "page"}, headers=bearer())
            [old] = [item["id"] for item in listed.json()["items"] if item["status"] == "cancelled"]
            again = await client.post(f"/v1/deliveries/{old}/redeliver", headers=bearer(Role.LEAD))
    assert [request.path for request in peer.requests if request.path != "sub"] == ["legal"]
    items = listed.json()["items"]
    assert {item["kind"] for item in items} == {"page"}
    assert [item["last_error"] for item in items if item["status"] == "cancelled"] == [
        "case moved to another team"
    ]
    assert (again.status_code, again.json()["detail"]) == (
        409,
        f"Delivery {old} was cancelled (case moved to another team); it is not sent again.",
    )


async def test_the_old_teams_page_being_sent_as_the_case_moves_goes_out_recorded_as_sent(
    flare_env: FlareEnv, tmp_path: Path
) -> None:
    """Claimed before the move, it goes out (as a page does across an acknowledgement); its
    record must say so, not "cancelled"."""
    async with receiver() as held, receiver() as peer:
        held.gate.clear()  # the old team's page stays in flight
        page_on_call(flare_env, tmp_path, TEAM, held, "global")
        page_on_call(flare_env, tmp_path, "Legal", peer, "legal")
        case = snapshot(team=TEAM)
        async with running(create_app(settings(flare_env))) as client:
            await publish(flare_env, case_envelope(EventType.CASE_CREATED, case))

            async def in_flight() -> bool:
                return len(held.requests) == 1

            await wait_until(in_flight, what="the first team's page in flight")
            moved = case.model_copy(update={"team": "Legal", "updated_at": datetime.now(UTC)})
            await publish(flare_env, case_envelope(EventType.CASE_REASSIGNED, moved))

            async def legal_paged() -> bool:
                return len(peer.requests) == 1

            await wait_until(legal_paged, what="the new team paged")
            held.gate.set()

            async def both_sent() -> bool:
                listed = await client.get(
                    "/v1/deliveries", params={"kind": "page"}, headers=bearer()
                )
                return [item["status"] for item in listed.json()["items"]] == ["delivered"] * 2

            await wait_until(both_sent, what="both pages recorded as delivered")


async def test_a_case_created_and_changed_in_one_poll_escalates_from_its_opening(
    flare_env: FlareEnv, tmp_path: Path
) -> None:
    """The poll's newest event starts the timer (the older ones are history), timed from when
    the case opened, not from the change."""
    steps = [{"name": "on-call", "wait": "1h", "targets": ["email:oncall@flare.example"]}]
    set_policy(flare_env, tmp_path, TEAM, steps)
    case = snapshot(team=TEAM, created_at=datetime.now(UTC) - timedelta(minutes=10))
    updated = case.model_copy(update={"updated_at": datetime.now(UTC)})
    # Both on the topic before the notifier starts: its first poll holds both.
    await publish(
        flare_env,
        case_envelope(EventType.CASE_CREATED, case),
        case_envelope(EventType.CASE_UPDATED, updated),
    )
    async with running(create_app(settings(flare_env))):

        async def started() -> bool:
            return bool(await fetch(flare_env, "SELECT 1 FROM notifier.escalation_timers"))

        await wait_until(started, what="the timer started")
    [timer] = await fetch(flare_env, "SELECT fire_at FROM notifier.escalation_timers")
    assert timer["fire_at"] == case.created_at + timedelta(hours=1)


async def test_a_replayed_event_of_an_open_case_since_acknowledged_starts_no_timer(
    flare_env: FlareEnv, tmp_path: Path
) -> None:
    """Its creation went to the DLQ, say, and is replayed after the acknowledgement: a timer
    started now would page for good, since nothing would stop it."""
    async with receiver() as peer:
        page_on_call(flare_env, tmp_path, TEAM, peer, "global")
        case = snapshot(team=TEAM)
        acknowledged = case.model_copy(
            update={"status": CaseStatus.ACKNOWLEDGED, "updated_at": datetime.now(UTC)}
        )
        noted = acknowledged.model_copy(update={"updated_at": datetime.now(UTC)})
        async with running(create_app(settings(flare_env))):
            await publish(
                flare_env,
                case_envelope(EventType.CASE_ACKNOWLEDGED, acknowledged),
                case_envelope(EventType.CASE_CREATED, case),
                case_envelope(EventType.CASE_NOTE_ADDED, noted),
            )

            async def note_seen() -> bool:
                rows = await fetch(flare_env, "SELECT last_event_type FROM notifier.case_views")
                return [row["last_event_type"] for row in rows] == ["flare.case.note_added"]

            await wait_until(note_seen, what="the note after the replayed creation")
            timers = await fetch(flare_env, "SELECT state FROM notifier.escalation_timers")
    assert timers == []
    assert peer.requests == []


async def test_a_team_whose_stored_policy_does_not_validate_holds_only_its_own_timers(
    flare_env: FlareEnv, tmp_path: Path
) -> None:
    broken = "Legal"
    async with receiver() as peer:
        page_on_call(flare_env, tmp_path, TEAM, peer, "g")
        step = {"name": "on-call", "wait": "1h", "targets": [chat(peer, "legal")]}
        set_policy(flare_env, tmp_path, broken, [step])
        before, ours, after = (snapshot(team=team) for team in (broken, TEAM, broken))
        async with running(create_app(settings(flare_env))) as client:
            await publish(flare_env, case_envelope(EventType.CASE_CREATED, before))

            async def started(*cases: Any) -> bool:
                return all([await timer_state(flare_env, case.case_id) for case in cases])

            await wait_until(lambda: started(before), what="the timer started")
            # Stored before a rule it breaks, or written around the CLI; then its step falls due.
            await execute(
                flare_env,
                """UPDATE notifier.escalation_policies SET policy = '{"steps": []}'
                WHERE team = $1""",
                broken,
            )
            await execute(
                flare_env,
                "UPDATE notifier.escalation_timers SET fire_at = now() WHERE case_id = $1",
                before.case_id,
            )
            await publish(
                flare_env, *(case_envelope(EventType.CASE_CREATED, c) for c in (ours, after))
            )

            async def held() -> bool:
                rows = await fetch(
                    flare_env,
                    "SELECT 1 FROM notifier.escalation_timers"
                    " WHERE team = $1 AND fire_at > now() + interval '30 seconds'",
                    broken,
                )
                return len(rows) == 2

            async def paged() -> bool:
                return len(peer.requests) == 1

            await wait_until(lambda: started(ours, after), what="both new cases' timers")
            await wait_until(held, what="the broken team's timers held, the first when due")
            await wait_until(paged, what="the other team's page")

            async def counted() -> bool:
                metrics = (await client.get("/metrics")).text
                return "flare_escalation_policies_invalid 1.0" in metrics.splitlines()

            await wait_until(counted, what="the broken policy counted")
        timers = await fetch(
            flare_env, "SELECT case_id, next_step, state FROM notifier.escalation_timers"
        )
    assert {row["case_id"]: (row["next_step"], row["state"]) for row in timers} == {
        before.case_id: (0, "pending"),
        ours.case_id: (1, "done"),
        after.case_id: (0, "pending"),
    }
    assert [request.path for request in peer.requests] == ["g"]
    assert escalation_admin(flare_env, "list").splitlines() == [
        f'{TEAM}\t["on-call"]',
        f"{broken}\tdoes not validate, set it again: List should have at least 1 item after"
        " validation, not 0",
    ]


async def test_a_policy_for_a_team_no_case_has_named_is_stored_with_a_warning(
    flare_env: FlareEnv, tmp_path: Path
) -> None:
    """Cases carry the team's name ("Global Operations"): a policy set for its slug or a typo
    would page nobody, silently."""
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text('steps: [{name: on-call, targets: ["chat:https://chat.invalid/x"]}]')

    def set_for(team: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "services.notifier", "escalation", "set", team, policy_file],
            env={**os.environ, "FLARE_DATABASE_URL": flare_env.database_url},
            capture_output=True,
            text=True,
            check=False,
        )

    slug = set_for("global-operations")
    assert (slug.returncode, slug.stdout) == (0, "global-operations: 1 steps\n")
    assert "no case of a team named 'global-operations' has been seen yet" in slug.stderr
    await execute(
        flare_env,
        "INSERT INTO notifier.case_views VALUES (gen_random_uuid(), $1, 'x', now())",
        json.dumps({"team": "Global Operations"}),
    )
    name = set_for("Global Operations")
    assert (name.returncode, name.stderr) == (0, "")
