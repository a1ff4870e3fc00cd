"""The notifier's pure rules: retry schedule, filters, SSRF refusal, escalation steps."""

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from services.notifier.egress import TargetRefused, check_addresses, target_host
from services.notifier.escalation import (
    Policy,
    first_fire_at,
    next_fire_at,
    parse_duration,
    resolve_targets,
)
from services.notifier.filters import EventFilter
from services.notifier.retry import RetrySchedule
from services.notifier.service import shown_target
from shared.events import Category, Severity
from tests.integration.notifier_peers import snapshot

DEFAULT_SCHEDULE = RetrySchedule(first_delay_s=10, factor=3, max_delay_s=3600, max_attempts=8)


@pytest.mark.parametrize(
    ("attempts_made", "nominal_s"),
    [(1, 10), (2, 30), (3, 90), (4, 270), (5, 810), (6, 2430), (7, 3600)],
)
def test_retry_waits_grow_exponentially_up_to_the_cap(attempts_made: int, nominal_s: float) -> None:
    assert DEFAULT_SCHEDULE.nominal_delay_s(attempts_made) == nominal_s
    for seed in range(20):
        delay = DEFAULT_SCHEDULE.next_delay_s(attempts_made, random.Random(seed))
        assert delay is not None
        assert nominal_s / 2 <= delay <= nominal_s


def test_retry_jitter_spreads_receivers_that_failed_together() -> None:
    delays = {DEFAULT_SCHEDULE.next_delay_s(3, random.Random(seed)) for seed in range(10)}
    assert len(delays) == 10


def test_no_retry_after_the_last_attempt() -> None:
    assert DEFAULT_SCHEDULE.next_delay_s(8) is None


FILTER_CASES = [
    # (filter, team, watchers, severity, category, event type, wanted)
    (EventFilter(), "Legal", [], Severity.SEV4, "other", "flare.case.created", True),
    (EventFilter.of(teams=["Legal"]), "Legal", [], Severity.SEV4, "other", "x", True),
    (EventFilter.of(teams=["Legal"]), "Sales", ["Legal"], None, "other", "x", True),
    (EventFilter.of(teams=["Legal"]), "Sales", [], None, "other", "x", False),
    (EventFilter.of(min_severity=Severity.SEV2), "Legal", [], Severity.SEV1, "other", "x", True),
    (EventFilter.of(min_severity=Severity.SEV2), "Legal", [], Severity.SEV2, "other", "x", True),
    (EventFilter.of(min_severity=Severity.SEV2), "Legal", [], Severity.SEV3, "other", "x", False),
    (EventFilter.of(min_severity=Severity.SEV2), "Legal", [], None, "other", "x", False),
    (EventFilter.of(categories=["crisis"]), "Legal", [], None, "crisis", "x", True),
    (EventFilter.of(categories=["crisis"]), "Legal", [], None, "other", "x", False),
    (EventFilter.of(event_types=["flare.case.created"]), "L", [], None, "other", "x", False),
]


@pytest.mark.parametrize(
    ("event_filter", "team", "watchers", "severity", "category", "event_type", "wanted"),
    FILTER_CASES,
)
def test_filters_by_team_or_watcher_severity_category_and_type(
    event_filter: EventFilter,
    team: str,
    watchers: list[str],
    severity: Severity | None,
    category: str,
    event_type: str,
    wanted: bool,
) -> None:
    case = snapshot(team=team, watchers=watchers, severity=severity, category=Category(category))
    assert event_filter.matches(event_type, case) is wanted


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "::1",
        "fd00:ec2::254",
        "fc00::1",
        "0.0.0.0",
        "100.64.0.1",
        "::ffff:127.0.0.1",
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "64:ff9b::a00:8",  # NAT64 of 10.0.0.8
        "64:ff9b:1:a9fe:a9:fe00::",  # a network's own NAT64 (local-use prefix)
        "2002:a00:1::",  # 6to4 of 10.0.0.1
        "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
        "fec0::1",  # site-local (deprecated), global to Python
        "::a00:1",  # IPv4-compatible ::10.0.0.1 (deprecated), global to Python
        "::808:808",  # IPv4-compatible ::8.8.8.8: never routed, whatever it holds
        "::ffff:0:a00:1",  # IPv4-translated 10.0.0.1, global to Python
        "224.0.0.1",
    ],
)
def test_internal_and_metadata_addresses_are_refused(address: str) -> None:
    with pytest.raises(TargetRefused, match="internal address"):
        check_addresses("target.example", [address], [])


