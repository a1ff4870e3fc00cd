"""The running policy: loaded from its file at start, reloaded when the file changes."""

import asyncio
from pathlib import Path

from services.router.policy import Policy, PolicyInvalid, parse_policy
from shared.lifecycle import pause
from shared.logging import get_logger

log = get_logger(__name__)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise PolicyInvalid(f"{path}: cannot read the policy file: {error}") from error


def load_policy_file(path: Path) -> Policy:
    return parse_policy(_read(path), str(path))


class PolicyStore:
    """Holds the current policy. A changed file that does not validate is refused and logged;
    the policy already running stays in force, so a bad edit never stops routing."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._text = _read(path)
        self.current: Policy = parse_policy(self._text, str(path))
        # Why the file on disk is not the policy in force, while it is not.
        self.rejected: str | None = None

    def reload_if_changed(self) -> bool:
        """True when a new policy took over."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except OSError as error:
            log.warning("policy_unreadable", path=str(self.path), error=str(error))
            return False
        if text == self._text:
            return False
        self._text = text
        try:
            policy = parse_policy(text, str(self.path))
        except PolicyInvalid as error:
            self.rejected = str(error)
            log.error(
                "policy_rejected", path=str(self.path), kept=self.current.version, error=str(error)
            )
            return False
        previous, self.current, self.rejected = self.current.version, policy, None
        log.info("policy_reloaded", path=str(self.path), version=policy.version, previous=previous)
        return True

    async def watch(self, stopping: asyncio.Event, interval_s: float) -> None:
        """A lifespan worker: looks at the file every `interval_s` seconds."""
        while not stopping.is_set():
            await asyncio.to_thread(self.reload_if_changed)
            await pause(stopping, interval_s)
