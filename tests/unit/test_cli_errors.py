"""The admin command lines: the usual mistakes get one line and exit 1, not a traceback."""

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT


def admin(*arguments: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *arguments],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize(
    "command", [("services.intake", "partner", "list"), ("services.router", "team", "list")]
)
def test_a_database_that_does_not_answer_is_one_line(command: tuple[str, ...]) -> None:
    done = admin(*command, FLARE_DATABASE_URL="postgresql://flare:flare@127.0.0.1:1/flare")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("[flare] ")
    assert "ConnectionRefusedError" in done.stderr


def test_a_setting_that_does_not_validate_is_named_without_its_value() -> None:
    done = admin("services.router", "team", "list", FLARE_JWT_SECRET="too-short-secret")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "FLARE_JWT_SECRET: String should have at least 32 characters" in done.stderr
    assert "too-short-secret" not in done.stderr


def test_a_public_secret_is_refused_for_serving_beyond_loopback_not_for_admin_work() -> None:
    """The Kubernetes migrate Job has the pods' FLARE_HOST=0.0.0.0 and no token secret: it
    verifies no token and must run. A server there would take tokens anyone can mint."""
    served = admin("services.router", "serve", FLARE_HOST="0.0.0.0", FLARE_PORT="1")
    assert served.returncode == 1
    assert "FLARE_JWT_SECRET must be set to serve on 0.0.0.0" in served.stderr
    minted = admin("services.router", "token", "mint", "ana", FLARE_HOST="0.0.0.0")
    assert minted.returncode == 0, minted.stderr
