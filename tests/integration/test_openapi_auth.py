"""The router's and the notifier's OpenAPI pages say how to authenticate (a bearer responder
token: `/docs` gets its Authorize button) and which problems each operation may answer; every
service's says a 422 is a problem."""

from typing import Any

import pytest

from services.intake.app import create_app as intake_app
from services.intake.settings import IntakeSettings
from services.notifier.app import create_app as notifier_app
from services.notifier.settings import NotifierSettings
from services.router.app import create_app as router_app
from services.router.settings import RouterSettings
from tests.conftest import FlareEnv

HEALTH = {"/healthz", "/readyz", "/metrics"}


def operations(schema: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method, path): operation
        for path, item in schema["paths"].items()
        if path not in HEALTH
        for method, operation in item.items()
    }


@pytest.mark.parametrize("service", ["router", "notifier"])
def test_every_operation_names_the_bearer_token_and_its_401_and_403(
    flare_env: FlareEnv, service: str
) -> None:
    app = (
        router_app(flare_env.settings(RouterSettings))
        if service == "router"
        else notifier_app(flare_env.settings(NotifierSettings))
    )
    schema = app.openapi()
    assert schema["components"]["securitySchemes"]["ResponderToken"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "A responder token: `python -m services.router token mint`.",
    }
    for (method, path), operation in operations(schema).items():
        if path == "/v1/stream":  # the token may come as ?token= (browsers cannot set headers)
            assert "401" in operation["responses"]
            continue
        assert operation.get("security") == [{"ResponderToken": []}], (method, path)
        assert {"401", "403"} <= set(operation["responses"]), (method, path)


def test_the_case_actions_name_their_404_and_409(flare_env: FlareEnv) -> None:
    cases = operations(router_app(flare_env.settings(RouterSettings)).openapi())
    for action in ("acknowledge", "resolve", "reassign", "notes"):
        responses = cases[("post", f"/v1/cases/{{case_id}}/{action}")]["responses"]
        assert {"404", "409"} <= set(responses), action
    assert "404" in cases[("get", "/v1/cases/{case_id}")]["responses"]


def test_the_notifiers_operations_on_an_id_name_their_404(flare_env: FlareEnv) -> None:
    notifier = operations(notifier_app(flare_env.settings(NotifierSettings)).openapi())
    for operation in (
        ("get", "/v1/cases/{case_id}"),
        ("delete", "/v1/subscriptions/{subscription_id}"),
        ("post", "/v1/deliveries/{delivery_id}/redeliver"),
    ):
        assert "404" in notifier[operation]["responses"], operation
    assert "409" in notifier[("post", "/v1/deliveries/{delivery_id}/redeliver")]["responses"]


def test_every_422_is_documented_as_the_problem_it_is(flare_env: FlareEnv) -> None:
    """Not FastAPI's own application/json HTTPValidationError, which no Flare service sends."""
    schemas = [
        intake_app(flare_env.settings(IntakeSettings)).openapi(),
        router_app(flare_env.settings(RouterSettings)).openapi(),
        notifier_app(flare_env.settings(NotifierSettings)).openapi(),
    ]
    for schema in schemas:
        invalid = {
            key: operation["responses"]["422"]
            for key, operation in operations(schema).items()
            if "422" in operation["responses"]
        }
        assert invalid, schema["info"]["title"]
        for key, response in invalid.items():
            assert list(response["content"]) == ["application/problem+json"], key
        assert {"HTTPValidationError", "ValidationError"}.isdisjoint(
            schema["components"]["schemas"]
        )
