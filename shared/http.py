"""HTTP plumbing: problem+json errors (RFC 9457), health and readiness, and serving with uvicorn."""

import asyncio
import copy
import json
import socket
import threading
from collections.abc import Awaitable, Callable, Mapping
from http import HTTPStatus
from types import FrameType
from typing import Any

import uvicorn
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.errors import is_transient
from shared.logging import get_logger
from shared.settings import FlareSettings

log = get_logger(__name__)
PROBLEM_JSON = "application/problem+json"
# An OpenAPI response whose body is a problem: `{code: {"description": ..., **PROBLEM}}`.
PROBLEM: dict[str, Any] = {"content": {PROBLEM_JSON: {}}}
# Seconds a client should wait before retrying when our database is unavailable.
RETRY_AFTER_S = 5
# /readyz answers from a run of its checks under way, or started at most this long before.
READINESS_REUSE_S = 1.0


class Problem(Exception):
    """A domain error with an HTTP meaning; raised by services, rendered in one place here."""

    def __init__(
        self,
        status: int,
        detail: str,
        type_: str = "about:blank",
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.status, self.detail, self.type = status, detail, type_
        self.headers = dict(headers or {})
        self.extensions = extensions


def problem_response(problem: Problem) -> JSONResponse:
    body = {
        "type": problem.type,
        "title": HTTPStatus(problem.status).phrase,
        "status": problem.status,
        "detail": problem.detail,
        **problem.extensions,
    }
    return JSONResponse(
        body, status_code=problem.status, media_type=PROBLEM_JSON, headers=problem.headers
    )


def json_pointer(location: tuple[int | str, ...]) -> str:
    """FastAPI's error location ("body", "reporter", "type") as a JSON pointer: /reporter/type."""
    parts = [str(part).replace("~", "~0").replace("/", "~1") for part in location[1:]]
    return "/" + "/".join(parts)


def amend_openapi(app: FastAPI, amend: Callable[[dict[str, Any]], None]) -> None:
    """Change the app's OpenAPI spec in place, once each time FastAPI builds it (on first use,
    and again should its routes change)."""
    spec_of = app.openapi
    amended: dict[str, Any] | None = None

    def openapi() -> dict[str, Any]:
        nonlocal amended
        spec = spec_of()
        if spec is not amended:
            amend(spec)
            amended = spec
        return spec

    app.openapi = openapi  # type: ignore[method-assign]


def document_validation_problems(spec: dict[str, Any]) -> None:
    """FastAPI lists a 422 of its own (application/json, HTTPValidationError) on every operation
    with parameters or a body; Flare answers it as a problem (on_validation below). The spec
    says so, and drops the schemas nothing names any more."""
    fastapis = {"$ref": "#/components/schemas/HTTPValidationError"}
    for operations in spec["paths"].values():
        for operation in operations.values():
            responses = operation["responses"]
            declared = responses.get("422", {}).get("content", {}).get("application/json", {})
            if declared.get("schema") == fastapis:
                responses["422"] = {
                    "description": "Invalid request: `detail` says why; `errors`, if present, "
                    "names each field at fault.",
                    **copy.deepcopy(PROBLEM),
                }
    schemas = spec.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):  # the first names the second
        rest = {other: schema for other, schema in schemas.items() if other != name}
        if f"#/components/schemas/{name}" not in json.dumps([spec["paths"], rest]):
            schemas.pop(name, None)


