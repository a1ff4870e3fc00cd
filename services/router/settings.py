"""router's settings (FLARE_* environment variables)."""

from datetime import timedelta
from pathlib import Path

from pydantic import Field

from shared.settings import ResponderAuthSettings

# The policy shipped in the repository; deployments mount theirs and set FLARE_POLICY_PATH.
DEFAULT_POLICY = Path(__file__).resolve().parents[2] / "policy" / "default.yaml"


class RouterSettings(ResponderAuthSettings):
    port: int = 8002
    policy_path: Path = DEFAULT_POLICY
    # How often the policy file is looked at for changes (hot reload).
    policy_reload_interval_s: float = Field(default=2.0, gt=0)
    # How often open cases are checked against their SLA deadlines.
    sla_check_interval_s: float = Field(default=15.0, gt=0)
    # Handled event ids are remembered this long, longer than the topics keep events (7 days):
    # a redelivery can only come from what Kafka still holds.
    processed_events_keep_days: float = Field(default=14.0, gt=7.0)
    # Browser origins allowed to call this API cross-origin: the responder console when it is
    # not served under the router's host (local runs). Empty behind one ingress (ADR 0008).
    cors_allowed_origins: list[str] = Field(
        default_factory=lambda: ["http://127.0.0.1:8003", "http://localhost:8003"]
    )

    @property
    def processed_events_keep(self) -> timedelta:
        return timedelta(days=self.processed_events_keep_days)

    @property
    def consumer_group(self) -> str:
        # One group for every router replica: a correlation key is handled by one replica.
        return f"{self.topic_prefix}flare-router"
