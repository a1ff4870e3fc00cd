"""router's settings (FLARE_* environment variables)."""

from pydantic import Field

from shared.settings import FlareSettings


class RouterSettings(FlareSettings):
    port: int = 8002
    relay_batch_size: int = Field(default=500, ge=1)
    relay_poll_interval_s: float = Field(default=1.0, gt=0)

    @property
    def consumer_group(self) -> str:
        # One group for every router replica: a correlation key is handled by one replica.
        return f"{self.topic_prefix}flare-router"
