"""intake's tables, in the `intake` schema: partners, escalations as received, idempotency keys,
and the outbox."""

from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from sqlalchemy import DateTime, ForeignKey, MetaData, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.outbox import outbox_table

metadata = MetaData(schema="intake")
# This schema's migrations: `migrate` applies them; the app waits for them (shared.db.SchemaGate).
MIGRATIONS = Path(__file__).parent / "migrations"


class Base(DeclarativeBase):
    metadata = metadata


class PartnerRecord(Base):
    __tablename__ = "partners"

    id: Mapped[UUID] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(Text, unique=True)
    reporter_type: Mapped[str] = mapped_column(Text)
    key_hash: Mapped[str] = mapped_column(Text, unique=True)
    rate_limit_per_minute: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    key_rotated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class EscalationRecord(Base):
    __tablename__ = "escalations"

    id: Mapped[UUID] = mapped_column(primary_key=True)
    partner_id: Mapped[UUID | None] = mapped_column(ForeignKey(PartnerRecord.id))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # accepted -> routed, once the router's case event names this report.
    status: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(Text)
    correlation_key: Mapped[str] = mapped_column(Text)
    dedup_key: Mapped[str | None] = mapped_column(Text)
    body: Mapped[dict[str, Any]] = mapped_column(JSONB)
    case_id: Mapped[UUID | None]
    severity: Mapped[str | None] = mapped_column(Text)
    score: Mapped[int | None]
    team: Mapped[str | None] = mapped_column(Text)
    watchers: Mapped[list[str] | None] = mapped_column(JSONB)
    routed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Its case's status (open, acknowledged, resolved), as the case's events say.
    case_status: Mapped[str | None] = mapped_column(Text)
    # What the sending tool last said about it (Alertmanager, PagerDuty): acknowledged, resolved.
    source_status: Mapped[str | None] = mapped_column(Text)


class IdempotencyKey(Base):
    __tablename__ = "idempotency_keys"

    partner_id: Mapped[UUID] = mapped_column(ForeignKey(PartnerRecord.id), primary_key=True)
    key: Mapped[str] = mapped_column(Text, primary_key=True)
    request_hash: Mapped[str] = mapped_column(Text)
    escalation_id: Mapped[UUID]
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


outbox = outbox_table(metadata)
