"""Errors are application/problem+json (RFC 9457) naming each bad field with a JSON pointer."""

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from shared.http import Problem, install_problem_handlers, json_pointer


class Item(BaseModel):
    name: str
    size: int


def make_app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/items")
    async def create(item: Item) -> Item:
        return item

    @app.get("/database-down")
    async def database_down() -> None:
        raise ConnectionRefusedError("connect call failed")

    @app.get("/pool-exhausted")
    async def pool_exhausted() -> None:
        raise PoolTimeout("QueuePool limit of size 10 overflow 10 reached")

    @app.get("/bug")
    async def bug() -> None:
        raise IntegrityError("INSERT ...", {}, Exception("duplicate key"))

    @app.get("/conflict")
    async def conflict() -> None:
        raise Problem(409, "Case is resolved.", type_="https://flare.dev/problems/conflict")

    return app


async def call(method: str, path: str, **kwargs: object) -> httpx.Response:
    # As a server would: an unhandled error still gets its response, then is logged.
    transport = httpx.ASGITransport(app=make_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.request(method, path, **kwargs)  # type: ignore[arg-type]


async def test_validation_errors_name_each_field_as_a_json_pointer() -> None:
    response = await call("POST", "/items", json={"size": "big"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert {body["type"], body["title"], body["status"]} == {
        "about:blank",
        "Unprocessable Entity",
        422,
    }
    assert sorted(error["pointer"] for error in body["errors"]) == ["/name", "/size"]


async def test_malformed_json_is_400_with_the_position() -> None:
    response = await call(
        "POST", "/items", content=b'{"name": ', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert "not valid JSON" in response.json()["detail"]


async def test_domain_problem_keeps_its_status_type_and_detail() -> None:
    response = await call("GET", "/conflict")
    assert response.status_code == 409
    assert response.json() == {
        "type": "https://flare.dev/problems/conflict",
        "title": "Conflict",
        "status": 409,
        "detail": "Case is resolved.",
    }


async def test_an_unreachable_database_is_503_with_retry_after() -> None:
    response = await call("GET", "/database-down")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.headers["content-type"] == "application/problem+json"


async def test_no_free_database_connection_is_503_too_not_a_500() -> None:
    response = await call("GET", "/pool-exhausted")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"


async def test_a_bug_is_a_500_problem_not_an_outage() -> None:
    response = await call("GET", "/bug")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert "retry-after" not in response.headers


async def test_unknown_route_is_a_problem_too() -> None:
    response = await call("GET", "/nowhere")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("location", "pointer"),
    [
        (("body", "reporter", "type"), "/reporter/type"),
        (("body", "labels", "a/b~c"), "/labels/a~1b~0c"),
        (("body", "evidence", 0, "url"), "/evidence/0/url"),
    ],
)
def test_json_pointer_escapes_per_rfc_6901(location: tuple[int | str, ...], pointer: str) -> None:
    assert json_pointer(location) == pointer


def test_the_spec_says_every_422_is_a_problem_even_once_rebuilt_for_new_routes() -> None:
    """FastAPI builds the spec anew when its routes change: that one is amended too."""
    app = make_app()

    def invalid(spec: dict[str, Any], path: str) -> list[str]:
        return list(spec["paths"][path]["post"]["responses"]["422"]["content"])

    assert invalid(app.openapi(), "/items") == ["application/problem+json"]

    @app.post("/more-items")
    async def create_more(item: Item) -> Item:
        return item

    spec = app.openapi()
    assert invalid(spec, "/more-items") == invalid(spec, "/items") == ["application/problem+json"]
    assert {"HTTPValidationError", "ValidationError"}.isdisjoint(spec["components"]["schemas"])