def install_problem_handlers(app: FastAPI) -> None:
    async def on_problem(_: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, Problem)
        return problem_response(error)

    async def on_validation(_: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        malformed = [item for item in error.errors() if item["type"] == "json_invalid"]
        if malformed:
            position = malformed[0]["loc"][-1]
            return problem_response(
                Problem(400, f"The body is not valid JSON (error at character {position}).")
            )
        errors = [
            {"pointer": json_pointer(tuple(item["loc"])), "detail": item["msg"]}
            for item in error.errors()
        ]
        return problem_response(
            Problem(
                422, "The request is invalid; each entry in errors names a field.", errors=errors
            )
        )

    async def on_http(_: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, StarletteHTTPException)
        return problem_response(
            Problem(error.status_code, str(error.detail), headers=error.headers)
        )

    async def on_dependency(_: Request, error: Exception) -> JSONResponse:
        if not is_transient(error):
            return await on_unexpected(_, error)
        log.warning("dependency_unavailable", error=repr(error))
        return problem_response(
            Problem(
                503,
                "A service Flare depends on (its database) is unavailable; the request was not "
                "carried out. Retry later.",
                headers={"Retry-After": str(RETRY_AFTER_S)},
            )
        )

    async def on_unexpected(_: Request, error: Exception) -> JSONResponse:
        log.error("request_failed", error=repr(error), exc_info=error)
        return problem_response(Problem(500, "Flare failed to handle this request."))

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    # Outages are answered here; anything else is a bug: a 500 problem, and the server logs it.
    for dependency_error in (DBAPIError, OSError, TimeoutError, PoolTimeout):
        app.add_exception_handler(dependency_error, on_dependency)
    app.add_exception_handler(Exception, on_unexpected)
    amend_openapi(app, document_validation_problems)


Check = Callable[[], Awaitable[None]]


class SharedChecks:
    """Runs the checks once for every caller that asks while a run is under way or within
    `reuse_s` of its start. /readyz needs no credentials and its Kafka check opens a connection
    to a broker: however often it is asked, a replica runs its checks at most once at a time
    and once per `reuse_s`, and no caller waits longer than one run."""

    def __init__(self, checks: Mapping[str, Check], reuse_s: float) -> None:
        self._checks, self._reuse_s = checks, reuse_s
        self._started = 0.0
        self._run: asyncio.Future[list[BaseException | None]] | None = None

    async def results(self) -> list[BaseException | None]:
        """Each check's exception, or None where it passed, in the checks' order."""
        now = asyncio.get_running_loop().time()
        if self._run is None or (self._run.done() and self._started < now - self._reuse_s):
            self._started = now
            self._run = asyncio.gather(
                *(check() for check in self._checks.values()), return_exceptions=True
            )
        # A caller that goes away (its client hung up) does not cancel the others' run.
        return await asyncio.shield(self._run)


def health_router(
    checks: Mapping[str, Check],
    required: set[str],
    is_shutting_down: Callable[[], bool],
    reuse_s: float = READINESS_REUSE_S,
) -> APIRouter:
    """/healthz: the process answers. /readyz: every required dependency answers too, as
    checked at most `reuse_s` before the request (SharedChecks).

    A check not in `required` is reported but does not make the service unready.
    """
    router = APIRouter(tags=["health"])
    shared = SharedChecks(checks, reuse_s)

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz")
    async def readyz() -> JSONResponse:
        results = await shared.results()
        report = {
            name: "ok" if result is None else f"unavailable: {result!r}"
            for name, result in zip(checks, results, strict=True)
        }
        failed = [
            name
            for name, result in zip(checks, results, strict=True)
            if result is not None and name in required
        ]
        ready = not failed and not is_shutting_down()
        body = {"status": "ready" if ready else "not ready", "checks": report}
        return JSONResponse(body, status_code=200 if ready else 503)

    return router


class DrainingServer(uvicorn.Server):
    """On the first SIGTERM, report unready for `drain_s` while still serving, then shut down.

    Kubernetes removes a terminating pod from its Service concurrently with sending SIGTERM;
    answering for a few more seconds (with /readyz false) means no request arrives at a
    closed socket. Then uvicorn stops accepting, the app's `on_server_stop` hooks end the
    responses that never finish by themselves (live streams), uvicorn finishes in-flight
    requests, and the lifespan stops the workers (finish the current message, commit, close).
    A second signal skips the drain.
    """

    def __init__(self, config: uvicorn.Config, app: FastAPI, drain_s: float) -> None:
        super().__init__(config)
        self._draining: threading.Event = app.state.draining
        self._on_stop: list[Callable[[], None]] = app.state.on_server_stop
        self._drain_s = drain_s

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._draining.is_set() or self._drain_s <= 0:
            self._draining.set()
            super().handle_exit(sig, frame)
            return
        self._draining.set()
        log.info("draining", seconds=self._drain_s)
        timer = threading.Timer(self._drain_s, super().handle_exit, args=(sig, frame))
        timer.daemon = True
        timer.start()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for end_responses in self._on_stop:
            end_responses()
        await super().shutdown(sockets)


def serve(app: FastAPI, settings: FlareSettings) -> None:
    """Run one service until SIGTERM or SIGINT, then drain and shut down gracefully."""
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        timeout_graceful_shutdown=int(settings.shutdown_timeout_s),
        proxy_headers=True,
    )
    DrainingServer(config, app, settings.shutdown_drain_s).run()
