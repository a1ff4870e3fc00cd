"""intake's settings (FLARE_* environment variables)."""

from datetime import timedelta

from pydantic import Field

from shared.settings import FlareSettings


class IntakeSettings(FlareSettings):
    port: int = 8001
    # An Idempotency-Key answers its first response for at least this long.
    idempotency_ttl_s: float = Field(default=24 * 3600, ge=24 * 3600)
    # A new partner's quota when `partner create` is not told otherwise (per replica, ADR 0007).
    default_rate_limit_per_minute: int = Field(default=600, ge=1)

    @property
    def idempotency_ttl(self) -> timedelta:
        return timedelta(seconds=self.idempotency_ttl_s)

    @property
    def status_consumer_group(self) -> str:
        """intake's own group on the cases topic: it learns where each report went."""
        return f"{self.topic_prefix}flare-intake-status"
