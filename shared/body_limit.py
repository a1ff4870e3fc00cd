"""The request body limit of every service: 413 problem+json before a large body is read."""

import copy
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.http import PROBLEM, Problem, amend_openapi, problem_response


class BodyLimit:
    """Reads at most `max_bytes` of a body before the app sees it: a declared Content-Length
    over the limit is refused unread, a streamed body the moment it passes the limit. The app
    then gets the buffered body, so no layer below can be made to hold more than the limit.

    Not FastAPI's `max_body_size` (Starlette's RequestBodyLimitMiddleware): it checks only when
    the route reads the body or starts its response, so a route that takes no body runs first
    and its answer is replaced, and its 413 for a declared Content-Length is text/plain."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        buffered: list[Message] = []
        size, more = 0, True
        while more:
            message = await receive()
            buffered.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            more = message.get("more_body", False)
            if size > self.max_bytes:
                await self._refuse(scope, receive, send)
                return

        async def replay() -> Message:
            return buffered.pop(0) if buffered else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        problem = Problem(413, f"The request body is larger than {self.max_bytes} bytes.")
        await problem_response(problem)(scope, receive, send)


def document_body_limit(app: FastAPI, max_bytes: int) -> None:
    """List the limit's 413 among the responses of every operation that takes a body, in the
    app's OpenAPI spec, with the limit the app runs with."""
    description = f"The body is larger than {max_bytes} bytes (FLARE_MAX_BODY_BYTES)."

    def amend(spec: dict[str, Any]) -> None:
        for operations in spec["paths"].values():
            for operation in operations.values():
                if "requestBody" in operation:
                    too_large = {"description": description, **copy.deepcopy(PROBLEM)}
                    responses = operation["responses"] | {"413": too_large}
                    operation["responses"] = dict(sorted(responses.items()))

    amend_openapi(app, amend)
