"""schemathesis over intake's OpenAPI, served for real with a valid partner key: valid and
invalid requests alike must never produce a server error."""

from pathlib import Path

from shared.events import ReporterType
from tests.conftest import FlareEnv
from tests.intake_support import intake_app, new_partner
from tests.integration.conftest import serving
from tests.schemathesis_run import assert_no_server_error


async def test_schemathesis_finds_no_server_error_in_intakes_openapi(
    flare_env: FlareEnv, tmp_path: Path
) -> None:
    # A partner of every reporter type the examples may use would be guesswork: schemathesis
    # reaches validation with this key, and the other type gets a 422, not a 5xx.
    key = await new_partner(flare_env, "fuzzer", ReporterType.TRUSTED_FLAGGER)
    async with serving(intake_app(flare_env)) as url:
        await assert_no_server_error(url, f"Bearer {key.api_key}", tmp_path)
