"""intake's settings (FLARE_* environment variables)."""

from pydantic import Field

from shared.settings import FlareSettings


class IntakeSettings(FlareSettings):
    port: int = 8001
    relay_batch_size: int = Field(default=500, ge=1)
    # How often the relay looks for rows committed by other replicas; its own rows wake it at once.
    relay_poll_interval_s: float = Field(default=1.0, gt=0)
