"""The real system under a fault: the three services as processes, a webhook receiver subscribed
to every new case, a steady bounded load from a loopback partner, and the invariant checks
against the real stores (intake's rows, the router's cases, what the receiver was sent)."""

import asyncio
import contextlib
import re
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from services.intake.partners import NewKey
from services.intake.schemas import EXAMPLE_ESCALATION
from shared.auth import Role
from shared.events import EventType
from tests.chaos.table import Row
from tests.conftest import FlareEnv
from tests.disposable import Disposable
from tests.e2e.processes import FAST_NOTIFIER, ServiceProcess, start_service
from tests.intake_support import bearer, new_partner
from tests.integration.conftest import fetch
from tests.integration.notifier_peers import Received, Receiver, receiver, wait_until
from tests.integration.notifier_peers import bearer as responder_bearer

SETTLE_DEADLINE_S = 90.0
# Deliveries retry quickly and for long enough to outlast every outage a scenario makes.
NOTIFIER = FAST_NOTIFIER | {
    "FLARE_DELIVERY_TIMEOUT_S": "2",
    "FLARE_RETRY_FIRST_DELAY_S": "0.5",
    "FLARE_RETRY_FACTOR": "2",
    "FLARE_RETRY_MAX_DELAY_S": "2",
    "FLARE_RETRY_MAX_ATTEMPTS": "100",
}
CREATED = EventType.CASE_CREATED.value
CASE_LINK = re.compile(r"/cases/([0-9a-f-]{36})")


@dataclass
class Flare:
    """One Flare of a test's own: services started (and restarted) as real processes."""

    env: FlareEnv
    log_dir: Path
    hook: Receiver
    partner: NewKey
    settings: dict[str, Mapping[str, str]]
    services: list[ServiceProcess] = field(default_factory=list)

    def start(self, name: str) -> ServiceProcess:
        """One more process of a service, with a log of its own."""
        log_dir = self.log_dir / f"{name}-{len(self.services)}"
        log_dir.mkdir()
        process = start_service(name, self.env, log_dir, self.settings.get(name))
        self.services.append(process)
        return process

    def running(self, name: str) -> list[ServiceProcess]:
        return [s for s in self.services if s.name == name and s.process.poll() is None]

    @property
    def intake(self) -> ServiceProcess:
        return self.running("intake")[0]

    def logs(self) -> str:
        return "\n".join(f"--- {s.log}\n{s.log_tail(15)}" for s in self.services)


@asynccontextmanager
async def flare_running(
    env: FlareEnv,
    log_dir: Path,
    routers: int = 1,
    notifiers: int = 1,
    settings: Mapping[str, Mapping[str, str]] | None = None,
    subscribe_hook: bool = True,
) -> AsyncIterator[Flare]:
    """intake, the routers and notifiers up and ready, and (unless the test subscribes it
    itself) a webhook to the receiver for every new case."""
    every = {"notifier": NOTIFIER} | dict(settings or {})
    async with receiver() as hook:
        flare = Flare(env, log_dir, hook, await new_partner(env, "chaos"), every)
        try:
            for name, count in (("intake", 1), ("router", routers), ("notifier", notifiers)):
                for _ in range(count):
                    flare.start(name)
            await asyncio.gather(*(service.wait_ready() for service in flare.services))
            if subscribe_hook:
                await subscribe(flare.running("notifier")[0], hook.url)
            yield flare
        finally:
            for service in flare.services:
                await asyncio.to_thread(service.terminate, 10)


async def subscribe(notifier: ServiceProcess, url: str, lead: dict[str, str] | None = None) -> None:
    """A webhook to `url` for every new case, created by a lead (`lead`: their headers)."""
    async with httpx.AsyncClient(base_url=notifier.url, timeout=10) as client:
        created = await client.post(
            "/v1/subscriptions",
            json={"target": f"{url}/hook", "event_types": [CREATED]},
            headers=lead or responder_bearer(Role.LEAD),
        )
    assert created.status_code == 201, created.text


