"""CloudEvents 1.0 in Kafka binary mode: what goes on the wire and what is refused coming back."""

import json
from datetime import UTC, datetime
from uuid import UUID

import pytest
from aiokafka import ConsumerRecord

from shared.events import CaseEvent, CaseSnapshot, CaseStatus, Category, Product
from shared.kafka import Envelope, InvalidEvent

CREATED = datetime(2026, 1, 1, tzinfo=UTC)
BODY = CaseEvent(
    case=CaseSnapshot(
        case_id=UUID("6f1c1a52-0000-4000-8000-000000000001"),
        status=CaseStatus.OPEN,
        title="t",
        category=Category.CRISIS,
        product=Product.THREADS,
        correlation_key="dedup:k",
        created_at=CREATED,
        updated_at=CREATED,
    ),
    escalation_id=UUID("6f1c1a52-0000-4000-8000-000000000002"),
    actor="router",
)
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def record(
    value: bytes, headers: list[tuple[str, bytes]], key: bytes = b"k"
) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        topic="t",
        partition=0,
        offset=0,
        timestamp=0,
        timestamp_type=0,
        key=key,
        value=value,
        checksum=None,
        serialized_key_size=len(key),
        serialized_value_size=len(value),
        headers=headers,
    )


def test_binary_mode_headers_and_json_value() -> None:
    envelope = Envelope.new("flare.case.created", "/flare/router", BODY, TRACEPARENT)
    key, value, headers = envelope.to_message("case-key")
    named = dict(headers)
    assert key == b"case-key"
    assert named["ce_specversion"] == b"1.0"
    assert named["ce_id"] == str(envelope.id).encode()
    assert named["ce_type"] == b"flare.case.created"
    assert named["ce_source"] == b"/flare/router"
    assert named["ce_time"].endswith(b"Z")
    assert named["content-type"] == b"application/json"
    assert named["traceparent"] == TRACEPARENT.encode()
    assert json.loads(value)["case"]["case_id"] == "6f1c1a52-0000-4000-8000-000000000001"


def test_envelope_survives_the_round_trip() -> None:
    sent = Envelope.new("flare.case.created", "/flare/router", BODY, TRACEPARENT)
    key, value, headers = sent.to_message("k")
    received = Envelope.from_record(record(value, headers, key))
    assert received == sent
    assert received.body(CaseEvent) == BODY


def test_malformed_traceparent_is_replaced_not_propagated() -> None:
    envelope = Envelope.new("flare.case.created", "/flare/router", BODY, "not-a-trace")
    assert envelope.traceparent != "not-a-trace"
    assert envelope.traceparent is not None
    assert envelope.traceparent.startswith("00-")


@pytest.mark.parametrize(
    ("value", "headers"),
    [
        (b"\x00\xff garbage", []),
        (b"{}", [("content-type", b"application/json")]),
        (
            b"{}",
            [
                ("content-type", b"application/json"),
                ("ce_specversion", b"1.0"),
                ("ce_id", b"not-a-uuid"),
                ("ce_type", b"x"),
                ("ce_source", b"/s"),
                ("ce_time", b"2026-01-01T00:00:00Z"),
            ],
        ),
        (
            b"[1, 2]",
            [
                ("content-type", b"application/json"),
                ("ce_specversion", b"1.0"),
                ("ce_id", b"6f1c1a52-0000-4000-8000-000000000001"),
                ("ce_type", b"x"),
                ("ce_source", b"/s"),
                ("ce_time", b"2026-01-01T00:00:00Z"),
            ],
        ),
        (
            b"{not json",
            [
                ("content-type", b"application/json"),
                ("ce_specversion", b"1.0"),
                ("ce_id", b"6f1c1a52-0000-4000-8000-000000000001"),
                ("ce_type", b"x"),
                ("ce_source", b"/s"),
                ("ce_time", b"2026-01-01T00:00:00Z"),
            ],
        ),
    ],
    ids=["garbage-no-headers", "no-ce-headers", "id-not-uuid", "data-not-object", "value-not-json"],
)
def test_records_that_are_not_flare_cloudevents_are_invalid(
    value: bytes, headers: list[tuple[str, bytes]]
) -> None:
    with pytest.raises(InvalidEvent):
        Envelope.from_record(record(value, headers))


def test_body_that_does_not_match_its_schema_is_invalid() -> None:
    envelope = Envelope.new("flare.case.created", "/flare/router", BODY)
    broken = Envelope(
        id=envelope.id,
        event_type=envelope.event_type,
        source=envelope.source,
        time=envelope.time,
        data={**envelope.data, "actor": None},
    )
    with pytest.raises(InvalidEvent, match="does not match CaseEvent"):
        broken.body(CaseEvent)


def test_invalid_body_reasons_name_fields_but_never_carry_their_values() -> None:
    envelope = Envelope.new("flare.case.created", "/flare/router", BODY)
    leaked = "https://cdn.example/evidence/minor.mp4"
    broken = Envelope(
        id=envelope.id,
        event_type=envelope.event_type,
        source=envelope.source,
        time=envelope.time,
        data={**envelope.data, "escalation_id": leaked},
    )
    with pytest.raises(InvalidEvent) as refused:
        broken.body(CaseEvent)
    assert "escalation_id" in str(refused.value)
    assert leaked not in str(refused.value)
