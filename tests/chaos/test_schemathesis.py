"""schemathesis over the router's and the notifier's OpenAPI, served by the running processes
with an admin's token (intake's runs in tests/integration): no server error."""

from pathlib import Path

import pytest

from shared.auth import Role
from tests.chaos.system import Load, flare_running, settle
from tests.chaos.table import Row
from tests.conftest import FlareEnv
from tests.integration.notifier_peers import token
from tests.schemathesis_run import assert_no_server_error

pytestmark = [pytest.mark.chaos("schemathesis"), pytest.mark.slow]


async def test_schemathesis_finds_no_server_error_in_the_routers_and_notifiers_openapi(
    flare_env: FlareEnv, tmp_path: Path, chaos_row: Row
) -> None:
    async with flare_running(flare_env, tmp_path) as flare:
        load = Load(flare, "schemathesis")
        await load.run(5)  # a few cases to act on
        await settle(flare, load, chaos_row)
        admin = f"Bearer {token(Role.ADMIN)}"
        router = flare.running("router")[0].url
        await assert_no_server_error(router, admin, tmp_path)
        notifier = flare.running("notifier")[0].url
        # The live streams never end: they are for clients, not for a request-response fuzzer.
        streams = ("--exclude-path", "/v1/stream", "--exclude-path", "/v1/ws")
        await assert_no_server_error(notifier, admin, tmp_path, *streams)
