"""`python -m services.router policy check | dry-run` and `token mint`, run as a user would."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from services.router.cli import admin
from shared.auth import Role, verify_token
from tests.unit.router.policy_fixtures import DEFAULT_POLICY_PATH

RUNNER = CliRunner()
SECRET = "a-test-secret-that-is-long-enough-for-hs256"


def test_policy_check_accepts_the_default_policy_and_prints_its_version() -> None:
    result = RUNNER.invoke(admin, ["policy", "check", str(DEFAULT_POLICY_PATH)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ok: default@")


def test_policy_check_refuses_a_bad_file_naming_line_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(DEFAULT_POLICY_PATH.read_text().replace("SEV1: 80", "SEV1: high", 1))
    result = RUNNER.invoke(admin, ["policy", "check", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:" in result.output
    assert "bands.SEV1" in result.output


def test_dry_run_shows_band_rules_team_watchers_and_deadlines(tmp_path: Path) -> None:
    report = tmp_path / "escalation.json"
    report.write_text(
        json.dumps(
            {
                "category": "law_enforcement",
                "title": "Threat to a school",
                "product": "instagram",
                "reporter": {"type": "law_enforcement", "name": "Metro Police"},
                "signals": {"imminent_harm": True, "minors_involved": True},
            }
        )
    )
    result = RUNNER.invoke(
        admin,
        [
            "policy",
            "dry-run",
            str(DEFAULT_POLICY_PATH),
            str(report),
            "--now",
            "2026-10-15T12:00:00",
        ],
    )
    assert result.exit_code == 0, result.output
    decision = json.loads(result.output)
    assert (decision["severity"], decision["team"], decision["watchers"]) == (
        "SEV1",
        "Law Enforcement Response",
        ["Legal"],
    )
    assert "imminent_harm_to_minors_floor" in [rule["name"] for rule in decision["rules"]]
    assert decision["ack_due_at"] == "2026-10-15T12:15:00+00:00"


def test_dry_run_refuses_a_file_that_is_not_an_escalation(tmp_path: Path) -> None:
    report = tmp_path / "escalation.json"
    report.write_text('{"category": "gossip"}')
    result = RUNNER.invoke(admin, ["policy", "dry-run", str(DEFAULT_POLICY_PATH), str(report)])
    assert result.exit_code == 1
    assert "not an escalation" in result.output


def test_token_mint_prints_a_token_the_services_accept() -> None:
    result = RUNNER.invoke(
        admin, ["token", "mint", "ana", "--role", "lead"], env={"FLARE_JWT_SECRET": SECRET}
    )
    assert result.exit_code == 0, result.output
    responder = verify_token(SECRET, result.output.strip())
    assert (responder.subject, responder.role) == ("ana", Role.LEAD)


@pytest.mark.parametrize("hours", ["0", "169"])
def test_token_mint_refuses_a_lifetime_beyond_a_week(hours: str) -> None:
    """A token cannot be revoked but by changing the secret: its lifetime is bounded."""
    result = RUNNER.invoke(
        admin, ["token", "mint", "ana", "--ttl-hours", hours], env={"FLARE_JWT_SECRET": SECRET}
    )
    assert result.exit_code == 2
    assert "--ttl-hours" in result.output
