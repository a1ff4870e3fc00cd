"""schemathesis over intake's OpenAPI, served for real with a valid partner key: valid and
invalid requests alike must never produce a server error."""

import asyncio
import subprocess
import sys
from pathlib import Path

from shared.events import ReporterType
from tests.conftest import FlareEnv
from tests.intake_support import intake_app, new_partner
from tests.integration.conftest import serving

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"


async def test_schemathesis_finds_no_server_error_in_intakes_openapi(
    flare_env: FlareEnv, tmp_path: Path
) -> None:
    # A partner of every reporter type the examples may use would be guesswork: schemathesis
    # reaches validation with this key, and the other type gets a 422, not a 5xx.
    key = await new_partner(flare_env, "fuzzer", ReporterType.TRUSTED_FLAGGER)
    async with serving(intake_app(flare_env)) as url:
        run = await asyncio.to_thread(
            subprocess.run,
            [
                *(str(SCHEMATHESIS), "run", f"{url}/openapi.json"),
                *("--checks", "not_a_server_error", "--max-examples", "60", "--seed", "4"),
                *("--header", f"Authorization: Bearer {key.api_key}", "--workers", "2"),
                *("--request-timeout", "10", "--no-color"),
            ],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            check=False,
        )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
