"""The fault suite's catalogue and its results table (`make chaos` prints and saves it)."""

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tests.conftest import ROOT

RESULTS_DIR = ROOT / "chaos" / "results"


@dataclass(frozen=True)
class Scenario:
    name: str
    fault: str


SCENARIOS = [
    Scenario("kafka-killed", "Kafka SIGKILLed under load, restarted after a delay"),
    Scenario("postgres-stopped", "Postgres stopped under load, then started"),
    Scenario("router-killed", "router SIGKILLed mid-batch; 2 replicas, one killed"),
    Scenario("notifier-killed", "notifier SIGKILLed with timers pending, webhooks in flight"),
    Scenario("redelivery", "events re-published; replay from offset 0, out of order"),
    Scenario("poison", "garbage, wrong schema, missing headers on every topic"),
    Scenario("webhook-targets", "webhook target down, slow, answering 500, then back"),
    Scenario("network-faults", "TCP proxy: latency, then cut connections to Kafka/Postgres"),
    Scenario("bad-input", "malformed, oversized, forged, foreign, flooding requests"),
    Scenario("schemathesis", "schemathesis over the router's and notifier's OpenAPI"),
    Scenario("clock-edges", "SLA and escalation timers across a DST change and a restart"),
]
BY_NAME = {scenario.name: scenario for scenario in SCENARIOS}


@dataclass
class Row:
    """What one scenario saw. `lost` and `duplicated` count reports and alerts together."""

    scenario: str
    accepted: int = 0
    cases: int = 0
    alerts_sent: int = 0
    lost: int = 0
    duplicated: int = 0
    # Webhooks taken again under the same webhook-id (receivers deduplicate on it).
    redelivered: int = 0
    result: str = "not run"
    seconds: float = 0.0


HEADER = (
    "| scenario | fault | accepted | cases | alerts sent | lost | duplicated "
    "| redelivered (same webhook-id) | result | time |"
)


def merged(scenario: str, rows: list[Row]) -> Row:
    """A scenario made of several tests shows their sums, and fails if any one of them fails."""
    results = {row.result for row in rows}
    return Row(
        scenario,
        sum(row.accepted for row in rows),
        sum(row.cases for row in rows),
        sum(row.alerts_sent for row in rows),
        sum(row.lost for row in rows),
        sum(row.duplicated for row in rows),
        sum(row.redelivered for row in rows),
        "FAIL" if "FAIL" in results else "pass" if results == {"pass"} else "not run",
        sum(row.seconds for row in rows),
    )


def render(rows: dict[str, list[Row]]) -> str:
    lines = [HEADER, "|---|---|---:|---:|---:|---:|---:|---:|---|---:|"]
    for scenario in SCENARIOS:
        row = merged(scenario.name, rows.get(scenario.name, []))
        lines.append(
            f"| {scenario.name} | {scenario.fault} | {row.accepted} | {row.cases} "
            f"| {row.alerts_sent} | {row.lost} | {row.duplicated} | {row.redelivered} "
            f"| {row.result} "
            f"| {row.seconds:.0f} s |"
        )
    return "\n".join(lines) + "\n"


def save(table: str, total_s: float) -> Path:
    now = datetime.now(UTC)
    path = RESULTS_DIR / f"{now:%Y-%m-%d}.md"
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    notes = [
        f"# make chaos, {now:%Y-%m-%d %H:%M} UTC",
        "",
        table,
        f"Whole run: {total_s:.0f} s. `lost` and `duplicated` count reports and alerts",
        "together; what each scenario does and checks is in docs/reliability.md.",
    ]
    path.write_text("\n".join(notes).rstrip() + "\n")
    return path
