"""Idempotency-Key: a repeat answers the first receipt and stores nothing; another body is 409;
a key is kept at least 24 hours; dedup_key never rejects."""

import asyncio

from services.intake.schemas import EXAMPLE_ESCALATION
from tests.conftest import FlareEnv
from tests.intake_support import partner_session
from tests.integration.conftest import fetch
from tests.kafka_reader import read_topic


async def test_same_idempotency_key_same_body_answers_the_first_receipt(
    flare_env: FlareEnv,
) -> None:
    async with partner_session(flare_env) as partner:
        first = await partner.post(**{"Idempotency-Key": "report-1"})
        # Same meaning, other bytes: key order does not make a body different.
        reordered = dict(reversed(list(EXAMPLE_ESCALATION.items())))
        again = await partner.post(reordered, **{"Idempotency-Key": "report-1"})
        records = await read_topic(flare_env.kafka, flare_env.topics.escalations, expected=1)
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    assert len(await fetch(flare_env, "SELECT 1 FROM intake.escalations")) == 1
    assert len(records) == 1


async def test_same_idempotency_key_other_body_is_409(flare_env: FlareEnv) -> None:
    async with partner_session(flare_env) as partner:
        first = await partner.post(**{"Idempotency-Key": "report-1"})
        other = await partner.post(
            {**EXAMPLE_ESCALATION, "title": "Another report"}, **{"Idempotency-Key": "report-1"}
        )
    assert first.status_code == 202
    assert other.status_code == 409
    assert other.headers["content-type"] == "application/problem+json"
    assert len(await fetch(flare_env, "SELECT 1 FROM intake.escalations")) == 1


async def test_racing_repeats_of_one_key_store_one_escalation(flare_env: FlareEnv) -> None:
    async with partner_session(flare_env) as partner:
        responses = await asyncio.gather(
            *(partner.post(**{"Idempotency-Key": "burst"}) for _ in range(8))
        )
    assert {response.status_code for response in responses} == {202}
    assert len({response.json()["id"] for response in responses}) == 1
    assert len(await fetch(flare_env, "SELECT 1 FROM intake.escalations")) == 1


async def test_a_key_is_kept_24_hours_and_reusable_after(flare_env: FlareEnv) -> None:
    async with partner_session(flare_env) as partner:
        first = await partner.post(**{"Idempotency-Key": "daily"})
        await fetch(
            flare_env,
            "UPDATE intake.idempotency_keys SET created_at = now() - interval '1439 minutes'",
        )
        within_a_day = await partner.post(**{"Idempotency-Key": "daily"})
        await fetch(
            flare_env, "UPDATE intake.idempotency_keys SET created_at = now() - interval '25 hours'"
        )
        after_a_day = await partner.post(**{"Idempotency-Key": "daily"})
    assert within_a_day.json()["id"] == first.json()["id"]
    assert after_a_day.status_code == 202
    assert after_a_day.json()["id"] != first.json()["id"]


async def test_idempotency_keys_belong_to_one_partner(flare_env: FlareEnv) -> None:
    async with partner_session(flare_env) as partner:
        mine = await partner.post(**{"Idempotency-Key": "shared-name"})
    # A second partner using the same key string reports its own escalation.
    async with partner_session(flare_env, name="other") as other:
        theirs = await other.post(**{"Idempotency-Key": "shared-name"})
    assert theirs.status_code == 202
    assert theirs.json()["id"] != mine.json()["id"]


async def test_repeated_dedup_key_is_accepted_each_time_and_passed_on(flare_env: FlareEnv) -> None:
    async with partner_session(flare_env) as partner:
        statuses = [(await partner.post()).status_code for _ in range(2)]
        records = await read_topic(flare_env.kafka, flare_env.topics.escalations, expected=2)
    assert statuses == [202, 202]
    assert [record.key for record in records] == [b"dedup:video:123"] * 2
