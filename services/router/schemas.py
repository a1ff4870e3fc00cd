"""router's HTTP contract: request bodies and responses of the cases, teams and reports API."""

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.events import STORABLE, CaseSnapshot

# Free text a responder sends: PostgreSQL refuses NUL and lone surrogates, so they are a 422.
Text = Annotated[str, STORABLE]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ResolutionCode(StrEnum):
    ACTIONED = "actioned"
    NO_ACTION_NEEDED = "no_action_needed"
    DUPLICATE = "duplicate"
    REFERRED_EXTERNALLY = "referred_externally"
    FALSE_ALARM = "false_alarm"
    # The partner's monitoring tool (Alertmanager, PagerDuty) resolved the alert itself.
    RESOLVED_AT_SOURCE = "resolved_at_source"


class AcknowledgeIn(Body):
    note: Text | None = Field(default=None, max_length=2000)


class ResolveIn(Body):
    code: ResolutionCode
    summary: Text = Field(default="", max_length=2000)


class ReassignIn(Body):
    team: Text | None = Field(default=None, min_length=1, max_length=100)
    responder: Text | None = Field(default=None, min_length=1, max_length=100)
    reason: Text = Field(min_length=1, max_length=2000)

    @model_validator(mode="after")
    def names_a_target(self) -> "ReassignIn":
        if self.team is None and self.responder is None:
            raise ValueError("name a team, a responder or both")
        return self


class NoteIn(Body):
    text: Text = Field(min_length=1, max_length=5000)


class CasePage(BaseModel):
    items: list[CaseSnapshot]
    # Pass as `cursor` for the next page; null on the last page.
    next_cursor: str | None


class TimelineItem(BaseModel):
    at: datetime
    actor: str
    action: str
    detail: dict[str, Any]


class ReportItem(BaseModel):
    escalation_id: UUID
    received_at: datetime
    score: int
    severity: str


class EvidenceItem(BaseModel):
    escalation_id: UUID  # the report that sent it
    url: str
    kind: str
    # Graphic media, minors, personal data: the console shows it only after a content warning.
    sensitive: bool


class CaseDetail(BaseModel):
    case: CaseSnapshot
    # The score explained: policy version, every rule that fired and its contribution.
    explanation: dict[str, Any]
    timeline: list[TimelineItem]
    reports: list[ReportItem]


class TeamOut(BaseModel):
    slug: str
    name: str
    timezone: str
    members: list[str]


class OnCallOut(BaseModel):
    team: str
    name: str
    on_call: list[str]
    at: datetime
