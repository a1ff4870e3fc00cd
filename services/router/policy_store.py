"""The running policy: loaded from its file at start, reloaded when the file changes."""

import asyncio
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge

from services.router.policy import Policy, PolicyInvalid, parse_policy
from shared.lifecycle import pause
from shared.logging import get_logger

log = get_logger(__name__)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise PolicyInvalid(f"{path}: cannot read the policy file: {error}") from error


def _parse(content: bytes, path: Path) -> Policy:
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as error:
        raise PolicyInvalid(f"{path}: the policy file is not UTF-8: {error}") from error
    return parse_policy(text, str(path))


def load_policy_file(path: Path) -> Policy:
    return _parse(_read(path), path)


class PolicyStore:
    """Holds the current policy. A changed file that does not validate, or no longer reads, is
    refused and logged once; the policy already running stays in force, so a bad edit does not
    stop a running router.
    A router starting on that file cannot start, hence the gauge (and its alert) while it lasts."""

    def __init__(self, path: Path, registry: CollectorRegistry) -> None:
        self.path = path
        # The file's content as last read; None while it cannot be read.
        self._content: bytes | None = _read(path)
        self.current: Policy = _parse(self._content, path)
        # Why the file on disk is not the policy in force, while it is not.
        self.rejected: str | None = None
        self._rejected = Gauge(
            "flare_router_policy_rejected",
            "1 while the policy file cannot be read or does not validate, and an older policy "
            "runs.",
            registry=registry,
        )

    def reload_if_changed(self) -> bool:
        """True when a new policy took over."""
        try:
            content = _read(self.path)
        except PolicyInvalid as error:  # gone or unreadable: a router starting now cannot start
            if self._content is not None:
                self._content = None
                self._refuse(str(error))
            return False
        if content == self._content:
            return False
        self._content = content
        try:
            policy = _parse(content, self.path)
        except PolicyInvalid as error:
            self._refuse(str(error))
            return False
        previous, self.current, self.rejected = self.current.version, policy, None
        self._rejected.set(0)
        log.info("policy_reloaded", path=str(self.path), version=policy.version, previous=previous)
        return True

    def _refuse(self, error: str) -> None:
        self.rejected = error
        self._rejected.set(1)
        log.error("policy_rejected", path=str(self.path), kept=self.current.version, error=error)

    async def watch(self, stopping: asyncio.Event, interval_s: float) -> None:
        """A lifespan worker: looks at the file every `interval_s` seconds."""
        while not stopping.is_set():
            await asyncio.to_thread(self.reload_if_changed)
            await pause(stopping, interval_s)
