"""intake's escalation use cases: accept (idempotently), read back, learn where a report went."""

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, cast
from uuid import UUID, uuid4

from sqlalchemy import BindParameter, Row, Table, bindparam, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.intake.models import EscalationRecord, IdempotencyKey, outbox
from services.intake.partners import Partner
from services.intake.schemas import EscalationAccepted, EscalationStatus
from shared.events import (
    CaseEvent,
    Escalation,
    EscalationReceived,
    EscalationResolved,
    EventType,
    Topics,
)
from shared.group_commit import GroupCommit, Rows, insert_rows
from shared.http import Problem
from shared.kafka import Envelope, OutgoingMessage
from shared.logging import get_logger
from shared.outbox import add_to_outbox, outbox_row

log = get_logger(__name__)
ESCALATIONS = cast(Table, EscalationRecord.__table__)
SOURCE = "/flare/intake"
SourceStatus = Literal["acknowledged", "resolved"]


class IdempotencyKeyReused(Problem):
    def __init__(self) -> None:
        super().__init__(
            409,
            "This Idempotency-Key was already used with a different body. Use a new key for a "
            "new report, or send the first body again to get its receipt.",
        )


class EscalationNotFound(Problem):
    def __init__(self) -> None:
        # Another partner's report is "not found" too: its existence is not this partner's business.
        super().__init__(404, "No escalation with this id was reported by you.")


class ReporterMismatch(Problem):
    def __init__(self, partner: Partner) -> None:
        super().__init__(
            422,
            "The request is invalid; each entry in errors names a field.",
            errors=[
                {
                    "pointer": "/reporter/type",
                    "detail": f"must be {partner.reporter_type.value}, this partner's type",
                }
            ],
        )


@dataclass(frozen=True)
class Idempotency:
    key: str
    ttl: timedelta


def request_hash(escalation: Escalation) -> str:
    """The body's meaning, not its bytes: key order and whitespace do not make it 'different'."""
    canonical = json.dumps(escalation.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def accept_escalation(
    sessions: async_sessionmaker[AsyncSession],
    group_commit: GroupCommit,
    topics: Topics,
    partner: Partner,
    escalation: Escalation,
    traceparent: str | None,
    idempotency: Idempotency | None = None,
) -> EscalationAccepted:
    """Store the escalation and its `received` event in one transaction: both or neither.
    Without an Idempotency-Key, that transaction is shared with concurrent requests (group
    commit); it has committed when this returns.

    With an Idempotency-Key, a repeat of the same body answers the first receipt and stores
    nothing; the same key with another body is refused.
    """
    if escalation.reporter.type != partner.reporter_type:
        raise ReporterMismatch(partner)
    receipt = EscalationAccepted(id=uuid4(), status="accepted", received_at=datetime.now(UTC))
    rows = _received_rows(topics, partner, escalation, receipt, traceparent)
    if idempotency is None:
        await group_commit.insert(rows)
        _log_accepted(partner, escalation, receipt)
        return receipt
    # The key is claimed in the transaction that stores the report: it needs one of its own.
    async with sessions.begin() as session:
        first = await _claim_idempotency_key(
            session, partner, idempotency, request_hash(escalation), receipt.id
        )
        if first is not None:
            log.info("escalation_replayed", escalation_id=str(first.id), partner=partner.name)
            return first
        await insert_rows(session, rows)
    _log_accepted(partner, escalation, receipt)
    return receipt


async def accept_tool_alert(
    sessions: async_sessionmaker[AsyncSession],
    topics: Topics,
    partner: Partner,
    alert: Escalation,
    traceparent: str | None,
) -> EscalationAccepted | None:
    """A monitoring tool's alert (its `dedup_key` names it), stored with its `received` event
    unless the tool already sent it and has not resolved it: then None, a repeat. Copies of one
    alert arriving in parallel, on any replica, take turns on a lock named by the alert, so
    only the first is stored."""
    assert alert.dedup_key is not None  # the tools' mappings always set it
    receipt = EscalationAccepted(id=uuid4(), status="accepted", received_at=datetime.now(UTC))
    async with sessions.begin() as session:
        await _take_turn_on_alert(session, partner, alert.dedup_key)
        if await _open_alert(session, partner, alert.dedup_key):
            return None
        await insert_rows(session, _received_rows(topics, partner, alert, receipt, traceparent))
    _log_accepted(partner, alert, receipt)
    return receipt


async def _take_turn_on_alert(session: AsyncSession, partner: Partner, dedup_key: str) -> None:
    """Until the transaction ends, no other one stores or marks this tool's alert: a copy sees
    the first stored, and a resolution sees the report a trigger in flight stores."""
    name = f"flare.intake.alert:{partner.id}:{dedup_key}"
    await session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(name, 0))))


