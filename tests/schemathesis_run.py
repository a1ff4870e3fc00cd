"""schemathesis over a served OpenAPI: valid and invalid requests alike must never produce a
server error."""

import asyncio
import subprocess
import sys
from pathlib import Path

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"


async def assert_no_server_error(
    url: str, authorization: str, cwd: Path, *options: str, max_examples: int = 60
) -> None:
    """Run schemathesis against `url`'s /openapi.json with that Authorization header."""
    run = await asyncio.to_thread(
        subprocess.run,
        [
            *(str(SCHEMATHESIS), "run", f"{url}/openapi.json"),
            *("--checks", "not_a_server_error", "--max-examples", str(max_examples)),
            # One worker: schemathesis's threads can trip CPython 3.11's AST constructor
            # ("SystemError: AST constructor recursion depth mismatch"), a failure of the tool.
            *("--seed", "4", "--header", f"Authorization: {authorization}", "--workers", "1"),
            *("--request-timeout", "10", "--no-color", *options),
        ],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