@dataclass
class Load:
    """A partner posting reports on distinct subjects at a steady rate, each until it is
    accepted (as a partner's client does: the same Idempotency-Key after a 503 or no answer)."""

    flare: Flare
    name: str
    accepted: dict[str, str] = field(default_factory=dict)  # idempotency key -> escalation id
    statuses: Counter[int] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    posted: int = 0

    async def run(self, count: int, per_second: float = 10.0, give_up_s: float = 120.0) -> None:
        """`count` more reports, each on a subject of its own."""
        async with (
            httpx.AsyncClient(
                base_url=self.flare.intake.url, headers=bearer(self.flare.partner), timeout=5
            ) as client,
            asyncio.TaskGroup() as posting,
        ):
            for _ in range(count):
                posting.create_task(self._post_until_accepted(client, self.posted, give_up_s))
                self.posted += 1
                await asyncio.sleep(1 / per_second)

    async def until_accepted(self, count: int, timeout_s: float = 60.0) -> None:
        async def enough() -> bool:
            return len(self.accepted) >= count

        await wait_until(enough, timeout_s, f"{count} reports accepted")

    async def _post_until_accepted(
        self, client: httpx.AsyncClient, number: int, give_up_s: float
    ) -> None:
        key = f"{self.name}-{number}"
        body = {**EXAMPLE_ESCALATION, "dedup_key": key, "title": f"Chaos report {key}"}
        async with asyncio.timeout(give_up_s):
            while True:
                try:
                    response = await client.post(
                        "/v1/escalations", json=body, headers={"Idempotency-Key": key}
                    )
                except httpx.TransportError:  # no answer: it may be stored, or not
                    await asyncio.sleep(1)
                    continue
                self.statuses[response.status_code] += 1
                if response.status_code == 202:
                    self.accepted[key] = response.json()["id"]
                    return
                if response.status_code != 503:
                    self.problems.append(f"{key}: {response.status_code} {response.text[:200]}")
                    return
                if "retry-after" not in response.headers:
                    self.problems.append(f"{key}: 503 without Retry-After")
                await asyncio.sleep(1)


