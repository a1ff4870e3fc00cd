"""The bench's arithmetic: percentiles, ratios and the direction of each target."""

import math

import pytest

from bench.stats import absolute, at_least, at_most, percentile, ratio


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([5.0, 1.0, 3.0, 2.0, 4.0], 50, 3.0),
        ([5.0, 1.0, 3.0, 2.0, 4.0], 100, 5.0),
        ([5.0, 1.0, 3.0, 2.0, 4.0], 0, 1.0),
        ([float(n) for n in range(1, 101)], 99, 99.0),
        ([7.0], 99, 7.0),
    ],
)
def test_percentile_is_the_nearest_rank(values: list[float], q: float, expected: float) -> None:
    assert percentile(values, q) == expected


def test_percentile_of_nothing_and_ratio_to_nothing_are_not_numbers() -> None:
    assert math.isnan(percentile([], 50))
    assert math.isnan(ratio(1.0, 0.0))


def test_targets_point_the_right_way() -> None:
    assert at_least("accepts/s", 900, 1000, "ceiling", 0.9).met
    assert not at_least("accepts/s", 899, 1000, "ceiling", 0.9).met
    assert at_most("p99", 10, 100, "peer", 0.1).met
    assert not at_most("p99", 11, 100, "peer", 0.1).met
    assert absolute("p50", 15, 15, higher_is_better=False, unit="ms").met
    assert not absolute("rate", 999, 1000, higher_is_better=True, unit="/s").met


def test_a_missing_reference_never_meets_a_ratio_target() -> None:
    assert not at_least("accepts/s", 100, 0, "ceiling", 0.9).met
    assert not at_most("p99", 10, 0, "peer", 0.1).met