def _log_accepted(partner: Partner, escalation: Escalation, receipt: EscalationAccepted) -> None:
    # The correlation key is not logged: it may be a subject's URL or account id.
    log.info(
        "escalation_accepted",
        escalation_id=str(receipt.id),
        partner=partner.name,
        category=escalation.category.value,
    )


def _received_rows(
    topics: Topics,
    partner: Partner,
    escalation: Escalation,
    receipt: EscalationAccepted,
    traceparent: str | None,
) -> Rows:
    """The escalation row and its outbox event, keyed by the correlation key."""
    correlation_key = escalation.correlation_key(receipt.id)
    event = EscalationReceived(
        escalation_id=receipt.id,
        received_at=receipt.received_at,
        correlation_key=correlation_key,
        escalation=escalation,
    )
    envelope = Envelope.new(EventType.ESCALATION_RECEIVED, SOURCE, event, traceparent)
    record = {
        "id": receipt.id,
        "partner_id": partner.id,
        "received_at": receipt.received_at,
        "status": "accepted",
        "category": escalation.category.value,
        "correlation_key": correlation_key,
        "dedup_key": escalation.dedup_key,
        "body": envelope.data["escalation"],  # the same JSON as the event's, dumped once
    }
    message = OutgoingMessage(topics.escalations, correlation_key, envelope)
    return [(ESCALATIONS, record), (outbox, outbox_row(message))]


async def _claim_idempotency_key(
    session: AsyncSession,
    partner: Partner,
    idempotency: Idempotency,
    body_hash: str,
    escalation_id: UUID,
) -> EscalationAccepted | None:
    """None when this request owns the key (new, or the old use expired); else the first receipt.

    A concurrent request with the same key waits on the row lock until the first commits,
    then sees its row: racing repeats store one escalation.
    """
    now = datetime.now(UTC)
    claimed = await session.scalar(
        insert(IdempotencyKey)
        .values(
            partner_id=partner.id,
            key=idempotency.key,
            request_hash=body_hash,
            escalation_id=escalation_id,
            created_at=now,
        )
        .on_conflict_do_update(
            index_elements=[IdempotencyKey.partner_id, IdempotencyKey.key],
            set_={"request_hash": body_hash, "escalation_id": escalation_id, "created_at": now},
            where=IdempotencyKey.created_at < now - idempotency.ttl,
        )
        .returning(IdempotencyKey.escalation_id)
    )
    if claimed is not None:
        return None
    first = (
        await session.execute(
            select(IdempotencyKey.request_hash, EscalationRecord.id, EscalationRecord.received_at)
            .join(EscalationRecord, EscalationRecord.id == IdempotencyKey.escalation_id)
            .where(IdempotencyKey.partner_id == partner.id, IdempotencyKey.key == idempotency.key)
        )
    ).one()
    if first.request_hash != body_hash:
        raise IdempotencyKeyReused()
    return EscalationAccepted(id=first.id, status="accepted", received_at=first.received_at)


async def escalation_status(
    sessions: async_sessionmaker[AsyncSession], partner: Partner, escalation_id: UUID
) -> EscalationStatus:
    async with sessions() as session:
        record = await session.get(EscalationRecord, escalation_id)
    if record is None or record.partner_id != partner.id:
        raise EscalationNotFound()
    return EscalationStatus.model_validate(
        {
            "id": record.id,
            "status": record.status,
            "received_at": record.received_at,
            "routed_at": record.routed_at,
            "case_id": record.case_id,
            "severity": record.severity,
            "score": record.score,
            "team": record.team,
            "watchers": record.watchers or [],
            "source_status": record.source_status,
            "escalation": record.body,
        }
    )


async def record_case_events(
    sessions: async_sessionmaker[AsyncSession], events: Sequence[tuple[CaseEvent, datetime]]
) -> None:
    """The reports the events name are routed; every report on a case follows its changes.

    Each event comes with the time the router made it (its CloudEvent's `time`): a report's
    `routed_at` is that of the first event naming it. (The case's own clock, `updated_at`,
    starts at its first report's arrival, not at its routing.) Events of one case share a
    partition, so they arrive in order and the last one wins. The events are recorded in one
    transaction, by one statement run once per event, in order.
    """
    async with sessions.begin() as session:
        await session.execute(_ROUTED, [_routed(event, at) for event, at in events])


