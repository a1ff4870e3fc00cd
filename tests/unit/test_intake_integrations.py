"""How Alertmanager alerts and PagerDuty events become escalations: the documented mapping."""

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest

from services.intake.integrations import from_alertmanager, from_pagerduty
from services.intake.partners import Partner
from services.intake.schemas import AlertmanagerAlert, PagerDutyEvent, PagerDutyPayload
from shared.events import ReporterType

MONITOR = Partner(uuid4(), "prometheus", ReporterType.MONITORING, 60, disabled=False)


def alert(labels: dict[str, str], **fields: Any) -> AlertmanagerAlert:
    return AlertmanagerAlert.model_validate(
        {"status": "firing", "labels": labels, "fingerprint": "abc123", **fields}
    )


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({}, {"category": "other", "product": "other", "region": None}),
        (
            {"flare_category": "crisis", "flare_product": "threads", "flare_region": "IN"},
            {"category": "crisis", "product": "threads", "region": "IN"},
        ),
        (
            {"flare_category": "riot", "flare_product": "myspace", "flare_region": "in"},
            {"category": "other", "product": "other", "region": None},
        ),
    ],
)
def test_alert_labels_choose_category_product_and_region(
    labels: dict[str, str], expected: dict[str, Any]
) -> None:
    escalation = from_alertmanager(MONITOR, alert(labels)).model_dump(mode="json")
    assert {name: escalation[name] for name in expected} == expected


@pytest.mark.parametrize(
    ("fields", "title"),
    [
        ({"annotations": {"summary": "Summary"}}, "Summary"),
        ({"labels": {"alertname": "HighRate"}}, "HighRate"),
        ({"annotations": {"summary": "   "}, "labels": {"alertname": "Named"}}, "Named"),
        ({}, "Untitled alert"),
        ({"annotations": {"summary": "x" * 500}}, "x" * 200),
        ({"annotations": {"summary": "nul\x00byte"}}, "nulbyte"),
    ],
)
def test_alert_title_is_the_summary_else_the_alert_name_cleaned_and_cut(
    fields: dict[str, Any], title: str
) -> None:
    labels = fields.pop("labels", {})
    assert from_alertmanager(MONITOR, alert(labels, **fields)).title == title


def test_alert_keeps_fingerprint_severity_start_link_and_valid_labels() -> None:
    escalation = from_alertmanager(
        MONITOR,
        alert(
            {"severity": "critical", "bad key!": "dropped", "team": "x" * 600},
            startsAt="2026-05-01T12:00:00.123456789Z",
            generatorURL="javascript:alert(1)",
        ),
    )
    assert escalation.dedup_key == "abc123"
    assert escalation.signals is not None
    assert escalation.signals.imminent_harm
    assert escalation.occurred_at is not None
    assert escalation.occurred_at.microsecond == 123456
    assert escalation.evidence == [], "only http(s) links become evidence"
    assert set(escalation.labels) == {"severity", "team"}
    assert len(escalation.labels["team"]) == 500
    assert escalation.reporter.type == ReporterType.MONITORING


@pytest.mark.parametrize(("severity", "imminent"), [("critical", True), ("error", False)])
def test_pagerduty_critical_severity_is_imminent_harm(severity: str, imminent: bool) -> None:
    payload = PagerDutyPayload(summary="s", source="src", severity=severity)
    escalation = from_pagerduty(MONITOR, payload, "key-1")
    assert (escalation.signals is not None) is imminent
    assert escalation.labels["pagerduty_severity"] == severity
    assert escalation.dedup_key == "key-1"


@pytest.mark.parametrize(
    "details",
    [
        {"flare_region": ["DE"]},
        {"flare_category": {"a": 1}},
        {"flare_product": [1]},
        {"flare_region": 49, "flare_category": None},
    ],
)
def test_pagerduty_details_that_are_not_text_choose_nothing(details: dict[str, Any]) -> None:
    payload = PagerDutyPayload(summary="s", source="src", severity="error", custom_details=details)
    escalation = from_pagerduty(MONITOR, payload, "key-1").model_dump(mode="json")
    chosen = {name: escalation[name] for name in ("category", "product", "region")}
    assert chosen == {"category": "other", "product": "other", "region": None}


