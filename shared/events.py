"""The wire: topic names, CloudEvent types and the JSON bodies of every event, in one place."""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field


@dataclass(frozen=True)
class Topics:
    escalations: str
    cases: str
    dlq: str

    @classmethod
    def with_prefix(cls, prefix: str) -> "Topics":
        return cls(
            escalations=f"{prefix}flare.escalations.received.v1",
            cases=f"{prefix}flare.cases.v1",
            dlq=f"{prefix}flare.dlq.v1",
        )

    def partition_counts(self) -> dict[str, int]:
        """Partitions per topic: the unit of parallelism for consumers of each."""
        return {self.escalations: 12, self.cases: 12, self.dlq: 3}


class EventType(StrEnum):
    ESCALATION_RECEIVED = "flare.escalation.received"
    # Every case event carries a CaseEvent body, keyed by case id on the cases topic.
    CASE_CREATED = "flare.case.created"
    CASE_UPDATED = "flare.case.updated"  # a correlated report joined, or the case was re-scored
    CASE_ACKNOWLEDGED = "flare.case.acknowledged"
    CASE_RESOLVED = "flare.case.resolved"
    CASE_REASSIGNED = "flare.case.reassigned"
    CASE_NOTE_ADDED = "flare.case.note_added"
    CASE_SURGE = "flare.case.surge"
    CASE_SLA_WARNING = "flare.case.sla_warning"
    CASE_SLA_BREACHED = "flare.case.sla_breached"
    RISK_EMERGING = "flare.risk.emerging"  # a surge across one region and category


class Category(StrEnum):
    CRISIS = "crisis"
    ELECTIONS = "elections"
    COMMUNITY_STANDARDS = "community_standards"
    ADVERTISER_POLICY = "advertiser_policy"
    COMMERCE_POLICY = "commerce_policy"
    INTELLECTUAL_PROPERTY = "intellectual_property"
    LEGAL_REQUEST = "legal_request"
    LAW_ENFORCEMENT = "law_enforcement"
    PRESS_INQUIRY = "press_inquiry"
    PARTNER_INQUIRY = "partner_inquiry"
    USER_ESCALATION = "user_escalation"
    OTHER = "other"


class Product(StrEnum):
    FACEBOOK = "facebook"
    INSTAGRAM = "instagram"
    MESSENGER = "messenger"
    WHATSAPP = "whatsapp"
    THREADS = "threads"
    OTHER = "other"


class ReporterType(StrEnum):
    TRUSTED_FLAGGER = "trusted_flagger"
    LAW_ENFORCEMENT = "law_enforcement"
    GOVERNMENT = "government"
    NGO = "ngo"
    PRESS = "press"
    RIGHTS_HOLDER = "rights_holder"
    ADVERTISER = "advertiser"
    PARTNER = "partner"
    USER = "user"
    INTERNAL = "internal"
    MONITORING = "monitoring"


class WireModel(BaseModel):
    """Events are immutable facts; unknown fields are refused so schema drift is loud."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Reporter(WireModel):
    type: ReporterType
    name: str = Field(min_length=1, max_length=200)


class Subject(WireModel):
    url: str | None = Field(default=None, max_length=2048)
    content_id: str | None = Field(default=None, max_length=200)
    account_id: str | None = Field(default=None, max_length=200)


class Escalation(WireModel):
    """What a partner reports: the body of `POST /v1/escalations` and of the received event."""

    category: Category
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=20_000)
    product: Product
    reporter: Reporter
    subject: Subject | None = None
    dedup_key: str | None = Field(default=None, min_length=1, max_length=200)

    def correlation_key(self, escalation_id: UUID) -> str:
        """Reports sharing this key land on one partition and may join one case."""
        if self.dedup_key:
            return f"dedup:{self.dedup_key}"
        if self.subject:
            for name in ("content_id", "account_id", "url"):
                value = getattr(self.subject, name)
                if value:
                    return f"{name}:{value}"
        return f"escalation:{escalation_id}"


class EscalationReceived(WireModel):
    escalation_id: UUID
    received_at: datetime
    correlation_key: str
    escalation: Escalation


class Severity(StrEnum):
    SEV1 = "SEV1"
    SEV2 = "SEV2"
    SEV3 = "SEV3"
    SEV4 = "SEV4"


class CaseStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class CaseSnapshot(WireModel):
    """A case as it stands after a change: enough to filter, route and render an alert."""

    case_id: UUID
    status: CaseStatus
    title: str
    category: Category
    product: Product
    correlation_key: str
    created_at: datetime
    updated_at: datetime
    # None only until the router scores and assigns the case.
    severity: Severity | None = None
    score: int | None = Field(default=None, ge=0, le=100)
    team: str | None = None
    watchers: list[str] = Field(default_factory=list)
    assignee: str | None = None
    report_count: int = Field(default=1, ge=1)
    # Evidence marked sensitive never travels in alerts, only a link to the console.
    sensitive: bool = False
    ack_due_at: datetime | None = None
    resolve_due_at: datetime | None = None
    policy_version: str | None = None


class CaseEvent(WireModel):
    """The body of every flare.case.* event: the case after the change, and who changed it."""

    case: CaseSnapshot
    # The report behind the change (created, updated), so intake can show where it is.
    escalation_id: UUID | None = None
    # "router" for automatic changes, else the responder's token subject.
    actor: str
    detail: str | None = Field(default=None, max_length=2000)
