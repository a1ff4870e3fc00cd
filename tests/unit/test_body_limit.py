"""The body limit every service gets from Plumbing.app: 413 problem+json however the body
arrives, before any route runs."""

from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI
from pydantic import BaseModel

from services.intake.models import MIGRATIONS, metadata
from shared.app import Plumbing
from shared.settings import FlareSettings

LIMIT = 1024
JSON = {"Content-Type": "application/json"}


class Note(BaseModel):
    text: str


def make_app(routes_run: list[str]) -> tuple[FastAPI, Plumbing]:
    plumbing = Plumbing(FlareSettings(port=1, max_body_bytes=LIMIT), metadata, MIGRATIONS)
    app = plumbing.app(title="test", description="test", jobs={}, required=set())

    @app.post("/notes")
    async def add_note(note: Note) -> dict[str, int]:
        routes_run.append("notes")
        return {"length": len(note.text)}

    @app.post("/touch")
    async def touch() -> dict[str, str]:
        """Takes no body: a route the limit must still keep from running."""
        routes_run.append("touch")
        return {"touched": "yes"}

    return app, plumbing


async def post(app: FastAPI, path: str, **kwargs: object) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.post(path, **kwargs)  # type: ignore[arg-type]


def note_of(size: int) -> bytes:
    """A JSON note body of exactly `size` bytes."""
    return b'{"text": "' + b"x" * (size - 12) + b'"}'


async def chunks(body: bytes, size: int = 100) -> AsyncIterator[bytes]:
    """The body streamed in pieces, so the request has no Content-Length."""
    for start in range(0, len(body), size):
        yield body[start : start + size]


def assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 413
    assert problem["detail"] == f"The request body is larger than {LIMIT} bytes."


async def test_declared_content_length_over_the_limit_is_413_problem() -> None:
    routes_run: list[str] = []
    app, _ = make_app(routes_run)
    response = await post(app, "/notes", content=note_of(LIMIT + 1), headers=JSON)
    assert "content-length" in response.request.headers
    assert_refused(response)
    assert routes_run == []


async def test_streamed_body_over_the_limit_without_content_length_is_413_problem() -> None:
    routes_run: list[str] = []
    app, _ = make_app(routes_run)
    response = await post(app, "/notes", content=chunks(note_of(LIMIT + 1)), headers=JSON)
    assert "content-length" not in response.request.headers
    assert_refused(response)
    assert routes_run == []


async def test_route_without_a_body_parameter_does_not_run_for_an_oversize_body() -> None:
    routes_run: list[str] = []
    app, _ = make_app(routes_run)
    declared = await post(app, "/touch", content=b"x" * (LIMIT + 1))
    streamed = await post(app, "/touch", content=chunks(b"x" * (LIMIT + 1)))
    assert_refused(declared)
    assert_refused(streamed)
    assert routes_run == []


async def test_body_at_the_limit_reaches_the_route_however_it_arrives() -> None:
    routes_run: list[str] = []
    app, _ = make_app(routes_run)
    declared = await post(app, "/notes", content=note_of(LIMIT), headers=JSON)
    streamed = await post(app, "/notes", content=chunks(note_of(LIMIT)), headers=JSON)
    assert declared.status_code == streamed.status_code == 200
    assert declared.json() == streamed.json() == {"length": LIMIT - 12}
    assert routes_run == ["notes", "notes"]


async def test_refused_bodies_are_counted_in_the_request_metrics() -> None:
    app, plumbing = make_app([])
    await post(app, "/notes", content=note_of(LIMIT + 1), headers=JSON)
    # Refused before routing, so no route template is known.
    labels = {"method": "POST", "route": "unmatched", "status": "413"}
    assert plumbing.registry.get_sample_value("flare_http_requests_total", labels) == 1


def test_openapi_lists_the_413_on_every_operation_that_takes_a_body() -> None:
    app, _ = make_app([])
    paths = app.openapi()["paths"]
    too_large = paths["/notes"]["post"]["responses"]["413"]
    limit = f"The body is larger than {LIMIT} bytes (FLARE_MAX_BODY_BYTES)."
    assert too_large["description"] == limit
    assert "application/problem+json" in too_large["content"]
    assert "413" not in paths["/touch"]["post"]["responses"]
    assert app.openapi() is app.openapi(), "built once"
