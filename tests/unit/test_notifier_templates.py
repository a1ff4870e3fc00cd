"""What alerts say: short and scannable on every channel; nothing sensitive outside the console."""

import json
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from prometheus_client import CollectorRegistry

from services.notifier.hub import StreamEvent, StreamHub
from services.notifier.live import sse_events
from services.notifier.templates import (
    CONTENT_WARNING,
    chat_body,
    email_message,
    make_alert,
    render_risk,
    webhook_body,
)
from shared.events import CaseEvent, Category, EmergingRisk, Severity
from tests.integration.notifier_peers import snapshot

CONSOLE = "https://console.flare.example"
SECRET_TITLE = "Graphic video of a minor at https://cdn.example/evidence/123.mp4"
NOTE = "Reporter's own words: the victim's address is 5 Example Road"


def bodies(event: CaseEvent, sensitive_categories: tuple[str, ...] = ()) -> list[str]:
    alert = make_alert("flare.case.created", event, CONSOLE, sensitive_categories)
    subject, text = email_message(alert)
    return [
        json.dumps(webhook_body(alert, event.case.created_at)),
        json.dumps(chat_body(alert)),
        subject + "\n" + text,
    ]


def test_alerts_show_severity_title_team_and_console_link() -> None:
    case = snapshot(severity=Severity.SEV1, team="Legal")
    for body in bodies(CaseEvent(case=case, actor="router")):
        for expected in ("SEV1", case.title, "Legal", f"{CONSOLE}/cases/{case.case_id}"):
            assert expected in body


@pytest.mark.parametrize(
    ("overrides", "sensitive_categories"),
    [
        ({"sensitive": True}, ()),
        ({"category": Category.LAW_ENFORCEMENT}, ("law_enforcement",)),
    ],
)
def test_sensitive_case_sends_only_the_link_and_a_content_warning(
    overrides: dict[str, object], sensitive_categories: tuple[str, ...]
) -> None:
    case = snapshot(title=SECRET_TITLE, **overrides)
    event = CaseEvent(case=case, actor="router", detail=NOTE)
    for body in bodies(event, sensitive_categories):
        assert "cdn.example" not in body
        assert "Graphic video" not in body
        assert "Example Road" not in body
        assert f"{CONSOLE}/cases/{case.case_id}" in body
        assert CONTENT_WARNING in body


def test_chat_body_is_slack_compatible_text_and_blocks() -> None:
    body = chat_body(
        make_alert("flare.case.created", CaseEvent(case=snapshot(), actor="r"), CONSOLE, ())
    )
    assert isinstance(body["text"], str)
    assert [block["type"] for block in body["blocks"]] == ["header", "section", "section"]


def test_a_title_cannot_ping_everyone_or_fake_a_link_in_chat() -> None:
    case = snapshot(title="<!channel> see <https://evil.example|the console>")
    body = json.dumps(
        chat_body(make_alert("flare.case.created", CaseEvent(case=case, actor="r"), CONSOLE, ()))
    )
    assert "<!channel>" not in body
    assert "<https://evil.example" not in body
    assert "&lt;!channel&gt;" in body


def test_a_multi_line_title_still_makes_a_one_line_mail_subject() -> None:
    case = snapshot(title="Disk full\non ingest\r\nnode 7")
    subject, _ = email_message(
        make_alert("flare.case.created", CaseEvent(case=case, actor="r"), CONSOLE, ())
    )
    assert "\n" not in subject
    assert "\r" not in subject
    assert "Disk full on ingest node 7" in subject


async def test_sse_client_that_falls_behind_is_told_why_and_the_stream_ends() -> None:
    hub = StreamHub(queue_size=1, replay_size=0, registry=CollectorRegistry())
    subscriber, missed = hub.subscribe()
    for name in ("1", "2"):
        hub.publish(StreamEvent(name, "flare.case.created", None, "{}"))
    later = datetime.now(UTC) + timedelta(hours=1)
    frames = [frame async for frame in sse_events(hub, subscriber, missed, 5, later)]
    assert frames[0].startswith("retry:")
    assert frames[-1].startswith("event: dropped\n")
    assert "client too slow" in frames[-1]


