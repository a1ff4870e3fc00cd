"""Partners and keys: the admin CLI prints a key once and stores only its hash; every partner
endpoint checks the Bearer key; a partner sees only its own escalations."""

import asyncio
import hashlib
import os
import subprocess
import sys

import httpx

from services.intake.schemas import EXAMPLE_ESCALATION
from tests.conftest import FlareEnv
from tests.intake_support import PartnerClient, intake_app, new_partner
from tests.integration.conftest import fetch, running


async def admin(env: FlareEnv, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m services.intake partner ...` as an operator runs it."""
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "services.intake", "partner", *args],
        env={**os.environ, **env.service_env()},
        capture_output=True,
        text=True,
        check=False,
    )


def printed_key(result: subprocess.CompletedProcess[str]) -> str:
    """The key, from stdout, which holds the command's output alone: its log is on stderr, so
    `partner create ... > file` hands the secret store nothing else."""
    assert result.returncode == 0, result.stderr
    partner, _, key = result.stdout.splitlines()
    assert partner.startswith("partner: "), result.stdout
    assert key.startswith("api_key: "), result.stdout
    assert '"event": "partner_' in result.stderr
    return key.removeprefix("api_key: ")


async def post_with(http: httpx.AsyncClient, key: str) -> int:
    response = await http.post(
        "/v1/escalations", json=EXAMPLE_ESCALATION, headers={"Authorization": f"Bearer {key}"}
    )
    return int(response.status_code)


async def test_admin_cli_creates_rotates_and_disables_keys_stored_only_as_hashes(
    flare_env: FlareEnv,
) -> None:
    created = await admin(
        flare_env, "create", "safenet", "--reporter-type", "trusted_flagger", "--rate-limit", "50"
    )
    first_key = printed_key(created)
    assert "safenet" not in first_key
    stored = await fetch(flare_env, "SELECT * FROM intake.partners")
    assert [row["key_hash"] for row in stored] == [hashlib.sha256(first_key.encode()).hexdigest()]
    assert first_key not in str([dict(row) for row in stored]), "the key itself is never stored"
    assert (await admin(flare_env, "create", "safenet")).returncode == 1, "names are unique"
    assert (await admin(flare_env, "create", " spaced out")).returncode == 1

    async with running(intake_app(flare_env)) as http:
        assert await post_with(http, first_key) == 202
        second_key = printed_key(await admin(flare_env, "rotate-key", "safenet"))
        assert await post_with(http, first_key) == 401, "the old key stops at once"
        assert await post_with(http, second_key) == 202
        assert (await admin(flare_env, "disable", "safenet")).returncode == 0
        assert await post_with(http, second_key) == 401

    listed = await admin(flare_env, "list")
    assert listed.returncode == 0
    assert "safenet" in listed.stdout
    assert "trusted_flagger\t50\tdisabled" in listed.stdout
    assert first_key not in listed.stdout
    assert second_key not in listed.stdout
    assert (await admin(flare_env, "rotate-key", "nobody")).returncode == 1


async def test_a_partner_sees_its_own_escalation_and_another_partners_is_404(
    flare_env: FlareEnv,
) -> None:
    owner = await new_partner(flare_env, "owner")
    stranger = await new_partner(flare_env, "stranger")
    async with running(intake_app(flare_env)) as http:
        mine, theirs = PartnerClient(http, owner), PartnerClient(http, stranger)
        escalation_id = (await mine.post()).json()["id"]
        own_view = await mine.get(escalation_id)
        stranger_view = await theirs.get(escalation_id)
        unknown = await mine.get("00000000-0000-0000-0000-000000000000")
        anonymous = await http.get(f"/v1/escalations/{escalation_id}")
    assert own_view.status_code == 200
    assert own_view.json()["status"] == "accepted"
    assert own_view.json()["escalation"]["title"] == EXAMPLE_ESCALATION["title"]
    assert stranger_view.status_code == 404
    assert stranger_view.headers["content-type"] == "application/problem+json"
    assert stranger_view.json()["detail"] == unknown.json()["detail"], "indistinguishable"
    assert unknown.status_code == 404
    assert anonymous.status_code == 401