async def outage_under_load(
    load: Load, reports: int, stop: Callable[[], Awaitable[None]], server: Disposable, down_s: float
) -> int:
    """Post `reports` steadily; a quarter in, `stop` the server, and start it again `down_s`
    later. Returns how many reports were accepted while it was down."""
    posting = asyncio.create_task(load.run(reports))
    await load.until_accepted(reports // 4)
    await stop()
    stopped_at = len(load.accepted)
    await asyncio.sleep(down_s)
    accepted_while_down = len(load.accepted) - stopped_at
    await server.start()
    await posting
    return accepted_while_down


@dataclass
class Outcome:
    """The invariants, read from the real stores once the system has settled."""

    accepted: int
    not_stored: list[str]
    stored_unaccepted: list[str]
    lost_reports: list[str]
    cases: int
    extra_case_effects: list[str]
    alerts_sent: int
    lost_alerts: list[str]
    duplicated_alerts: list[str]
    redelivered: int
    load_problems: list[str]

    def fill(self, row: Row) -> None:
        row.accepted, row.cases, row.alerts_sent = self.accepted, self.cases, self.alerts_sent
        row.lost = len(self.not_stored) + len(self.lost_reports) + len(self.lost_alerts)
        row.duplicated = (
            len(self.stored_unaccepted) + len(self.extra_case_effects) + len(self.duplicated_alerts)
        )
        row.redelivered = self.redelivered

    def assert_clean(self, flare: Flare) -> None:
        broken = {
            "a 202 that was not stored": self.not_stored,
            "stored under an id no 202 gave (a retry stored twice)": self.stored_unaccepted,
            "accepted but never a case effect": self.lost_reports,
            "more than one case effect": self.extra_case_effects,
            "a new case never alerted": self.lost_alerts,
            "alerted twice (under two webhook-ids)": self.duplicated_alerts,
            "unexpected answers to the load": self.load_problems,
        }
        found = {what: items[:5] for what, items in broken.items() if items}
        assert not found, f"{found}\n{flare.logs()}"


async def settle(flare: Flare, load: Load, row: Row) -> Outcome:
    """Wait (to a deadline) until every accepted report is a case that was alerted, then
    check the invariants, fill in the row and fail the test on any broken one."""
    accepted = sorted(load.accepted.values())

    async def case_of_report() -> dict[str, str]:
        rows = await fetch(
            flare.env,
            "SELECT escalation_id::text AS id, case_id::text FROM router.case_reports"
            " WHERE escalation_id::text = ANY($1)",
            accepted,
        )
        return {row["id"]: row["case_id"] for row in rows}

    async def settled() -> bool:
        cases = await case_of_report()
        return len(cases) == len(accepted) and set(cases.values()) <= set(
            created_alerts(flare.hook)
        )

    with contextlib.suppress(AssertionError):  # what is missing at the deadline is counted
        await wait_until(settled, SETTLE_DEADLINE_S, "settled")
    await asyncio.sleep(2)  # a late duplicate would arrive now
    outcome = await check(flare, load, accepted)
    outcome.fill(row)
    outcome.assert_clean(flare)
    return outcome


def webhooks(hook: Receiver) -> list[Received]:
    return [request for request in hook.delivered if request.path == "hook"]


def created_alerts(hook: Receiver) -> Counter[str]:
    """Case ids of the new-case webhooks the receiver took, one count per webhook-id."""
    seen: dict[str, str] = {}
    for request in webhooks(hook):
        body = request.json()
        if body["type"] == CREATED:
            seen[request.headers["webhook-id"]] = body["data"]["case_id"]
    return Counter(seen.values())


def pages(hook: Receiver) -> Counter[tuple[str, str]]:
    """(path, case id) of every escalation page (a chat message) the receiver took."""
    return Counter(
        (request.path, CASE_LINK.findall(request.json()["text"])[0])
        for request in hook.delivered
        if request.path != "hook"
    )


async def check(flare: Flare, load: Load, accepted: list[str]) -> Outcome:
    # Every report the load's partner got stored, whatever intake answered (or did not).
    stored = await fetch(
        flare.env,
        "SELECT id::text AS id FROM intake.escalations WHERE partner_id = $1",
        flare.partner.partner.id,
    )
    reports = await fetch(
        flare.env,
        "SELECT r.escalation_id::text AS id, c.id::text AS case_id, c.report_count"
        " FROM router.case_reports r JOIN router.cases c ON c.id = r.case_id"
        " WHERE r.escalation_id::text = ANY($1)",
        accepted,
    )
    # Every report is on a subject of its own: one case each, holding one report.
    case_of = {r["id"]: r["case_id"] for r in reports}
    extra = [r["case_id"] for r in reports if r["report_count"] != 1]
    extra += [case for case, n in Counter(case_of.values()).items() if n > 1]
    alerts = created_alerts(flare.hook)
    webhook_ids = Counter(request.headers["webhook-id"] for request in webhooks(flare.hook))
    return Outcome(
        accepted=len(accepted),
        not_stored=sorted(set(accepted) - {r["id"] for r in stored}),
        stored_unaccepted=sorted({r["id"] for r in stored} - set(accepted)),
        lost_reports=sorted(set(accepted) - set(case_of)),
        cases=len(set(case_of.values())),
        extra_case_effects=extra,
        alerts_sent=len(webhook_ids),
        lost_alerts=sorted(set(case_of.values()) - set(alerts)),
        duplicated_alerts=[case for case, n in alerts.items() if n > 1],
        # At least once per webhook-id: a notifier that dies (or loses its database) after the
        # target answered but before it recorded so sends again, with the same webhook-id,
        # which receivers deduplicate on (Standard Webhooks; ADR 0005).
        redelivered=sum(n - 1 for n in webhook_ids.values()),
        load_problems=load.problems,
    )
