"""`make bench` (`python -m bench [--quick]`): the real system and its references on loopback,
measured side by side in one run; results in bench/results/."""

import argparse
import asyncio
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import report
from bench.receivers import Arrivals, chat_pages
from bench.seed import seed_cases
from bench.system import (
    Infrastructure,
    alertmanager_peer,
    ceiling,
    count,
    flare,
    infrastructure,
    kafka_control,
    notified_cases,
    page_every_team,
    partner_key,
    peak_rss_mib,
    responder_token,
    server_pids,
    settle,
    tree_cpu_seconds,
)
from tests.alertmanager import install_alertmanager
from tests.conftest import ROOT
from tests.e2e.processes import ServiceProcess, free_port

RESULTS = ROOT / "bench" / "results"
Spec = dict[str, Any]


@dataclass(frozen=True)
class Plan:
    """How much load each phase offers; every phase is bounded by count and by time."""

    saturate_s: float
    connections: int
    pipeline_requests: int
    pipeline_s: float
    partners: int
    kafka_messages: int
    latency_s: float
    outage_s: float
    growth_events: int
    small_cases: int
    large_cases: int


FULL = Plan(8, 32, 30_000, 30, 64, 30_000, 12, 15, 1_500, 10_000, 1_000_000)
QUICK = Plan(3, 32, 2_000, 10, 64, 5_000, 4, 5, 300, 2_000, 50_000)
LATENCY_SHARES = (0.25, 0.5, 0.75)
WARM_UP_EVENTS = 300
# The latency target's load: offered only when the pipeline can sustain it (else a backlog
# grows without bound and the figure says nothing but "it cannot keep up", said already).
TARGET_RATE = 1000
# Growth is measured at this offered rate (escalations/s), well below the pipeline's maximum.
GROWTH_RATE = 100
# The last cases' pages wait for the notifier's next timer poll and delivery: seconds.
PAGES_TIMEOUT_S = 120


