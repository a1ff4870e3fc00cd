"""notifier's settings (FLARE_* environment variables)."""

from pydantic import Field

from shared.settings import FlareSettings


class NotifierSettings(FlareSettings):
    port: int = 8003
    # Events a live client may fall behind by before it is dropped (so it cannot slow the rest).
    stream_queue_size: int = Field(default=1000, ge=1)
