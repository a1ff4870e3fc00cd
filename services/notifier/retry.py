"""The delivery retry schedule: exponential backoff with jitter, then the dead-letter state.

Pure rules, no I/O. With the defaults (first delay 10 s, factor 3, cap 1 h, 8 attempts) the
waits after attempts 1..7 are about 10 s, 30 s, 1.5 min, 4.5 min, 13.5 min, 40.5 min, 1 h, each
drawn uniformly from the upper half of that value ("equal jitter") so that receivers that
failed together are not retried together. After the 8th failed attempt the delivery is dead.
"""

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RetrySchedule:
    first_delay_s: float
    factor: float
    max_delay_s: float
    max_attempts: int

    def nominal_delay_s(self, attempts_made: int) -> float:
        """The wait after `attempts_made` failed attempts, before jitter."""
        exponent = max(attempts_made - 1, 0)
        return float(min(self.first_delay_s * self.factor**exponent, self.max_delay_s))

    def next_delay_s(self, attempts_made: int, rng: random.Random | None = None) -> float | None:
        """Seconds until the next attempt, or None when the delivery is out of attempts."""
        if attempts_made >= self.max_attempts:
            return None
        nominal = self.nominal_delay_s(attempts_made)
        draw = (rng or random).random()
        return nominal / 2 + draw * nominal / 2
