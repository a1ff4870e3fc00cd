"""router's settings (FLARE_* environment variables)."""

from pathlib import Path

from pydantic import Field

from shared.settings import FlareSettings

# The policy shipped in the repository; deployments mount theirs and set FLARE_POLICY_PATH.
DEFAULT_POLICY = Path(__file__).resolve().parents[2] / "policy" / "default.yaml"


class RouterSettings(FlareSettings):
    port: int = 8002
    policy_path: Path = DEFAULT_POLICY
    # How often the policy file is looked at for changes (hot reload).
    policy_reload_interval_s: float = Field(default=2.0, gt=0)
    # How often open cases are checked against their SLA deadlines.
    sla_check_interval_s: float = Field(default=15.0, gt=0)

    @property
    def consumer_group(self) -> str:
        # One group for every router replica: a correlation key is handled by one replica.
        return f"{self.topic_prefix}flare-router"
