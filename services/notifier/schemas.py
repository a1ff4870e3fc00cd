"""notifier's HTTP contract: subscriptions, the delivery log and the console's case view."""

import re
from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.events import STORABLE, CaseSnapshot, Category, EventType, Severity, is_case_event

Channel = Literal["webhook", "chat", "email"]
DeliveryStatus = Literal["pending", "retrying", "delivered", "dead", "cancelled"]
DeliveryKind = Literal["page", "subscription"]  # an escalation step's page, a subscription's
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
# Text stored as sent: PostgreSQL refuses NUL and lone surrogates, so they are a 422.
Text = Annotated[str, STORABLE]


class SubscriptionCreate(BaseModel):
    """A destination for case events and emerging risks: a signed webhook, a chat incoming
    webhook, or an address."""

    model_config = ConfigDict(extra="forbid")

    channel: Channel = "webhook"
    target: Text = Field(
        min_length=3, max_length=2048, description="An http(s) URL, or an email address."
    )
    description: Text = Field(default="", max_length=500)
    teams: list[Text] = Field(default_factory=list, max_length=50)
    categories: list[Category] = Field(default_factory=list)
    event_types: list[EventType] = Field(default_factory=list)
    min_severity: Severity | None = None

    @field_validator("event_types")
    @classmethod
    def delivered_types(cls, event_types: list[EventType]) -> list[EventType]:
        """Only what the notifier delivers: a subscription to anything else would never fire."""
        others = [
            t.value for t in event_types if not is_case_event(t) and t != EventType.RISK_EMERGING
        ]
        if others:
            raise ValueError(
                f"{', '.join(others)} is not delivered to subscriptions: "
                "only flare.case.* and flare.risk.emerging are"
            )
        return event_types

    @model_validator(mode="after")
    def target_fits_channel(self) -> "SubscriptionCreate":
        if self.channel == "email" and not EMAIL.match(self.target):
            raise ValueError("an email subscription's target is an email address")
        if self.channel != "email" and not self.target.startswith(("http://", "https://")):
            raise ValueError(f"a {self.channel} subscription's target is an http(s) URL")
        return self


class Subscription(BaseModel):
    id: UUID
    channel: Channel
    target: str
    description: str
    teams: list[str]
    categories: list[str]
    event_types: list[str]
    min_severity: Severity | None
    created_by: str
    created_at: datetime


class SubscriptionCreated(Subscription):
    secret: str | None = Field(
        description="Standard Webhooks signing secret (webhooks only). Shown once: keep it."
    )


class Attempt(BaseModel):
    attempt: int
    started_at: datetime
    latency_ms: float
    status_code: int | None
    error: str | None
    outcome: str


class Delivery(BaseModel):
    id: UUID
    event_id: UUID
    case_id: UUID | None
    kind: DeliveryKind
    subscription_id: UUID | None
    channel: Channel
    target: str
    event_type: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime
    attempt_log: list[Attempt]


class DeliveryList(BaseModel):
    items: list[Delivery]


class CaseView(BaseModel):
    """The newest snapshot of a case the notifier has seen, for the console behind alert links."""

    case: CaseSnapshot
    last_event_type: str
    updated_at: datetime