# A Core UPDATE: the ORM's bulk-update machinery was a tenth of intake's CPU in the bench. One
# statement, run with each event's values (executemany): compiled once, sent in one round trip.
_CASE: BindParameter[UUID] = bindparam("case")
_SEVERITY: BindParameter[str | None] = bindparam("severity")
_SCORE: BindParameter[int | None] = bindparam("score")
_TEAM: BindParameter[str | None] = bindparam("team")
_WATCHERS: BindParameter[list[str]] = bindparam("watchers")
_CASE_STATUS: BindParameter[str] = bindparam("case_status")
_REPORT = ESCALATIONS.c
_ROUTED = (
    update(ESCALATIONS)
    .where(
        or_(_REPORT.case_id == _CASE, _REPORT.id == bindparam("named_report")),
        # Only the reports the event changes: in a surge a case holds thousands of reports,
        # and an event that moves none of their fields must not rewrite them all.
        or_(
            _REPORT.routed_at.is_(None),
            _REPORT.case_id.is_distinct_from(_CASE),
            _REPORT.severity.is_distinct_from(_SEVERITY),
            _REPORT.score.is_distinct_from(_SCORE),
            _REPORT.team.is_distinct_from(_TEAM),
            _REPORT.watchers.is_distinct_from(_WATCHERS),
            _REPORT.case_status.is_distinct_from(_CASE_STATUS),
        ),
    )
    .values(
        status="routed",
        case_id=_CASE,
        severity=_SEVERITY,
        score=_SCORE,
        team=_TEAM,
        watchers=_WATCHERS,
        case_status=_CASE_STATUS,
        # When it was first routed; later changes keep that time. A router's clock behind
        # intake's does not route a report before it arrived.
        routed_at=func.coalesce(
            _REPORT.routed_at, func.greatest(bindparam("routed_at"), _REPORT.received_at)
        ),
    )
)


def _routed(event: CaseEvent, at: datetime) -> dict[str, object]:
    case = event.case
    return {
        "case": case.case_id,
        "named_report": event.escalation_id,
        "severity": case.severity.value if case.severity else None,
        "score": case.score,
        "team": case.team,
        "watchers": case.watchers,
        "case_status": case.status.value,
        "routed_at": at,
    }


async def _open_alert(session: AsyncSession, partner: Partner, dedup_key: str) -> bool:
    """Whether the sending tool already told us about this alert and neither it nor a
    responder has resolved it since: a trigger after a responder resolved the case is a new
    occurrence (as PagerDuty takes it), for a new case."""
    found = await session.scalar(
        select(EscalationRecord.id)
        .where(
            EscalationRecord.partner_id == partner.id,
            EscalationRecord.dedup_key == dedup_key,
            EscalationRecord.source_status.is_distinct_from("resolved"),
            EscalationRecord.case_status.is_distinct_from("resolved"),
        )
        .limit(1)
    )
    return found is not None


async def mark_by_source(
    sessions: async_sessionmaker[AsyncSession],
    topics: Topics,
    partner: Partner,
    dedup_key: str,
    source_status: SourceStatus,
) -> int:
    """Record that the sending tool acknowledged or resolved the alert behind these reports.

    A resolution also goes to the router (flare.escalation.resolved, through the outbox, in
    the same transaction), which resolves the case. Only reports not resolved before count,
    and a report that a trigger in flight is storing counts too: they take turns.
    """
    async with sessions.begin() as session:
        await _take_turn_on_alert(session, partner, dedup_key)
        changed = (
            await session.execute(
                update(EscalationRecord)
                .where(
                    EscalationRecord.partner_id == partner.id,
                    EscalationRecord.dedup_key == dedup_key,
                    EscalationRecord.source_status.is_distinct_from("resolved"),
                )
                .values(source_status=source_status)
                .returning(EscalationRecord.id, EscalationRecord.correlation_key)
            )
        ).all()
        if source_status == "resolved" and changed:
            await _announce_resolution(session, topics, partner, changed)
    # Not the dedup key: a tool may name its alert after a subject (an account, a URL).
    log.info(
        "escalation_source_status",
        partner=partner.name,
        source_status=source_status,
        escalations=len(changed),
    )
    return len(changed)


async def _announce_resolution(
    session: AsyncSession, topics: Topics, partner: Partner, changed: Sequence[Row[UUID, str]]
) -> None:
    by_key: dict[str, list[UUID]] = {}
    for row in changed:
        by_key.setdefault(row.correlation_key, []).append(row.id)
    for correlation_key, escalation_ids in by_key.items():
        body = EscalationResolved(
            escalation_ids=escalation_ids,
            correlation_key=correlation_key,
            partner=partner.name,
            resolved_at=datetime.now(UTC),
        )
        envelope = Envelope.new(EventType.ESCALATION_RESOLVED, SOURCE, body)
        add_to_outbox(
            session, outbox, OutgoingMessage(topics.escalations, correlation_key, envelope)
        )
