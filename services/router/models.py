"""router's tables, in the `router` schema: cases and their reports and timeline, teams and
on-call rotations, emerging risks, the events already handled, and the outbox."""

from datetime import date, datetime, time
from pathlib import Path
from typing import Any
from uuid import UUID

from sqlalchemy import ARRAY, Date, DateTime, ForeignKey, MetaData, Text, Time, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.outbox import outbox_table

metadata = MetaData(schema="router")
# This schema's migrations: `migrate` applies them; the app waits for them (shared.db.SchemaGate).
MIGRATIONS = Path(__file__).parent / "migrations"
TIMESTAMP = DateTime(timezone=True)


class Base(DeclarativeBase):
    metadata = metadata


class Case(Base):
    __tablename__ = "cases"

    id: Mapped[UUID] = mapped_column(primary_key=True)
    escalation_id: Mapped[UUID] = mapped_column(unique=True)  # the report that opened it
    correlation_key: Mapped[str] = mapped_column(Text, index=True)
    status: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(Text)
    product: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(TIMESTAMP)
    region: Mapped[str | None] = mapped_column(Text)
    severity: Mapped[str | None] = mapped_column(Text)
    score: Mapped[int | None]
    team: Mapped[str | None] = mapped_column(Text)
    watchers: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    assignee: Mapped[str | None] = mapped_column(Text)
    report_count: Mapped[int] = mapped_column(default=1)
    first_seen_at: Mapped[datetime | None] = mapped_column(TIMESTAMP)
    last_seen_at: Mapped[datetime | None] = mapped_column(TIMESTAMP)
    velocity_per_hour: Mapped[float | None]
    surge: Mapped[bool] = mapped_column(default=False)
    sensitive: Mapped[bool] = mapped_column(default=False)
    legal_deadline: Mapped[datetime | None] = mapped_column(TIMESTAMP)
    ack_due_at: Mapped[datetime | None] = mapped_column(TIMESTAMP)
    resolve_due_at: Mapped[datetime | None] = mapped_column(TIMESTAMP)
    ack_warned: Mapped[bool] = mapped_column(default=False)
    ack_breached: Mapped[bool] = mapped_column(default=False)
    resolve_warned: Mapped[bool] = mapped_column(default=False)
    resolve_breached: Mapped[bool] = mapped_column(default=False)
    acknowledged_at: Mapped[datetime | None] = mapped_column(TIMESTAMP)
    resolved_at: Mapped[datetime | None] = mapped_column(TIMESTAMP)
    resolution_code: Mapped[str | None] = mapped_column(Text)
    policy_version: Mapped[str | None] = mapped_column(Text)
    explanation: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    previous_case_id: Mapped[UUID | None]
    updated_at: Mapped[datetime | None] = mapped_column(TIMESTAMP)


class CaseReport(Base):
    """Every report that opened or joined a case, with the decision made on it."""

    __tablename__ = "case_reports"

    escalation_id: Mapped[UUID] = mapped_column(primary_key=True)
    case_id: Mapped[UUID] = mapped_column(ForeignKey("router.cases.id"), index=True)
    correlation_key: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(TIMESTAMP)
    category: Mapped[str] = mapped_column(Text)
    region: Mapped[str | None] = mapped_column(Text)
    score: Mapped[int]
    severity: Mapped[str] = mapped_column(Text)
    explanation: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # The report's evidence links, served only by `GET /v1/cases/{id}/evidence` (behind auth).
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    # When the partner's tool (Alertmanager, PagerDuty) resolved the alert behind it.
    resolved_at_source: Mapped[datetime | None] = mapped_column(TIMESTAMP)


class TimelineEntry(Base):
    """Append-only (a trigger refuses UPDATE and DELETE): who did what to a case, and when."""

    __tablename__ = "case_timeline"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    case_id: Mapped[UUID] = mapped_column(ForeignKey("router.cases.id"), index=True)
    at: Mapped[datetime] = mapped_column(TIMESTAMP)
    actor: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(Text)
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)


class EmergingRisk(Base):
    """A surge across one region and category, recorded once per fixed window."""

    __tablename__ = "emerging_risks"

    region: Mapped[str] = mapped_column(Text, primary_key=True)
    category: Mapped[str] = mapped_column(Text, primary_key=True)
    window_start: Mapped[datetime] = mapped_column(TIMESTAMP, primary_key=True)
    report_count: Mapped[int]
    detected_at: Mapped[datetime] = mapped_column(TIMESTAMP)


class Team(Base):
    __tablename__ = "teams"

    slug: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text, unique=True)  # as policies and cases name the team
    timezone: Mapped[str] = mapped_column(Text)


class Responder(Base):
    __tablename__ = "responders"

    handle: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    email: Mapped[str | None] = mapped_column(Text)


class TeamMember(Base):
    __tablename__ = "team_members"

    team: Mapped[str] = mapped_column(ForeignKey("router.teams.slug"), primary_key=True)
    responder: Mapped[str] = mapped_column(ForeignKey("router.responders.handle"), primary_key=True)


class RotationRow(Base):
    __tablename__ = "rotations"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    team: Mapped[str] = mapped_column(ForeignKey("router.teams.slug"))
    name: Mapped[str] = mapped_column(Text)


class LayerRow(Base):
    __tablename__ = "rotation_layers"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    rotation_id: Mapped[int] = mapped_column(ForeignKey("router.rotations.id", ondelete="CASCADE"))
    position: Mapped[int]
    timezone: Mapped[str] = mapped_column(Text)
    handoff: Mapped[time] = mapped_column(Time)
    shift_days: Mapped[int]
    starts_on: Mapped[date] = mapped_column(Date)
    active_from: Mapped[time | None] = mapped_column(Time)
    active_until: Mapped[time | None] = mapped_column(Time)
    members: Mapped[list[str]] = mapped_column(ARRAY(Text))


class OverrideRow(Base):
    __tablename__ = "rotation_overrides"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    rotation_id: Mapped[int] = mapped_column(ForeignKey("router.rotations.id", ondelete="CASCADE"))
    responder: Mapped[str] = mapped_column(ForeignKey("router.responders.handle"))
    starts_at: Mapped[datetime] = mapped_column(TIMESTAMP)
    ends_at: Mapped[datetime] = mapped_column(TIMESTAMP)
    reason: Mapped[str] = mapped_column(Text, default="")


class ProcessedEvent(Base):
    """Event ids already handled: a redelivered event finds its id here and changes nothing."""

    __tablename__ = "processed_events"

    event_id: Mapped[UUID] = mapped_column(primary_key=True)
    processed_at: Mapped[datetime] = mapped_column(TIMESTAMP, server_default=func.now())


outbox = outbox_table(metadata)
