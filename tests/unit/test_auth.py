"""Responder tokens: what verifies, what is refused with 401, and roles that get 403."""

from datetime import UTC, datetime, timedelta
from typing import Annotated

import httpx
import jwt
import pytest
from fastapi import Depends, FastAPI

from shared.auth import CLOCK_SKEW, Responder, Role, mint_token, require_role, verify_token
from shared.http import Problem, install_problem_handlers

SECRET = "s" * 40
HOUR = timedelta(hours=1)


def test_a_minted_token_verifies_to_its_subject_and_role() -> None:
    token = mint_token(SECRET, "ana", Role.LEAD, timedelta(minutes=5))
    responder = verify_token(SECRET, token)
    assert (responder.subject, responder.role) == ("ana", Role.LEAD)
    assert timedelta(minutes=4) < responder.expires_at - datetime.now(UTC) <= timedelta(minutes=5)


@pytest.mark.parametrize(
    "token",
    [
        mint_token(SECRET, "ana", Role.LEAD, -CLOCK_SKEW - timedelta(seconds=1)),
        mint_token("x" * 40, "ana", Role.LEAD, timedelta(minutes=5)),
        "not.a.jwt",
    ],
    ids=["expired", "other-secret", "garbage"],
)
def test_expired_forged_or_garbage_tokens_are_401(token: str) -> None:
    with pytest.raises(Problem) as refused:
        verify_token(SECRET, token)
    assert refused.value.status == 401


def test_a_token_from_a_host_whose_clock_is_a_little_ahead_is_valid_at_once() -> None:
    ahead = datetime.now(UTC) + timedelta(seconds=10)
    claims = {"iss": "flare", "sub": "ana", "role": "lead", "iat": ahead, "exp": ahead + HOUR}
    assert verify_token(SECRET, jwt.encode(claims, SECRET, algorithm="HS256")).subject == "ana"


async def test_routes_check_the_bearer_token_and_the_role() -> None:
    app = FastAPI()
    app.state.jwt_secret = SECRET
    install_problem_handlers(app)

    @app.post("/reassign")
    async def reassign(who: Annotated[Responder, Depends(require_role(Role.LEAD))]) -> str:
        return who.subject

    async def post(headers: dict[str, str]) -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.post("/reassign", headers=headers)

    def bearer(role: Role) -> dict[str, str]:
        return {"Authorization": f"Bearer {mint_token(SECRET, 'ana', role, timedelta(minutes=5))}"}

    assert (await post({})).status_code == 401
    assert (await post({})).headers["www-authenticate"].startswith("Bearer")
    assert (await post({"Authorization": "Basic abc"})).status_code == 401
    forbidden = await post(bearer(Role.ANALYST))
    assert forbidden.status_code == 403
    assert forbidden.headers["content-type"] == "application/problem+json"
    allowed = await post(bearer(Role.LEAD))
    assert allowed.status_code == 200
    assert allowed.json() == "ana"
