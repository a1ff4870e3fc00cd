"""The responder console in a real browser (Debian's Chromium) against the three services."""

import asyncio
import csv
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from services.intake.schemas import EXAMPLE_ESCALATION
from shared.auth import Role
from tests.conftest import FlareEnv
from tests.e2e.console_support import (
    CHROMIUM_ARGS,
    SCREENSHOTS,
    ConsoleFlare,
    ensure_chromium,
    flare_for_the_console,
    responder_token,
)
from tests.intake_support import bearer, new_partner

pytestmark = pytest.mark.e2e
LIVE_DEADLINE_MS = 30_000
RESPONDER = "dana"
TITLE = str(EXAMPLE_ESCALATION["title"])
OVERDUE_ESCALATION = {
    **EXAMPLE_ESCALATION,
    "category": "legal_request",
    "title": "Court order to restrict a post, deadline passed",
    "subject": {"content_id": "post:court-order-1"},
    "dedup_key": "post:court-order-1",
    "signals": {"legal_deadline": "2020-01-01T09:00:00Z"},
}
SENSITIVE_EVIDENCE = "https://evidence.example.org/frames/graphic-frame.png"


@dataclass
class Console:
    browser: Browser
    flare: ConsoleFlare
    partner: dict[str, str]
    token: str
    page: Page = field(init=False)

    def url(self, path: str = "/") -> str:
        return self.flare.url("notifier") + path

    async def report(self, body: dict[str, Any]) -> str:
        async with httpx.AsyncClient(base_url=self.flare.url("intake")) as intake:
            response = await intake.post("/v1/escalations", json=body, headers=self.partner)
        assert response.status_code == 202, response.text
        return str(response.json()["id"])

    async def router_case(self, case_id: str) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"}
        async with httpx.AsyncClient(base_url=self.flare.url("router")) as router:
            response = await router.get(f"/v1/cases/{case_id}", headers=headers)
        assert response.status_code == 200, response.text
        return response.json()["case"]

    async def screenshot(self, name: str) -> None:
        SCREENSHOTS.mkdir(exist_ok=True)
        await self.page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


@pytest.fixture
def flare(flare_env: FlareEnv, tmp_path: Path) -> Iterator[ConsoleFlare]:
    ensure_chromium()
    with flare_for_the_console(flare_env, tmp_path) as services:
        yield services


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    chromium = ensure_chromium()
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True
        )
        yield launched
        await launched.close()


async def sign_in(browser: Browser, console: Console) -> Page:
    """A new browser window on the queue, signed in with `console.token`; its clock can be
    moved forward (`page.clock.fast_forward`) to see SLA countdowns change."""
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    await page.clock.install()
    await page.goto(console.url())
    await page.get_by_label("Responder token").fill(console.token)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#live")).to_have_text("Live", timeout=LIVE_DEADLINE_MS)
    return page


@pytest.fixture
async def console(
    flare_env: FlareEnv, flare: ConsoleFlare, browser: Browser
) -> AsyncIterator[Console]:
    await flare.wait_ready()
    partner = bearer(await new_partner(flare_env))
    signed_in = Console(browser, flare, partner, responder_token(RESPONDER, Role.LEAD))
    signed_in.page = await sign_in(browser, signed_in)
    yield signed_in
    await signed_in.page.context.close()


def queue_row(page: Page, text: str) -> Any:
    return page.locator("#queue-rows tr", has_text=text)


async def test_a_new_escalation_appears_live_and_is_acknowledged_from_the_page(
    console: Console,
) -> None:
    page = console.page
    await expect(page.locator("#queue-empty")).to_be_visible()
    await console.report(EXAMPLE_ESCALATION)

    row = queue_row(page, TITLE)
    await expect(row).to_be_visible(timeout=LIVE_DEADLINE_MS)
    await expect(row.locator(".band")).to_have_text(re.compile(r"^SEV[1-4]$"))
    await expect(row.locator(".sla.on-time")).to_contain_text("ack in")
    case_id = await row.get_attribute("data-case-id")
    assert case_id
    # Four fifths of the way to the acknowledgement deadline the countdown turns amber.
    case = await console.router_case(case_id)
    window = datetime.fromisoformat(case["ack_due_at"]) - datetime.fromisoformat(case["created_at"])
    await page.clock.fast_forward(int(window.total_seconds() * 800))
    await expect(row.locator(".sla.warning")).to_contain_text("(warning)")
    # A legal deadline already passed makes the SLA overdue at once: the countdown turns red.
    await console.report(OVERDUE_ESCALATION)
    overdue = queue_row(page, str(OVERDUE_ESCALATION["title"]))
    await expect(overdue.locator(".sla.breached")).to_contain_text("overdue by")
    await console.screenshot("queue")

    await row.get_by_role("button", name=re.compile("^Acknowledge")).click()
    await expect(row).to_contain_text("acknowledged")
    await expect(row.get_by_role("button", name=re.compile("^Acknowledge"))).to_have_count(0)
    changed = await console.router_case(case_id)
    assert changed["status"] == "acknowledged"

    await row.get_by_role("link").click()
    await expect(page.locator("#case-heading")).to_contain_text(TITLE)
    await expect(page.locator("#timeline")).to_contain_text(f"{RESPONDER}: acknowledged")
    await page.get_by_label("Note").fill("Checked with the partner; they are monitoring.")
    await page.get_by_role("button", name="Add note").click()
    await expect(page.locator("#timeline")).to_contain_text("they are monitoring")
    # A refused action shows the API's problem details.
    await page.get_by_label("Reason").fill("try a team that does not exist")
    await page.get_by_label("To team").fill("No Such Team")
    await page.get_by_role("button", name="Reassign").click()
    await expect(page.locator("#case-result .problem")).to_be_visible()
    await console.screenshot("case")
    await page.get_by_label("Resolution").select_option("duplicate")
    await page.get_by_label("Summary").fill("Same video as the court-order case.")
    await page.get_by_role("button", name="Resolve").click()
    await expect(page.locator("#case-result .ok")).to_have_text("Resolved.")
    await expect(page.locator("#case-facts")).to_contain_text("resolved (duplicate)")
    assert (await console.router_case(case_id))["resolution_code"] == "duplicate"

    await page.set_viewport_size({"width": 390, "height": 844})
    await page.goto(console.url("/"))
    await expect(page.locator("#queue-rows tr")).to_have_count(1)
    await console.screenshot("queue-phone")


