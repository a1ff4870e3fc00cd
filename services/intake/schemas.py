"""intake's HTTP contract: the escalation a partner posts and the receipt it gets back."""

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict
from pydantic.config import JsonDict

from shared.events import Escalation

EXAMPLE_ESCALATION: JsonDict = {
    "category": "crisis",
    "title": "Live-streamed violence spreading in reshares",
    "description": "A live video showing an ongoing attack is being reshared widely.",
    "product": "facebook",
    "reporter": {"type": "trusted_flagger", "name": "SafeNet Monitoring"},
    "subject": {"url": "https://facebook.com/watch/123", "content_id": "video:123"},
    "dedup_key": "video:123",
}


class EscalationIn(Escalation):
    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE_ESCALATION]})


class EscalationAccepted(BaseModel):
    id: UUID
    status: Literal["accepted"]
    received_at: datetime
