"""SLA deadlines and alerts, and correlation rules: pure functions, table-driven."""

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from services.router.correlation import (
    LatestCase,
    is_surge,
    joins_case,
    velocity_per_hour,
    window_start,
)
from services.router.sla import SlaClock, due_alert, running_clocks, sla_deadlines
from shared.events import CaseStatus, Severity
from tests.unit.router.policy_fixtures import default_policy

POLICY = default_policy()
T0 = datetime(2026, 10, 12, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)

# (band, legal deadline from T0, acknowledge due after, resolve due after)
DEADLINES = [
    ("SEV1", None, timedelta(minutes=15), 4 * H),
    ("SEV2", None, H, 24 * H),
    ("SEV3", None, 4 * H, 72 * H),
    ("SEV4", None, 24 * H, 168 * H),
    ("SEV2", 10 * H, H, 9 * H),
    ("SEV4", 3 * H, 2 * H, 2 * H),  # the deadline pulls acknowledgement in too
    ("SEV1", 48 * H, timedelta(minutes=15), 4 * H),  # a far deadline changes nothing
    # Closer than twice the margin (60 min): half the time left; past: due at once.
    ("SEV2", timedelta(minutes=30), timedelta(minutes=15), timedelta(minutes=15)),
    ("SEV2", -H, timedelta(0), timedelta(0)),
]


@pytest.mark.parametrize(("band", "legal", "acknowledge", "resolve"), DEADLINES)
def test_sla_deadlines_by_band_tightened_by_a_legal_deadline(
    band: str, legal: timedelta | None, acknowledge: timedelta, resolve: timedelta
) -> None:
    deadline = T0 + legal if legal else None
    due = sla_deadlines(Severity(band), T0, deadline, POLICY)
    assert (due.acknowledge_due - T0, due.resolve_due - T0) == (acknowledge, resolve)
    if deadline is not None and deadline > T0:
        assert due.resolve_due < deadline


def clock(warned: bool = False, breached: bool = False) -> SlaClock:
    return SlaClock("acknowledge", T0, T0 + timedelta(minutes=100), warned, breached)


# (minutes after T0, clock, expected alert kind or None)
ALERTS = [
    (74, clock(), None),
    (75, clock(), "warning"),
    (80, clock(warned=True), None),
    (100, clock(warned=True), "breached"),
    (100, clock(), "breached"),  # first look after the deadline: only the breach
    (200, clock(warned=True, breached=True), None),
]


@pytest.mark.parametrize(("minutes", "state", "expected"), ALERTS)
def test_an_sla_alert_is_due_once_per_kind(
    minutes: int, state: SlaClock, expected: str | None
) -> None:
    alert = due_alert(state, T0 + timedelta(minutes=minutes), 0.75)
    assert (alert.kind if alert else None) == expected


@pytest.mark.parametrize(
    ("status", "targets"),
    [
        (CaseStatus.OPEN, ["acknowledge", "resolve"]),
        (CaseStatus.ACKNOWLEDGED, ["resolve"]),
        (CaseStatus.RESOLVED, []),
    ],
)
def test_acknowledging_and_resolving_stop_their_clocks(
    status: CaseStatus, targets: list[str]
) -> None:
    clocks = [clock(), SlaClock("resolve", T0, T0 + H, False, False)]
    assert [c.target for c in running_clocks(status, clocks)] == targets


WINDOW = timedelta(hours=24)
# (latest case on the key, report received after its last report, joins?)
JOINS = [
    (None, H, False),
    (CaseStatus.OPEN, H, True),
    (CaseStatus.ACKNOWLEDGED, 23 * H, True),
    (CaseStatus.OPEN, 24 * H, True),
    (CaseStatus.OPEN, 25 * H, False),
    (CaseStatus.RESOLVED, H, False),
]


@pytest.mark.parametrize(("status", "after", "joins"), JOINS)
def test_a_report_joins_the_open_case_on_its_key_within_the_window(
    status: CaseStatus | None, after: timedelta, joins: bool
) -> None:
    latest = LatestCase(uuid4(), status, T0) if status else None
    assert joins_case(latest, T0 + after, WINDOW) is joins


def test_velocity_surge_and_fixed_windows() -> None:
    assert velocity_per_hour(5, 60) == 5.0
    assert velocity_per_hour(3, 10) == 18.0
    assert (is_surge(19, 20), is_surge(20, 20)) == (False, True)
    assert window_start(T0 + timedelta(minutes=59), 60) == T0
    assert window_start(T0 + timedelta(minutes=60), 60) == T0 + H