def test_an_emerging_risk_reads_the_same_on_every_channel_and_links_to_the_trends() -> None:
    risk = EmergingRisk(
        region="BR",
        category=Category.ELECTIONS,
        report_count=120,
        window_start=datetime(2026, 10, 4, 18, 0, tzinfo=UTC),
        window_minutes=15,
        detected_at=datetime(2026, 10, 4, 18, 9, tzinfo=UTC),
    )
    at = datetime(2026, 10, 4, 18, 9, tzinfo=UTC)
    summary = "Emerging risk: 120 elections reports from BR within 15 min"
    email = render_risk("email", risk, "https://flare.example/", (), at)
    assert email["subject"] == f"[Flare] {summary}"
    assert "since 2026-10-04T18:00+00:00" in email["text"]
    assert "https://flare.example/trends" in email["text"]
    assert render_risk("chat", risk, "https://flare.example", (), at)["text"] == (
        f"{summary} https://flare.example/trends"
    )
    webhook = render_risk("webhook", risk, "https://flare.example", (), at)
    assert webhook["type"] == "flare.risk.emerging"
    assert webhook["data"]["report_count"] == 120
    assert webhook["data"]["link"] == "https://flare.example/trends"


def test_a_subjects_emerging_risk_links_to_the_case_its_surge_raised() -> None:
    case_id = UUID("6f1c2b3a-0000-4000-8000-000000000001")
    risk = EmergingRisk(
        scope="subject",
        category=Category.COMMUNITY_STANDARDS,
        case_id=case_id,
        report_count=20,
        window_start=datetime(2026, 10, 4, 17, 59, tzinfo=UTC),
        window_minutes=10,
        detected_at=datetime(2026, 10, 4, 18, 9, tzinfo=UTC),
    )
    at = datetime(2026, 10, 4, 18, 9, tzinfo=UTC)
    summary = "Emerging risk: 20 community_standards reports on one subject within 10 min"
    link = f"https://flare.example/cases/{case_id}"
    email = render_risk("email", risk, "https://flare.example", (), at)
    assert email["subject"] == f"[Flare] {summary}"
    assert f"Open the case in the console: {link}" in email["text"]
    assert render_risk("chat", risk, "https://flare.example", (), at)["text"] == f"{summary} {link}"
    webhook = render_risk("webhook", risk, "https://flare.example", (), at)
    assert (webhook["data"]["scope"], webhook["data"]["case_id"]) == ("subject", str(case_id))
    assert (webhook["data"]["region"], webhook["data"]["link"]) == (None, link)
    assert webhook["data"]["sensitive"] is False
    assert "content_warning" not in webhook["data"]


@pytest.mark.parametrize(
    ("flagged", "sensitive_categories"),
    [(True, ()), (False, ("community_standards",))],
    ids=["a sensitive case", "a sensitive category"],
)
def test_a_subjects_emerging_risk_on_a_sensitive_case_carries_the_content_warning(
    flagged: bool, sensitive_categories: tuple[str, ...]
) -> None:
    risk = EmergingRisk(
        scope="subject",
        category=Category.COMMUNITY_STANDARDS,
        case_id=UUID("6f1c2b3a-0000-4000-8000-000000000001"),
        sensitive=flagged,
        report_count=20,
        window_start=datetime(2026, 10, 4, 17, 59, tzinfo=UTC),
        window_minutes=10,
        detected_at=datetime(2026, 10, 4, 18, 9, tzinfo=UTC),
    )
    at, console = datetime(2026, 10, 4, 18, 9, tzinfo=UTC), "https://flare.example"
    webhook = render_risk("webhook", risk, console, sensitive_categories, at)
    assert (webhook["data"]["sensitive"], webhook["data"]["content_warning"]) == (
        True,
        CONTENT_WARNING,
    )
    assert CONTENT_WARNING in render_risk("email", risk, console, sensitive_categories, at)["text"]
    chat = render_risk("chat", risk, console, sensitive_categories, at)
    assert CONTENT_WARNING in json.dumps(chat["blocks"])
