"""A subscription's text is refused with a 422 when PostgreSQL could not store it."""

import pytest
from pydantic import ValidationError

from services.notifier.schemas import SubscriptionCreate


# Found by the bad-input chaos scenario: a NUL in a subscription's description was a 500.
@pytest.mark.parametrize(
    "body",
    [
        {"target": "http://127.0.0.1:9/h", "description": "a\x00"},
        {"target": "http://127.0.0.1:9/h", "teams": ["b\x00"]},
        {"target": "http://127.0.0.1:9/\x00"},
        {"target": "http://127.0.0.1:9/h", "description": "\udc00"},
    ],
)
def test_nul_or_a_lone_surrogate_is_invalid(body: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        SubscriptionCreate.model_validate(body)
