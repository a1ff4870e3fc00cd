"""Per-partner token buckets: a burst up to the quota, refilled evenly, one bucket per partner."""

from uuid import uuid4

import pytest

from services.intake.ratelimit import RateLimiter, retry_after_header


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("per_minute", "takes", "after_s", "expected_wait"),
    [
        (3, 3, 0.0, 0.0),  # the quota is available as a burst
        (3, 4, 0.0, 20.0),  # the 4th waits for one token: 60 s / 3
        (60, 61, 0.0, 1.0),
        (60, 61, 0.5, 0.5),  # half a token refilled
        (60, 61, 1.0, 0.0),  # refilled in time
        (1, 2, 61.0, 0.0),  # a long pause refills
    ],
)
def test_bucket_allows_the_quota_then_says_how_long_to_wait(
    per_minute: int, takes: int, after_s: float, expected_wait: float
) -> None:
    clock = Clock()
    limiter, partner = RateLimiter(clock), uuid4()
    for _ in range(takes - 1):
        limiter.take(partner, per_minute)
    clock.now += after_s
    assert limiter.take(partner, per_minute) == pytest.approx(expected_wait)


def test_a_long_pause_refills_the_bucket_up_to_the_quota_and_no_further() -> None:
    """An hour idle is not an hour's worth of requests in one burst."""
    clock = Clock()
    limiter, partner = RateLimiter(clock), uuid4()
    for _ in range(3):
        limiter.take(partner, 3)
    clock.now += 3600
    assert [limiter.take(partner, 3) for _ in range(4)] == [0.0, 0.0, 0.0, pytest.approx(20.0)]


def test_one_partners_flood_leaves_another_partners_quota_untouched() -> None:
    limiter, flooder, quiet = RateLimiter(Clock()), uuid4(), uuid4()
    for _ in range(1000):
        limiter.take(flooder, 10)
    assert limiter.take(quiet, 10) == 0.0


@pytest.mark.parametrize(("wait_s", "header"), [(0.01, "1"), (1.0, "1"), (1.2, "2"), (20.0, "20")])
def test_retry_after_rounds_up_to_whole_seconds(wait_s: float, header: str) -> None:
    assert retry_after_header(wait_s) == header


def test_a_request_may_take_several_tokens_but_never_more_than_the_quota() -> None:
    """An Alertmanager webhook takes one per alert; a batch larger than the quota takes the
    whole quota, so it is let in once the bucket is full, not never."""
    clock = Clock()
    limiter, partner = RateLimiter(clock), uuid4()
    assert limiter.take(partner, 60, tokens=40) == 0.0
    assert limiter.take(partner, 60, tokens=30) == pytest.approx(10.0)
    clock.now += 60
    assert limiter.take(partner, 60, tokens=1000) == 0.0
    assert limiter.take(partner, 60) == pytest.approx(1.0)
