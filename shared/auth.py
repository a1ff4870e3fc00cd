"""Responder tokens: HS256 JWTs with `sub` and `role`, minted by the router, checked everywhere.

Every service that serves responders verifies tokens with the same secret
(`FLARE_JWT_SECRET`); the router's admin CLI mints them.
"""

from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from shared.http import PROBLEM, Problem

ISSUER = "flare"
NO_TOKEN = "Send a responder token: Authorization: Bearer <token>."
ALGORITHM = "HS256"


class Role(StrEnum):
    RESPONDER = "responder"
    LEAD = "lead"
    ANALYST = "analyst"
    ADMIN = "admin"


class Responder(BaseModel):
    subject: str
    role: Role
    expires_at: datetime  # the token's `exp`: a live stream ends then


# How far the clock of the host that minted a token may be from ours: a token stamped a few
# seconds ahead (`iat` in the future) is valid, not refused until our clock catches up.
CLOCK_SKEW = timedelta(seconds=30)


def mint_token(secret: str, subject: str, role: Role, ttl: timedelta) -> str:
    now = datetime.now(UTC)
    claims = {"iss": ISSUER, "sub": subject, "role": role.value, "iat": now, "exp": now + ttl}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify_token(secret: str, token: str) -> Responder:
    """The responder a token names, or Problem(401) when it is missing, forged or expired."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["exp", "iss", "sub"]},
            leeway=CLOCK_SKEW,
        )
        expires_at = datetime.fromtimestamp(claims["exp"], UTC)
        return Responder(
            subject=claims["sub"], role=Role(claims.get("role", "")), expires_at=expires_at
        )
    except (jwt.InvalidTokenError, ValueError) as error:
        raise unauthorized(f"The responder token is not valid: {error}.") from error


def bearer_token(authorization: str | None) -> str:
    """The token of an Authorization header, for the live streams (a WebSocket route takes no
    HTTPBearer dependency); other routes take it through require_role."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized(NO_TOKEN)
    return token.strip()


# The OpenAPI pages' security scheme (their Authorize button); the dependency below reads it.
responder_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ResponderToken",
    description="A responder token: `python -m services.router token mint`.",
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(responder_bearer)]
# What every route behind require_role may answer besides its own: a router's `responses`.
AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No valid responder token (Authorization: Bearer).", **PROBLEM},
    403: {"description": "The token's role may not do this.", **PROBLEM},
}


def require_role(
    *roles: Role,
) -> Callable[[Request, HTTPAuthorizationCredentials | None], Coroutine[Any, Any, Responder]]:
    """A FastAPI dependency: the caller's responder, if their role is one of `roles` (any if none).

    The secret is read from `request.app.state.jwt_secret`, set by the service's create_app.
    """

    async def dependency(request: Request, credentials: Credentials) -> Responder:
        if credentials is None:  # no header, or not a Bearer one
            raise unauthorized(NO_TOKEN)
        responder = verify_token(request.app.state.jwt_secret, credentials.credentials)
        if roles and responder.role not in roles:
            allowed = ", ".join(role.value for role in roles)
            raise Problem(403, f"This needs one of the roles: {allowed}.")
        return responder

    return dependency


AnyResponder = Annotated[Responder, Depends(require_role())]


def unauthorized(detail: str) -> Problem:
    return Problem(401, detail, headers={"WWW-Authenticate": 'Bearer realm="flare"'})