def test_allow_listed_network_is_permitted() -> None:
    check_addresses("localhost", ["127.0.0.1"], ["127.0.0.1/32"])
    with pytest.raises(TargetRefused):
        check_addresses("localhost", ["127.0.0.1", "10.0.0.1"], ["127.0.0.1/32"])


def test_public_address_is_permitted() -> None:
    check_addresses(
        "hooks.example",
        ["93.184.216.34", "2606:2800:220:1::1", "64:ff9b::5db8:d822", "2002:5db8:d822::1"],
        [],
    )


@pytest.mark.parametrize(
    "url", ["ftp://host/x", "/relative", "http://user:pw@host/x", "http://host:99999/"]
)
def test_malformed_or_non_http_urls_are_refused(url: str) -> None:
    with pytest.raises(TargetRefused):
        target_host(url)


POLICY = Policy.model_validate(
    {
        "steps": [
            {"name": "on-call", "targets": ["email:{assignee}@flare.example"]},
            {
                "name": "on-call again",
                "wait": "15m",
                "wait_by_severity": {"SEV1": "5m", "SEV2": "10m"},
                "targets": ["email:{assignee}@flare.example"],
            },
            {"name": "lead", "wait": "30m", "targets": ["chat:https://chat.example/hook"]},
        ]
    }
)
OPENED = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("severity", "second_step_after"),
    [(Severity.SEV1, 5), (Severity.SEV2, 10), (Severity.SEV3, 15), (None, 15)],
)
def test_each_step_waits_by_severity_band(
    severity: Severity | None, second_step_after: int
) -> None:
    assert first_fire_at(POLICY, severity, OPENED) == OPENED
    assert next_fire_at(POLICY, 0, severity, OPENED) == OPENED + timedelta(
        minutes=second_step_after
    )


def test_escalation_ends_after_the_last_step() -> None:
    assert next_fire_at(POLICY, 1, Severity.SEV1, OPENED) == OPENED + timedelta(minutes=30)
    assert next_fire_at(POLICY, 2, Severity.SEV1, OPENED) is None


def test_assignee_targets_are_filled_in_or_skipped() -> None:
    assert resolve_targets(POLICY.steps[0], "ada") == [("email", "ada@flare.example")]
    assert resolve_targets(POLICY.steps[0], None) == []
    assert resolve_targets(POLICY.steps[2], None) == [("chat", "https://chat.example/hook")]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90.0), ("90s", 90.0), ("5m", 300.0), ("1h", 3600.0), ("250ms", 0.25)],
)
def test_durations_read_as_seconds(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("wait", [1e12, "inf", "nan", -1, 366 * 24 * 3600 + 1])
def test_a_wait_that_is_negative_infinite_or_over_a_year_is_refused(wait: object) -> None:
    with pytest.raises(ValueError, match="wait"):
        Policy.model_validate({"steps": [{"name": "x", "wait": wait, "targets": ["email:a@b"]}]})
    by_severity = {"name": "x", "wait_by_severity": {"SEV1": wait}, "targets": ["email:a@b"]}
    with pytest.raises(ValueError, match="wait_by_severity"):
        Policy.model_validate({"steps": [by_severity]})


def test_policy_with_an_unknown_channel_is_refused() -> None:
    with pytest.raises(ValueError, match="email:<address> or chat:<url>"):
        Policy.model_validate({"steps": [{"name": "x", "targets": ["sms:+4912345"]}]})


def test_the_readme_escalation_example_is_a_valid_policy() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    example = readme.split("# global-operations.yaml\n", 1)[1].split("```", 1)[0]
    policy = Policy.model_validate(yaml.safe_load(example))
    assert [step.name for step in policy.steps] == [
        "on-call",
        "on-call again",
        "secondary",
        "team lead",
    ]
    assert policy.steps[1].wait_s(Severity.SEV1) == 300


@pytest.mark.parametrize(
    ("channel", "target", "shown"),
    [
        ("chat", "https://hooks.slack.com/services/T0/B0/secret", "https://hooks.slack.com/…"),
        ("webhook", "https://partner.example/hook?token=secret", "https://partner.example/…"),
        ("email", "oncall@example.org", "oncall@example.org"),
    ],
)
def test_the_delivery_log_never_shows_credentials_in_target_urls(
    channel: str, target: str, shown: str
) -> None:
    assert shown_target(channel, target) == shown
