"""The shipped default policy and builders of escalation facts, for the router's unit tests."""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from services.router.facts import EscalationFacts
from services.router.policy import Policy
from services.router.policy_store import load_policy_file

ROOT = Path(__file__).resolve().parents[3]
DEFAULT_POLICY_PATH = ROOT / "policy" / "default.yaml"
# Inside the Brazilian and US election windows of the default policy.
NOW = datetime(2026, 10, 15, 12, 0, tzinfo=UTC)


def default_policy() -> Policy:
    return load_policy_file(DEFAULT_POLICY_PATH)


def facts(
    category: str,
    reporter: str = "user",
    region: str | None = None,
    text: str = "A report",
    deadline_in_h: float | None = None,
    **signals: Any,
) -> EscalationFacts:
    if deadline_in_h is not None:
        signals["legal_deadline"] = NOW + timedelta(hours=deadline_in_h)
    return EscalationFacts.model_validate(
        {
            "category": category,
            "product": "facebook",
            "title": text,
            "reporter": {"type": reporter, "name": "Someone"},
            "region": region,
            "signals": signals,
        }
    )
