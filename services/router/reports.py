"""Trend and SLA reports over a date range, as JSON or CSV (the analysts' spreadsheets)."""

import csv
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from shared.events import EARLIEST, LATEST
from shared.http import Problem

MAX_DAYS = 366
DIMENSIONS = {
    "day": "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
    "category": "category",
    "region": "coalesce(region, 'unknown')",
    "team": "coalesce(team, 'unassigned')",
    "severity": "coalesce(severity, 'unscored')",
}
IN_PERIOD = "created_at >= :start AND created_at < :end"
# Escalations over time: one count per day and category, and per day and region.
SERIES = ("category", "region")


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime  # exclusive: the day after the last day asked for


@dataclass(frozen=True)
class Report:
    body: dict[str, Any]
    rows: list[dict[str, Any]]  # the same numbers, flat, for CSV


# A report asked for without dates covers the last four weeks, today included.
DEFAULT_DAYS = 28


def period(start: date | None, end: date | None, today: date) -> Period:
    """The days from `start` to `end`, both included: by default `end` is today and `start`
    `DEFAULT_DAYS - 1` days before `end` (`DEFAULT_DAYS` days in all), no earlier than 1970."""
    if any(day is not None and not EARLIEST.date() <= day < LATEST.date() for day in (start, end)):
        raise Problem(422, "start and end must be in the years 1970 to 2199.")
    end = end or today
    start = start or max(end - timedelta(days=DEFAULT_DAYS - 1), EARLIEST.date())
    if end < start or (end - start).days >= MAX_DAYS:
        raise Problem(422, f"end must be on or after start, at most {MAX_DAYS} days later.")
    first = datetime.combine(start, time(), UTC)
    return Period(first, datetime.combine(end + timedelta(days=1), time(), UTC))


async def _counts(session: AsyncSession, sql: str, span: Period) -> list[dict[str, Any]]:
    rows = await session.execute(text(sql), {"start": span.start, "end": span.end})
    return [{"key": str(key), "count": count} for key, count in rows]


async def _series(session: AsyncSession, dimension: str, span: Period) -> list[dict[str, Any]]:
    rows = await session.execute(
        text(
            f"SELECT {DIMENSIONS['day']}, {DIMENSIONS[dimension]}, count(*) FROM router.cases "
            f"WHERE {IN_PERIOD} GROUP BY 1, 2 ORDER BY 1, 2"
        ),
        {"start": span.start, "end": span.end},
    )
    return [{"day": day, "key": str(key), "count": count} for day, key, count in rows]


async def trends(session: AsyncSession, span: Period) -> Report:
    body: dict[str, Any] = {
        "start": span.start.date().isoformat(),
        "end": (span.end - timedelta(days=1)).date().isoformat(),
    }
    for name, expression in DIMENSIONS.items():
        body[f"by_{name}"] = await _counts(
            session,
            f"SELECT {expression} AS key, count(*) FROM router.cases WHERE {IN_PERIOD} "
            "GROUP BY 1 ORDER BY 1",
            span,
        )
    for dimension in SERIES:
        body[f"by_day_{dimension}"] = await _series(session, dimension, span)
    body["top_subjects"] = await _counts(
        session,
        "SELECT correlation_key, count(*) FROM router.case_reports "
        "WHERE received_at >= :start AND received_at < :end "
        "GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10",
        span,
    )
    body["surges"] = await _counts(
        session,
        f"SELECT id, report_count FROM router.cases WHERE surge AND {IN_PERIOD} "
        "ORDER BY report_count DESC, id",
        span,
    )
    # Surges across a region and category (ADR 0018): where, what, from when, how many reports.
    body["emerging_risks"] = await _counts(
        session,
        "SELECT region || ' ' || category || ', '"
        " || to_char(window_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') || ' UTC',"
        " report_count FROM router.emerging_risks"
        " WHERE window_start >= :start AND window_start < :end"
        " ORDER BY window_start, region, category",
        span,
    )
    rows = [
        {"section": section, "day": item.get("day", ""), "key": item["key"], "count": item["count"]}
        for section, items in body.items()
        if isinstance(items, list)
        for item in items
    ]
    return Report(body, rows)


SLA_SQL = f"""
WITH timed AS (
  SELECT coalesce(team, 'unassigned') AS team,
         extract(epoch FROM acknowledged_at - created_at) / 60 AS ack_minutes,
         extract(epoch FROM resolved_at - created_at) / 60 AS resolve_minutes,
         ack_breached, resolve_breached
  FROM router.cases WHERE {IN_PERIOD}
)
SELECT team, count(*) AS cases,
       count(ack_minutes) AS acknowledged, count(resolve_minutes) AS resolved,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY ack_minutes) AS ack_p50_minutes,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY ack_minutes) AS ack_p90_minutes,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY resolve_minutes) AS resolve_p50_minutes,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY resolve_minutes) AS resolve_p90_minutes,
       count(*) FILTER (WHERE ack_breached) AS ack_breaches,
       count(*) FILTER (WHERE resolve_breached) AS resolve_breaches
FROM timed GROUP BY ROLLUP (team) ORDER BY team NULLS LAST
"""


async def sla(session: AsyncSession, span: Period) -> Report:
    result = await session.execute(text(SLA_SQL), {"start": span.start, "end": span.end})
    rows = []
    for row in result.mappings():
        item = {
            key: (round(value, 1) if isinstance(value, float) else value)
            for key, value in row.items()
        }
        item["team"] = item["team"] or "all"
        rows.append(item)
    body = {
        "start": span.start.date().isoformat(),
        "end": (span.end - timedelta(days=1)).date().isoformat(),
        "teams": rows,
    }
    return Report(body, rows)


def respond(request: Request, report: Report) -> Response:
    """CSV when the client asks for text/csv, else JSON."""
    if "text/csv" not in request.headers.get("accept", ""):
        return JSONResponse(report.body)
    out = io.StringIO()
    if report.rows:
        writer = csv.DictWriter(out, fieldnames=list(report.rows[0]))
        writer.writeheader()
        writer.writerows(report.rows)
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8")
