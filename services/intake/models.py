"""intake's tables, in the `intake` schema: escalations as received, and the outbox."""

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import DateTime, MetaData, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.outbox import outbox_table

metadata = MetaData(schema="intake")


class Base(DeclarativeBase):
    metadata = metadata


class EscalationRecord(Base):
    __tablename__ = "escalations"

    id: Mapped[UUID] = mapped_column(primary_key=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(Text)
    correlation_key: Mapped[str] = mapped_column(Text)
    body: Mapped[dict[str, Any]] = mapped_column(JSONB)


outbox = outbox_table(metadata)