def pagerduty_event(**fields: Any) -> PagerDutyEvent:
    return PagerDutyEvent.model_validate({"routing_key": "flare_k", **fields})


@pytest.mark.parametrize(
    "payload",
    [{"summary": "", "source": "am", "severity": "page"}, "not an object"],
    ids=["an empty summary and an unknown severity", "not an object"],
)
def test_a_pagerduty_resolution_is_not_refused_for_the_payload_it_does_not_use(
    payload: Any,
) -> None:
    event = pagerduty_event(event_action="resolve", dedup_key="disk-full", payload=payload)
    assert (event.dedup_key, event.payload) == ("disk-full", None)


def test_a_pagerduty_trigger_is_cleaned_not_refused() -> None:
    event = pagerduty_event(
        event_action="trigger",
        dedup_key="",
        payload={
            "summary": "s" * 1500,
            "source": "x" * 300,
            "severity": "error",
            "timestamp": 1760000000,
            "component": "c" * 300,
            "group": "g" * 300,
            "class": "k" * 300,
            "custom_details": "disk 97% full",
        },
    )
    payload = event.payload
    assert event.dedup_key is None, "an empty key is none: intake makes one up"
    assert payload is not None
    assert (len(payload.summary), len(payload.source)) == (1024, 255)
    assert [len(text or "") for text in (payload.component, payload.group, payload.class_)] == [
        255,
        255,
        255,
    ]
    assert (payload.timestamp, payload.custom_details) == (None, {"details": "disk 97% full"})
    escalation = from_pagerduty(MONITOR, payload, "key-1")
    assert '"details": "disk 97% full"' in escalation.description


def test_a_pagerduty_dedup_key_may_be_as_long_as_pagerduty_allows() -> None:
    event = pagerduty_event(event_action="resolve", dedup_key="k" * 255)
    assert event.dedup_key == "k" * 255
    with pytest.raises(ValueError, match="at most 255"):
        pagerduty_event(event_action="resolve", dedup_key="k" * 256)


@pytest.mark.parametrize(
    "payload",
    [{"summary": "", "source": "am", "severity": "error"}, {"summary": "s", "source": "am"}],
    ids=["empty summary", "no severity"],
)
def test_a_pagerduty_trigger_without_what_pagerduty_requires_is_refused(
    payload: dict[str, Any],
) -> None:
    with pytest.raises(ValueError, match="payload"):
        pagerduty_event(event_action="trigger", payload=payload)


@pytest.mark.parametrize(
    ("length", "kept"), [(2048, True), (2049, False)], ids=["at the limit", "over it"]
)
def test_a_link_too_long_to_keep_is_left_out_not_cut(length: int, kept: bool) -> None:
    """Prometheus links carry the whole query: one cut short leads nowhere."""
    link = "https://prometheus.example/graph?g0.expr=" + "x" * 2048
    escalation = from_alertmanager(MONITOR, alert({}, generatorURL=link[:length]))
    assert [item.url for item in escalation.evidence] == ([link[:length]] if kept else [])


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [
        ("2015-07-17T08:42:58.315+0000", datetime(2015, 7, 17, 8, 42, 58, 315000, tzinfo=UTC)),
        ("2015-07-17T10:42:58+02:00", datetime(2015, 7, 17, 8, 42, 58, tzinfo=UTC)),
        ("2015-07-17T08:42:58", None),  # no zone: which one is not ours to guess
    ],
)
def test_a_pagerduty_timestamp_in_its_documented_form_is_kept(
    timestamp: str, expected: datetime | None
) -> None:
    payload = PagerDutyPayload(summary="s", source="src", severity="info", timestamp=timestamp)
    assert from_pagerduty(MONITOR, payload, "key-1").occurred_at == expected
