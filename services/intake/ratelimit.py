"""Per-partner token buckets, kept in this replica's memory (ADR 0007): no I/O, O(1) per check."""

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID


@dataclass
class Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Each partner may burst up to its per-minute quota, refilled evenly over the minute."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[UUID, Bucket] = {}

    def take(self, partner_id: UUID, per_minute: int, tokens: int = 1) -> float:
        """Take `tokens` (at most the quota: more would never be allowed): 0.0 when allowed,
        else the seconds until they are available."""
        now, rate = self._clock(), per_minute / 60.0
        wanted = float(min(tokens, per_minute))
        bucket = self._buckets.setdefault(partner_id, Bucket(float(per_minute), now))
        bucket.tokens = min(float(per_minute), bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        if bucket.tokens >= wanted:
            bucket.tokens -= wanted
            return 0.0
        return (wanted - bucket.tokens) / rate


def retry_after_header(wait_s: float) -> str:
    """Retry-After takes whole seconds; round up so a client that obeys it is let in."""
    return str(max(1, math.ceil(wait_s)))
