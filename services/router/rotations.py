"""On-call rotations: who is on call at a moment, from layers, hand-offs and overrides. No I/O.

A layer hands off at a local time of day in its own time zone (so hand-offs follow DST) every
`shift_days`, cycling through its members from `starts_on`. A layer may be active only between
two local times (follow-the-sun: regional layers cover their daytime); later layers win where
they are active. An override puts one responder on a rotation for a period, above every layer.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Layer:
    members: tuple[str, ...]
    timezone: str
    handoff: time
    shift_days: int
    starts_on: date
    active_from: time | None = None
    active_until: time | None = None


@dataclass(frozen=True)
class Override:
    responder: str
    starts_at: datetime
    ends_at: datetime


@dataclass(frozen=True)
class Rotation:
    name: str
    layers: tuple[Layer, ...]  # later layers win where they are active
    overrides: tuple[Override, ...] = ()


def _active(layer: Layer, local: time) -> bool:
    start, end = layer.active_from, layer.active_until
    if start is None or end is None or start == end:
        return True
    if start < end:
        return start <= local < end
    return local >= start or local < end  # the window crosses midnight


def layer_on_call(layer: Layer, now: datetime) -> str | None:
    local = now.astimezone(ZoneInfo(layer.timezone))
    if not layer.members or not _active(layer, local.time()):
        return None
    shift_day = local.date() if _handed_off(layer, local) else local.date() - timedelta(1)
    shift = (shift_day - layer.starts_on).days // layer.shift_days
    if shift < 0:
        return None
    return layer.members[shift % len(layer.members)]


def _handed_off(layer: Layer, local: datetime) -> bool:
    """Whether the day's hand-off has happened by `local`: once its time of day has come, or,
    in the second pass of the hour repeated when clocks fall back, once its first occurrence
    has (by the time of day alone, it went back and forth). A time skipped when clocks spring
    forward hands off as the clocks jump."""
    if local.time() >= layer.handoff:
        return True
    first = datetime.combine(local.date(), layer.handoff, local.tzinfo)
    return local.fold == 1 and local.astimezone(UTC) >= first.astimezone(UTC)


def rotation_on_call(rotation: Rotation, now: datetime) -> str | None:
    for override in rotation.overrides:
        if override.starts_at <= now < override.ends_at:
            return override.responder
    for layer in reversed(rotation.layers):
        responder = layer_on_call(layer, now)
        if responder is not None:
            return responder
    return None


def team_on_call(rotations: Sequence[Rotation], now: datetime) -> list[str]:
    """Everyone on call for a team: one per rotation, in rotation order, without repeats."""
    found = (rotation_on_call(rotation, now) for rotation in rotations)
    return list(dict.fromkeys(responder for responder in found if responder is not None))