async def test_a_sensitive_case_shows_its_warning_before_anything_sensitive(
    console: Console,
) -> None:
    page = console.page
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    title = "Graphic footage of an injured child shared in groups"
    await console.report(
        {
            **EXAMPLE_ESCALATION,
            "category": "community_standards",
            "title": title,
            "subject": {"content_id": "video:sensitive-1"},
            "dedup_key": "video:sensitive-1",
            "signals": {"minors_involved": True},
            "evidence": [{"url": SENSITIVE_EVIDENCE, "kind": "image", "sensitive": True}],
        }
    )
    row = queue_row(page, "Sensitive case")
    await expect(row).to_be_visible(timeout=LIVE_DEADLINE_MS)
    assert title not in await page.content()

    await row.get_by_role("link").click()
    warning = page.locator("#content-warning")
    await expect(warning).to_contain_text("Content warning")
    await expect(page.locator("#case-heading")).to_have_text(re.compile("Sensitive case$"))
    await console.screenshot("case-sensitive-warning")
    assert title not in await page.content()
    assert not [url for url in requested if "evidence.example.org" in url]

    assert not [url for url in requested if "/evidence" in url]

    await page.get_by_role("button", name="I understand, show the sensitive content").click()
    await expect(page.locator("#case-heading")).to_contain_text(title)
    link = page.locator("#evidence a")
    await expect(link).to_have_attribute("href", SENSITIVE_EVIDENCE)
    await expect(page.locator("#evidence")).to_contain_text("image, sensitive")
    await page.reload()  # the router recorded who opened the evidence
    await expect(page.locator("#timeline")).to_contain_text(f"{RESPONDER}: evidence viewed")
    await console.screenshot("case-sensitive-revealed")
    # The evidence is listed as a link to the partner's copy, never fetched by the console.
    assert not [url for url in requested if "evidence.example.org" in url]


async def test_the_page_shows_when_the_live_connection_drops_and_comes_back(
    console: Console,
) -> None:
    live = console.page.locator("#live")
    # Killed, not stopped: a graceful stop waits for open streams (up to its shutdown timeout).
    notifier = console.flare.running["notifier"].process
    notifier.kill()
    notifier.wait()
    await expect(live).to_contain_text("Connection lost", timeout=LIVE_DEADLINE_MS)
    await console.screenshot("connection-lost")
    await console.flare.start("notifier").wait_ready()
    await expect(live).to_contain_text("Live again", timeout=LIVE_DEADLINE_MS)


async def open_case_count(console: Console) -> int:
    headers = {"Authorization": f"Bearer {console.token}"}
    count, cursor = 0, None
    async with httpx.AsyncClient(base_url=console.flare.url("router"), headers=headers) as router:
        while True:
            params = {"status": "open", "limit": "200", **({"cursor": cursor} if cursor else {})}
            page = (await router.get("/v1/cases", params=params)).json()
            count += len(page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                return count


async def test_an_analyst_reads_every_open_case_and_the_trends_but_changes_nothing(
    console: Console, tmp_path: Path
) -> None:
    # More open cases than one page of the router's list: the queue follows the cursor.
    reports = [
        {
            **EXAMPLE_ESCALATION,
            "category": "elections" if index % 3 else "crisis",
            "region": "BR" if index % 2 else "IN",
            "subject": {"content_id": f"post:paged-{index}"},
            "dedup_key": f"post:paged-{index}",
        }
        for index in range(205)
    ]
    for start in range(0, len(reports), 25):
        await asyncio.gather(*(console.report(body) for body in reports[start : start + 25]))
    async with asyncio.timeout(60):
        while True:
            if await open_case_count(console) == len(reports):
                break
            await asyncio.sleep(0.5)

    console.token = responder_token("ines", Role.ANALYST)
    page = await sign_in(console.browser, console)
    await expect(page.locator("#queue-count")).to_have_text(f"({len(reports)})")
    await expect(page.get_by_role("button", name=re.compile("^Acknowledge"))).to_have_count(0)
    await queue_row(page, TITLE).first.get_by_role("link").click()
    await expect(page.locator("#case-actions")).to_contain_text("can read cases, not change them")
    await expect(page.get_by_role("button", name="Resolve")).to_have_count(0)

    await page.goto(console.url("/trends"))
    category = page.locator("#series-category")
    await expect(category.locator("tbody tr")).to_have_count(2)
    await expect(category.locator("tbody tr").first).to_contain_text("elections")
    await expect(page.locator("#series-region")).to_contain_text("BR")
    await expect(page.locator("#charts")).to_contain_text("Acknowledgement SLA not breached")
    await page.screenshot(path=SCREENSHOTS / "trends.png", full_page=True)
    async with page.expect_download() as started:
        await page.get_by_role("button", name="Download trends CSV").click()
    saved = tmp_path / "trends.csv"
    await (await started.value).save_as(saved)
    rows = list(csv.DictReader(saved.open()))
    today = datetime.now(UTC).date().isoformat()
    assert {"section": "by_day_category", "day": today, "key": "crisis", "count": "69"} in rows
    await page.context.close()
