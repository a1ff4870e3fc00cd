"""intake's HTTP contract: the escalation a partner posts, the receipt, and its status."""

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic.config import JsonDict

from shared.events import DedupKey, Escalation, Severity

EXAMPLE_ESCALATION: JsonDict = {
    "category": "crisis",
    "title": "Live-streamed violence spreading in reshares",
    "description": "A live video showing an ongoing attack is being reshared widely.",
    "product": "facebook",
    "reporter": {"type": "trusted_flagger", "name": "SafeNet Monitoring"},
    "subject": {"url": "https://facebook.com/watch/123", "content_id": "video:123"},
    "dedup_key": "video:123",
}

# Every optional field too, so /docs shows each one with a value.
FULL_EXAMPLE_ESCALATION: JsonDict = {
    **EXAMPLE_ESCALATION,
    "region": "DE",
    "language": "de-DE",
    "subject": {
        "url": "https://facebook.com/watch/123",
        "content_id": "video:123",
        "account_id": "page:987",
    },
    "signals": {
        "imminent_harm": True,
        "minors_involved": False,
        "public_figure": False,
        "reach": 250000,
        "legal_deadline": "2026-05-02T09:00:00Z",
    },
    "evidence": [
        {
            "url": "https://evidence.example.org/cases/77/frame.png",
            "kind": "image",
            "sensitive": True,
        }
    ],
    "occurred_at": "2026-05-01T12:00:00Z",
    "labels": {"ticket": "SN-4711", "queue": "urgent"},
}


class EscalationIn(Escalation):
    model_config = ConfigDict(
        json_schema_extra={"examples": [EXAMPLE_ESCALATION, FULL_EXAMPLE_ESCALATION]}
    )


class EscalationAccepted(BaseModel):
    """The receipt: what `202` answers, and answers again for a repeated Idempotency-Key."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "0b5a4bd6-7f0e-4a3b-9a51-4b8f2f3f9c11",
                    "status": "accepted",
                    "received_at": "2026-05-01T12:00:03.120Z",
                }
            ]
        }
    )

    id: UUID
    status: Literal["accepted"]
    received_at: datetime


class EscalationStatus(BaseModel):
    """A partner's own report and where it is: `accepted`, then `routed` to a case."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "0b5a4bd6-7f0e-4a3b-9a51-4b8f2f3f9c11",
                    "status": "routed",
                    "received_at": "2026-05-01T12:00:03.120Z",
                    "routed_at": "2026-05-01T12:00:03.410Z",
                    "case_id": "5d0c1f1e-2b7a-4a53-8f0e-3c3f7b1d9a20",
                    "severity": "SEV1",
                    "score": 92,
                    "team": "Global Operations",
                    "watchers": ["Public Policy", "Communications"],
                    "source_status": None,
                    "escalation": EXAMPLE_ESCALATION,
                }
            ]
        }
    )

    id: UUID
    status: Literal["accepted", "routed"]
    received_at: datetime
    # When the router routed it, by the router's clock, never before received_at (intake's).
    routed_at: datetime | None = None
    case_id: UUID | None = None
    severity: Severity | None = None
    score: int | None = None
    team: str | None = None
    watchers: list[str] = []
    # For reports from Alertmanager or PagerDuty: what the tool said since (acknowledged, resolved).
    source_status: Literal["acknowledged", "resolved"] | None = None
    escalation: Escalation


def _cut(limit: int) -> BeforeValidator:
    """Text over `limit` characters is cut, not refused: a monitoring tool cannot fix it."""
    return BeforeValidator(lambda value: value[:limit] if isinstance(value, str) else value)


def _dropped_unless_text(value: Any) -> Any:
    """A value that is not text (a number, say) is dropped, not refused."""
    return value if isinstance(value, str) else None


def _as_object(value: Any) -> Any:
    """Any JSON, kept: a value that is not an object is kept under `details`."""
    return value if value is None or isinstance(value, dict) else {"details": value}


class CompatibleModel(BaseModel):
    """Payloads other tools send: fields we do not use are ignored, as those tools expect."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class AlertmanagerAlert(CompatibleModel):
    status: Literal["firing", "resolved"]
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    starts_at: str | None = Field(default=None, alias="startsAt")
    generator_url: str = Field(default="", alias="generatorURL")
    fingerprint: DedupKey


class AlertmanagerWebhook(CompatibleModel):
    """Prometheus Alertmanager's webhook notification, version 4."""

    version: Literal["4"]
    group_key: str = Field(default="", alias="groupKey")
    status: Literal["firing", "resolved"]
    receiver: str = ""
    alerts: list[AlertmanagerAlert] = Field(max_length=1000)
    truncated_alerts: int = Field(default=0, alias="truncatedAlerts")


class AlertmanagerReceipt(BaseModel):
    accepted: list[UUID]
    # Firing alerts already reported and not resolved since: Alertmanager repeats itself.
    repeated: int
    resolved: int


class PagerDutyPayload(CompatibleModel):
    """What a trigger says: missing or unknown required fields are refused, as PagerDuty does;
    the rest is cleaned, never refused (services/intake/integrations.py)."""

    summary: Annotated[str, _cut(1024), Field(min_length=1)]
    source: Annotated[str, _cut(255), Field(min_length=1)]
    severity: Literal["critical", "error", "warning", "info"]
    timestamp: Annotated[str | None, BeforeValidator(_dropped_unless_text)] = None
    component: Annotated[str | None, _cut(255)] = None
    group: Annotated[str | None, _cut(255)] = None
    class_: Annotated[str | None, _cut(255)] = Field(default=None, alias="class")
    custom_details: Annotated[dict[str, Any] | None, BeforeValidator(_as_object)] = None


class PagerDutyEvent(CompatibleModel):
    """PagerDuty Events API v2: the partner's API key travels as `routing_key`."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "routing_key": "flare_<partner API key>",
                    "event_action": "trigger",
                    "dedup_key": "checkout-latency",
                    "payload": {
                        "summary": "Checkout latency above 5s",
                        "source": "prometheus",
                        "severity": "critical",
                    },
                }
            ]
        }
    )

    routing_key: str = Field(min_length=1, max_length=200)
    event_action: Literal["trigger", "acknowledge", "resolve"]
    dedup_key: DedupKey | None = None
    payload: PagerDutyPayload | None = None

    @model_validator(mode="before")
    @classmethod
    def only_what_the_action_uses(cls, data: Any) -> Any:
        """An empty `dedup_key` is none. An acknowledge or resolve uses no `payload`: whatever
        it holds (tools send one on every action, Alertmanager's templates an empty summary on
        a resolve) is not checked, so it never refuses a resolution."""
        if not isinstance(data, dict):
            return data
        data = {**data}
        if data.get("dedup_key") == "":
            del data["dedup_key"]
        if data.get("event_action") != "trigger":
            data.pop("payload", None)
        return data

    @model_validator(mode="after")
    def action_has_what_it_needs(self) -> "PagerDutyEvent":
        if self.event_action == "trigger" and self.payload is None:
            raise ValueError("a trigger event needs a payload")
        if self.event_action != "trigger" and self.dedup_key is None:
            raise ValueError(f"an {self.event_action} event needs a dedup_key")
        return self


class PagerDutyReceipt(BaseModel):
    """What PagerDuty answers, so its clients read our answer as theirs."""

    status: Literal["success"] = "success"
    message: str = "Event processed"
    dedup_key: str
