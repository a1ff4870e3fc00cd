"""intake's settings (FLARE_* environment variables)."""

from shared.settings import FlareSettings


class IntakeSettings(FlareSettings):
    port: int = 8001
