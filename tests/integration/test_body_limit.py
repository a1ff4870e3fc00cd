"""The router's and the notifier's APIs limit request bodies as intake does: 413 problem+json
over 1 MiB however the body arrives (intake's own cases are in test_intake_limits.py)."""

from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from uuid import uuid4

import httpx
import pytest
from fastapi import FastAPI

from services.notifier.app import create_app as notifier_app
from services.notifier.settings import NotifierSettings
from services.router.app import create_app as router_app
from services.router.settings import RouterSettings
from shared.auth import Role, mint_token
from tests.conftest import FlareEnv
from tests.integration.conftest import running

MIB = 1024 * 1024


def router(env: FlareEnv) -> tuple[FastAPI, str, dict[str, str]]:
    settings = env.settings(RouterSettings)
    return router_app(settings), f"/v1/cases/{uuid4()}/notes", bearer(settings.jwt_secret)


def notifier(env: FlareEnv) -> tuple[FastAPI, str, dict[str, str]]:
    settings = env.settings(NotifierSettings)
    return notifier_app(settings), "/v1/subscriptions", bearer(settings.jwt_secret, Role.LEAD)


Service = Callable[[FlareEnv], tuple[FastAPI, str, dict[str, str]]]
SERVICES = pytest.mark.parametrize("service", [router, notifier], ids=["router", "notifier"])


def bearer(secret: str, role: Role = Role.RESPONDER) -> dict[str, str]:
    token = mint_token(secret, "ana", role, timedelta(minutes=10))
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def text_body(size: int) -> bytes:
    """A JSON body of exactly `size` bytes."""
    return b'{"text": "' + b"x" * (size - 12) + b'"}'


async def in_chunks(body: bytes) -> AsyncIterator[bytes]:
    """The body streamed in 64 KiB pieces: the request has no Content-Length."""
    for start in range(0, len(body), 65536):
        yield body[start : start + 65536]


def assert_too_large(response: httpx.Response) -> None:
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 413


@SERVICES
@pytest.mark.parametrize("streamed", [False, True], ids=["content-length", "streamed"])
async def test_body_over_one_mib_is_413_declared_or_streamed(
    flare_env: FlareEnv, service: Service, streamed: bool
) -> None:
    app, path, headers = service(flare_env)
    body = text_body(MIB + 1)
    async with running(app) as http:
        response = await http.post(
            path, content=in_chunks(body) if streamed else body, headers=headers
        )
    assert ("content-length" in response.request.headers) is not streamed
    assert_too_large(response)


@SERVICES
async def test_body_of_one_mib_is_read_and_validated(flare_env: FlareEnv, service: Service) -> None:
    """The limit is on size, not on content: a body at the limit reaches validation."""
    app, path, headers = service(flare_env)
    async with running(app) as http:
        declared = await http.post(path, content=text_body(MIB), headers=headers)
        streamed = await http.post(path, content=in_chunks(text_body(MIB)), headers=headers)
    assert declared.status_code == streamed.status_code == 422, declared.text


@SERVICES
def test_openapi_lists_the_413_with_the_limit_in_force(
    flare_env: FlareEnv, service: Service
) -> None:
    app, path, _ = service(flare_env)
    template = "/v1/cases/{case_id}/notes" if path.endswith("/notes") else path
    responses = app.openapi()["paths"][template]["post"]["responses"]
    assert responses["413"]["description"] == (
        f"The body is larger than {MIB} bytes (FLARE_MAX_BODY_BYTES)."
    )
    assert list(responses) == sorted(responses)
