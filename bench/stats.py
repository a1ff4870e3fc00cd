"""Pure arithmetic of the bench: percentiles, rates, ratios and whether a target is met."""

import math
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank percentile (q in 0..100) of unsorted values; NaN when there are none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def ratio(value: float, reference: float) -> float:
    return value / reference if reference > 0 else math.nan


@dataclass(frozen=True)
class Check:
    """One line of the results table: a measured figure against its reference and target."""

    name: str
    flare: float
    reference: float | None
    reference_name: str
    value: float  # what the target is about: a ratio, or the figure itself
    target: str
    met: bool
    unit: str = ""


def at_least(
    name: str, flare: float, reference: float, reference_name: str, target: float
) -> Check:
    """Flare / reference must be at least `target` (higher is better)."""
    value = ratio(flare, reference)
    return Check(name, flare, reference, reference_name, value, f">= {target}x", value >= target)


def at_most(name: str, flare: float, reference: float, reference_name: str, target: float) -> Check:
    """Flare / reference must be at most `target` (lower is better)."""
    value = ratio(flare, reference)
    return Check(name, flare, reference, reference_name, value, f"<= {target}x", value <= target)


def absolute(name: str, flare: float, target: float, higher_is_better: bool, unit: str) -> Check:
    met = flare >= target if higher_is_better else flare <= target
    sign = ">=" if higher_is_better else "<="
    return Check(name, flare, None, "", flare, f"{sign} {target:g} {unit}", met, unit)
