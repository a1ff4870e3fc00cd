"""Correlation rules: whether a report joins a case, its velocity, when reports surge. No I/O."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from shared.events import CaseStatus


@dataclass(frozen=True)
class LatestCase:
    """The newest case on a correlation key."""

    case_id: UUID
    status: CaseStatus
    last_seen_at: datetime


def joins_case(latest: LatestCase | None, received_at: datetime, window: timedelta) -> bool:
    """A report joins the newest case on its key while it is unresolved and seen within the
    window; otherwise it opens a new case (linked to the newest one, if any)."""
    if latest is None or latest.status is CaseStatus.RESOLVED:
        return False
    return received_at - latest.last_seen_at <= window


def velocity_per_hour(reports_in_window: int, window_minutes: int) -> float:
    return round(reports_in_window * 60 / window_minutes, 2)


def is_surge(reports_in_window: int, threshold: int) -> bool:
    return reports_in_window >= threshold


def window_start(moment: datetime, window_minutes: int) -> datetime:
    """The start of the fixed window holding `moment`, so one surge is reported once per window."""
    epoch = datetime(1970, 1, 1, tzinfo=moment.tzinfo)
    size = timedelta(minutes=window_minutes)
    return epoch + ((moment - epoch) // size) * size