class Bench:
    """One run: the system is up; each phase drives a load process and keeps its result."""

    def __init__(
        self,
        plan: Plan,
        infra: Infrastructure,
        services: dict[str, ServiceProcess],
        key: str,
        workdir: Path,
        pages: Arrivals,
    ) -> None:
        self.plan, self.infra, self.services, self.workdir = plan, infra, services, workdir
        self.pages = pages  # every case's page to its team's on-call, by case id
        self.intake = services["intake"].url + "/v1/escalations"
        self.headers = {"Authorization": f"Bearer {key}"}
        self.stream = {
            "ws_url": services["notifier"].url.replace("http://", "ws://") + "/v1/ws",
            "token": responder_token(),
        }
        self.accepted = 0  # every 202 of every phase, to compare with what is stored
        self.memory: dict[str, float] = {}  # peak RSS (MiB) of the peers, taken as they stop
        self.lost = self.duplicated = 0

    async def load(self, scenario: str, label: str, **spec: Any) -> dict[str, Any]:
        """Run one scenario in a separate load-generator process, once the system is idle (the
        pages of the last phase sent)."""
        await settle(self.infra.dsn)
        run = f"{scenario}-{uuid.uuid4().hex[:8]}"
        spec_file, result_file = self.workdir / f"{run}.json", self.workdir / f"{run}.out"
        spec_file.write_text(json.dumps({"scenario": scenario, "run": run, "label": label, **spec}))
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.scenarios", str(spec_file), str(result_file)
        )
        try:
            await process.wait()
        finally:
            if process.returncode is None:  # the bench was interrupted: so is its load
                process.send_signal(signal.SIGINT)
                await process.wait()
        if process.returncode != 0:
            raise RuntimeError(f"load scenario {scenario} failed")
        result: dict[str, Any] = json.loads(result_file.read_text())
        if spec.get("url") == self.intake:
            self.accepted += result.get("accepted", result.get("ok", 0))
            self.lost += result.get("lost", 0)
            self.duplicated += result.get("duplicated", 0)
        return result

    def flare_spec(self, **spec: Any) -> Spec:
        return {"url": self.intake, "headers": self.headers, "body": "escalation", **spec}

    async def pipeline(
        self, requests: int, duration_s: float, partners: int, label: str
    ) -> dict[str, Any]:
        return await self.load(
            "pipeline",
            label,
            **self.flare_spec(
                connections=partners,
                max_requests=requests,
                duration_s=duration_s,
                drain_timeout_s=120,
                **self.stream,
            ),
        )

    async def with_cpu(self, load: Awaitable[dict[str, Any]]) -> dict[str, Any]:
        """The load's result, with the CPU each process spent per escalation received
        meanwhile: the services, PostgreSQL (all its processes) and Kafka."""
        pids = {name: service.process.pid for name, service in self.services.items()}
        pids.update(await server_pids(self.infra))
        before = {name: tree_cpu_seconds(pid) for name, pid in pids.items()}
        result = await load
        received = max(1, result["received"])
        result["cpu_ms_per_escalation"] = {
            name: (tree_cpu_seconds(pid) - before[name]) / received * 1000
            for name, pid in pids.items()
        }
        return result

    async def growth(self, cases: int) -> dict[str, Any]:
        """Router CPU per 1,000 events with `cases` stored, all resolved; the other processes'
        beside it, PostgreSQL's above all: what the stored cases cost in queries shows there."""
        stored = await seed_cases(self.infra.dsn, cases)
        await settle(self.infra.dsn)
        # At a fixed offered rate, so both measurements see the same poll sizes: a poll's
        # fixed cost per event depends on how full it is, which is not what growth measures.
        result = await self.with_cpu(
            self.load(
                "latency",
                f"growth at {stored:,} cases",
                **self.flare_spec(
                    rate=GROWTH_RATE,
                    duration_s=self.plan.growth_events / GROWTH_RATE,
                    drain_timeout_s=120,
                    **self.stream,
                ),
            )
        )
        router = result["cpu_ms_per_escalation"]["router"]  # ms per event: s per 1,000 events
        return {"cases": stored, "events": result["received"], "cpu_per_1000": router, **result}

    async def saturate(self, url: str, body: str, label: str, **headers: str) -> dict[str, Any]:
        return await self.load(
            "saturate",
            label,
            url=url,
            body=body,
            headers=headers,
            connections=self.plan.connections,
            max_requests=1_000_000,
            duration_s=self.plan.saturate_s,
        )

    async def intake_phase(self, alertmanager: str) -> dict[str, Any]:
        """intake, the bare endpoint and Alertmanager, each alone on the machine's cores: the
        router and notifier are paused while intake is measured, and caught up afterwards.
        Each reference runs before intake and after it and keeps its faster run: a disturbance
        on the machine can only slow a reference down, and a slowed reference flatters Flare."""
        bare, peer = [await self.ceiling_run()], [await self.alertmanager_run(alertmanager, 1)]
        downstream = [self.services[name].process.pid for name in ("router", "notifier")]
        await settle(self.infra.dsn)  # paused, they could not finish what is left
        for pid in downstream:
            os.kill(pid, signal.SIGSTOP)
        try:
            intake = await self.saturate(self.intake, "escalation", "intake", **self.headers)
        finally:
            for pid in downstream:
                os.kill(pid, signal.SIGCONT)
        await settle(self.infra.dsn)
        bare.append(await self.ceiling_run())
        peer.append(await self.alertmanager_run(alertmanager, 2))
        faster = max(peer, key=lambda run: float(run["rate"]))
        self.memory[f"alertmanager after {faster['ok']:,} alerts"] = faster.pop("peak_rss_mib")
        return {
            "flare": intake,
            "ceiling": max(bare, key=lambda run: float(run["rate"])),
            "alertmanager": faster,
            "reference_rates": {
                "ceiling": [run["rate"] for run in bare],
                "alertmanager": [run["rate"] for run in peer],
            },
        }

    async def ceiling_run(self) -> dict[str, Any]:
        async with ceiling(self.infra.dsn, self.workdir) as (url, _):
            return await self.saturate(url + "/v1/escalations", "escalation", "ceiling")

    async def alertmanager_run(self, alertmanager: str, run: int) -> dict[str, Any]:
        """One saturation of a fresh Alertmanager (its own data directory), with its peak RSS."""
        workdir = self.workdir / f"am-intake-{run}"
        async with alertmanager_peer(alertmanager, workdir, None) as (url, am):
            result = await self.saturate(url + "/api/v2/alerts", "alert", "alertmanager")
            return {**result, "peak_rss_mib": peak_rss_mib(am.pid)}

    async def latency_phase(self, alertmanager: str, max_rate: float) -> list[dict[str, Any]]:
        rates = sorted({round(max_rate * share) for share in LATENCY_SHARES})
        if max_rate >= TARGET_RATE:
            rates.append(TARGET_RATE)
        webhook = free_port()
        levels = []
        async with alertmanager_peer(alertmanager, self.workdir / "am-latency", webhook) as peer:
            for rate in rates:
                common = {"rate": rate, "duration_s": self.plan.latency_s, "drain_timeout_s": 120}
                # Its CPU too: what one escalation costs when polls and commits are small.
                flare_level = await self.with_cpu(
                    self.load(
                        "latency", f"flare {rate}/s", **self.flare_spec(**common, **self.stream)
                    )
                )
                peer_level = await self.load(
                    "latency",
                    f"alertmanager {rate}/s",
                    url=peer[0] + "/api/v2/alerts",
                    body="alert",
                    headers={},
                    webhook_port=webhook,
                    **common,
                )
                levels.append({"rate": rate, "flare": flare_level, "alertmanager": peer_level})
            self.memory["alertmanager (latency phase)"] = peak_rss_mib(peer[1].pid)
        return levels

    async def drain_phase(self, intake_rate: float) -> dict[str, Any]:
        """A surge at half of what intake takes at saturation, while Kafka is down."""
        rate = round(intake_rate / 2)
        result = await self.load(
            "drain",
            f"Kafka down, {rate}/s",
            **self.flare_spec(
                rate=rate,
                outage_s=self.plan.outage_s,
                drain_timeout_s=300,
                **self.stream,
                **kafka_control(self.infra),
            ),
        )
        # The backlog's pages: no case opens while Kafka is down, and the phase before has
        # settled, so every page after the restart is about a case of the backlog.
        await settle(self.infra.dsn)
        kafka_up = result["kafka_up"]
        pages = [at for at in self.pages.first.values() if at >= kafka_up]
        pages_drain_s = max(pages, default=kafka_up) - kafka_up
        return {
            "outage_s": self.plan.outage_s,
            **result,
            "pages": len(pages),
            "pages_drain_s": pages_drain_s,
            "pages_drain_rate": len(pages) / pages_drain_s if pages_drain_s > 0 else 0.0,
        }

    async def run(self, alertmanager: str) -> dict[str, Any]:
        plan, dsn = self.plan, self.infra.dsn
        # Connections, compiled statements and the consumers' group joins are made on the first
        # events: they must not count against the first growth measurement.
        await self.pipeline(WARM_UP_EVENTS, 60, 32, "warm-up")
        small = await self.growth(plan.small_cases)
        intake = await self.intake_phase(alertmanager)
        pipeline = await self.with_cpu(
            self.pipeline(plan.pipeline_requests, plan.pipeline_s, plan.partners, "pipeline")
        )
        kafka = await self.load(
            "kafka_ceiling",
            "raw Kafka loop",
            bootstrap=self.infra.env.kafka,
            topic_in="ceiling.flare.escalations.received.v1",
            topic_out="ceiling.flare.cases.v1",
            count=plan.kafka_messages,
        )
        latency = await self.latency_phase(alertmanager, pipeline["rate"])
        drain = await self.drain_phase(intake["flare"]["rate"])
        large = await self.growth(plan.large_cases)
        await settle(dsn)
        stored = await count(dsn, "SELECT count(*) FROM intake.escalations")
        handled = await count(dsn, "SELECT count(*) FROM router.processed_events")
        cases = await notified_cases(dsn)  # each pages its team's on-call once
        await self.pages.wait_for(cases, PAGES_TIMEOUT_S)
        memory = {name: peak_rss_mib(s.process.pid) for name, s in self.services.items()}
        memory.update(self.memory)
        return {
            "intake": intake,
            "pipeline": {"flare": pipeline, "kafka_ceiling": kafka},
            "latency": latency,
            "drain": drain,
            "growth": {"small": small, "large": large},
            "memory": memory,
            "honesty": {
                "accepted": self.accepted,
                "stored": stored,
                "routed": handled,
                "missing": max(0, self.accepted - stored) + max(0, stored - handled),
                "lost": self.lost,
                "duplicated": self.duplicated,
                "cases": len(cases),
                "pages_missing": len(cases - self.pages.first.keys()),
                "pages_duplicated": self.pages.duplicates,
            },
        }


