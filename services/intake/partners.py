"""Partner use cases: create, list, rotate a key, disable, and authenticate a request's key."""

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID, uuid4

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.intake.keys import KEY_FORMAT, hash_api_key, new_api_key
from services.intake.models import PartnerRecord
from shared.events import ReporterType
from shared.invalidation import InvalidatedCache
from shared.logging import get_logger

log = get_logger(__name__)
# NOTIFYed by a trigger on every change to intake.partners (migration 0003).
PARTNERS_CHANGED = "flare_intake_partners"


class PartnerExists(Exception):
    """A partner with this name already exists."""


class UnknownPartner(Exception):
    """No partner has this name."""


class InvalidPartnerName(Exception):
    """A partner name is 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit."""


PARTNER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


@dataclass(frozen=True)
class Partner:
    id: UUID
    name: str
    reporter_type: ReporterType
    rate_limit_per_minute: int
    disabled: bool


@dataclass(frozen=True)
class NewKey:
    """A partner and its API key in clear: the only moment the key exists outside the caller."""

    partner: Partner
    api_key: str


def _partner(record: PartnerRecord) -> Partner:
    return Partner(
        id=record.id,
        name=record.name,
        reporter_type=ReporterType(record.reporter_type),
        rate_limit_per_minute=record.rate_limit_per_minute,
        disabled=record.disabled_at is not None,
    )


async def create_partner(
    sessions: async_sessionmaker[AsyncSession],
    name: str,
    reporter_type: ReporterType,
    rate_limit_per_minute: int,
) -> NewKey:
    if not PARTNER_NAME.fullmatch(name):
        raise InvalidPartnerName(name)
    api_key, now = new_api_key(), datetime.now(UTC)
    record = PartnerRecord(
        id=uuid4(),
        name=name,
        reporter_type=reporter_type.value,
        key_hash=hash_api_key(api_key),
        rate_limit_per_minute=rate_limit_per_minute,
        created_at=now,
        key_rotated_at=now,
    )
    try:
        async with sessions.begin() as session:
            session.add(record)
    except IntegrityError as error:
        raise PartnerExists(name) from error
    log.info("partner_created", partner=name, partner_id=str(record.id))
    return NewKey(_partner(record), api_key)


async def list_partners(sessions: async_sessionmaker[AsyncSession]) -> list[Partner]:
    async with sessions() as session:
        records = await session.scalars(select(PartnerRecord).order_by(PartnerRecord.name))
        return [_partner(record) for record in records]


async def rotate_key(sessions: async_sessionmaker[AsyncSession], name: str) -> NewKey:
    """The old key stops working at once; the new one is returned for the operator to hand over."""
    api_key = new_api_key()
    async with sessions.begin() as session:
        record = await session.scalar(
            update(PartnerRecord)
            .where(PartnerRecord.name == name)
            .values(key_hash=hash_api_key(api_key), key_rotated_at=datetime.now(UTC))
            .returning(PartnerRecord)
        )
        if record is None:
            raise UnknownPartner(name)
        partner = _partner(record)
    log.info("partner_key_rotated", partner=name, partner_id=str(partner.id))
    return NewKey(partner, api_key)


async def disable_partner(sessions: async_sessionmaker[AsyncSession], name: str) -> Partner:
    async with sessions.begin() as session:
        record = await session.scalar(
            update(PartnerRecord)
            .where(PartnerRecord.name == name)
            .values(disabled_at=datetime.now(UTC))
            .returning(PartnerRecord)
        )
        if record is None:
            raise UnknownPartner(name)
        partner = _partner(record)
    log.info("partner_disabled", partner=name, partner_id=str(partner.id))
    return partner


async def authenticate(
    sessions: async_sessionmaker[AsyncSession],
    partner_keys: InvalidatedCache[str, Partner],
    api_key: str,
) -> Partner | None:
    """The enabled partner holding this key, else None (unknown and disabled look the same).
    From memory when this replica has seen the key since the partners last changed (ADR 0011):
    a rotated or disabled key stops working as soon as the change's notification arrives.
    A string no key can be is refused without a look in the database: unauthenticated
    callers cannot make every request a query."""
    if not KEY_FORMAT.fullmatch(api_key):
        return None
    key_hash = hash_api_key(api_key)
    return await partner_keys.get(key_hash, lambda: _enabled_partner(sessions, key_hash))


async def _enabled_partner(
    sessions: async_sessionmaker[AsyncSession], key_hash: str
) -> Partner | None:
    # One statement outside any transaction: no BEGIN and ROLLBACK around it.
    async with sessions() as session:
        await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        record = await session.scalar(
            select(PartnerRecord).where(
                PartnerRecord.key_hash == key_hash,
                PartnerRecord.disabled_at.is_(None),
            )
        )
    return None if record is None else _partner(record)
