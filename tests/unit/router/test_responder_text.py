"""Responders' free text is refused with a 422 when PostgreSQL could not store it."""

import pytest
from pydantic import BaseModel, ValidationError

from services.router.schemas import AcknowledgeIn, NoteIn, ReassignIn, ResolveIn


# Found by the bad-input chaos scenario: a NUL in a note was a 500 (PostgreSQL refuses it).
@pytest.mark.parametrize(
    ("model", "body"),
    [
        (NoteIn, {"text": "a\x00b"}),
        (AcknowledgeIn, {"note": "\ud800"}),
        (ResolveIn, {"code": "actioned", "summary": "a\x00"}),
        (ReassignIn, {"team": "a\x00", "reason": "r"}),
        (ReassignIn, {"responder": "ada", "reason": "\x00"}),
    ],
)
def test_nul_or_a_lone_surrogate_is_invalid(model: type[BaseModel], body: dict[str, str]) -> None:
    with pytest.raises(ValidationError, match="must not contain"):
        model.model_validate(body)