def others_running() -> list[str]:
    """Test runs and services of other people on this machine, which share its two cores."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            words = cmdline.read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        command = " ".join(words).strip()
        if "pytest" in command or ("services." in command and " serve" in command):
            found.append(command[:120])
    return found


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def machine_facts() -> dict[str, Any]:
    """Versions and hardware; called once PostgreSQL and Kafka are installed and up."""

    def output(*command: str) -> str:
        return subprocess.run(command, capture_output=True, text=True, check=False).stdout.strip()

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    dirty = bool(output("git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"))
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgres": output("/usr/lib/postgresql/15/bin/postgres", "--version"),
        "kafka": sorted(p.name for p in (ROOT / ".local/kafka/libs").glob("kafka_2*.jar")),
        "alertmanager": output("prometheus-alertmanager", "--version").splitlines()[0],
        "commit": output("git", "-C", str(ROOT), "rev-parse", "HEAD") + ("+dirty" if dirty else ""),
    }


async def bench(plan: Plan, infra: Infrastructure, alertmanager: str, workdir: Path) -> Any:
    key = await partner_key(infra.env)
    port = free_port()
    async with chat_pages(port) as pages:
        teams = await page_every_team(infra.dsn, f"http://127.0.0.1:{port}/")
        print(f"[bench] every team ({teams}) pages its on-call on the bench's chat webhook")
        async with flare(infra.env, workdir) as services:
            return await Bench(plan, infra, services, key, workdir, pages).run(alertmanager)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a small run, for development")
    quick = parser.parse_args().quick
    started = time.monotonic()
    alertmanager = install_alertmanager()
    if alertmanager is None:
        sys.exit(
            "[bench] FAILED: prometheus-alertmanager is missing and apt-get could not install it"
        )
    before = {"load_before": load_average(), "others_running_before": others_running()}
    work = ROOT / ".local" / "bench"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    with infrastructure() as infra:
        print(f"[bench] own PostgreSQL and Kafka up ({infra.env.kafka}); logs in {work}")
        facts = {**machine_facts(), **before}
        measured = asyncio.run(bench(QUICK if quick else FULL, infra, alertmanager, work))
    facts["load_after"] = load_average()
    facts["others_running_after"] = others_running()
    results = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "plan": "quick" if quick else "full",
        "duration_s": round(time.monotonic() - started),
        "machine": facts,
        **measured,
    }
    print(report.write(results, RESULTS / "quick" if quick else RESULTS))
    honesty = results["honesty"]
    failed = ("missing", "lost", "duplicated", "pages_missing", "pages_duplicated")
    if any(honesty[name] for name in failed):
        sys.exit(f"[bench] FAILED its honesty check: {honesty}")


if __name__ == "__main__":
    # SIGTERM (a CI runner's timeout, `kill`) stops the bench as Ctrl-C does: the KeyboardInterrupt
    # or the main task's cancellation runs every `finally` that stops what the bench started.
    signal.signal(signal.SIGTERM, lambda *_: signal.raise_signal(signal.SIGINT))
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("[bench] interrupted: all it started is stopped, its servers' data removed")
