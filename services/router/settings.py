"""router's settings (FLARE_* environment variables)."""

from shared.settings import FlareSettings


class RouterSettings(FlareSettings):
    port: int = 8002

    @property
    def consumer_group(self) -> str:
        # One group for every router replica: a correlation key is handled by one replica.
        return f"{self.topic_prefix}flare-router"
