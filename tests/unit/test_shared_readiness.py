"""/readyz runs its checks at most once per reuse window, however many ask at once."""

import asyncio

import httpx
from fastapi import FastAPI

from shared.http import SharedChecks, health_router


class CountedCheck:
    """A check that counts its runs and holds each until released."""

    def __init__(self) -> None:
        self.runs = 0
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def __call__(self) -> None:
        self.runs += 1
        self.entered.set()
        await self.release.wait()


def client_of(check: CountedCheck, reuse_s: float) -> httpx.AsyncClient:
    app = FastAPI()
    app.include_router(health_router({"kafka": check}, {"kafka"}, lambda: False, reuse_s))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://flare")


async def test_requests_at_once_and_within_the_window_share_one_run_of_the_checks() -> None:
    check = CountedCheck()
    async with client_of(check, reuse_s=60) as client:
        asked = [asyncio.create_task(client.get("/readyz")) for _ in range(20)]
        await check.entered.wait()
        check.release.set()
        answers = await asyncio.gather(*asked)
        later = await client.get("/readyz")
    assert [answer.status_code for answer in [*answers, later]] == [200] * 21
    assert check.runs == 1


async def test_a_request_after_the_window_runs_the_checks_again() -> None:
    check = CountedCheck()
    check.release.set()
    async with client_of(check, reuse_s=0) as client:
        for _ in range(3):
            assert (await client.get("/readyz")).status_code == 200
    assert check.runs == 3


async def test_a_caller_during_a_run_shares_it_whatever_the_window() -> None:
    check = CountedCheck()
    shared = SharedChecks({"kafka": check}, reuse_s=0)
    first = asyncio.create_task(shared.results())
    await check.entered.wait()
    second = asyncio.create_task(shared.results())
    await asyncio.sleep(0)  # the second caller asks while the first run is under way
    check.release.set()
    assert list(await asyncio.gather(first, second)) == [[None], [None]]
    assert check.runs == 1
