"""The bench's verdicts and outputs: the checks against every target, the Markdown table, the
JSON record and the plot."""

import json
import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt

from bench.stats import Check, absolute, at_least, at_most

Results = dict[str, Any]
LATENCY_P50_MS, LATENCY_P99_MS, TARGET_RATE = 15.0, 100.0, 1000.0


def checks(results: Results) -> list[Check]:
    intake, pipeline, drain = results["intake"], results["pipeline"], results["drain"]
    found = [
        at_least(
            "intake accepts/s",
            intake["flare"]["rate"],
            intake["ceiling"]["rate"],
            "bare endpoint",
            0.9,
        ),
        at_least(
            "intake accepts/s",
            intake["flare"]["rate"],
            intake["alertmanager"]["rate"],
            "Alertmanager",
            1.0,
        ),
        at_least(
            "pipeline escalations/s",
            pipeline["flare"]["rate"],
            pipeline["kafka_ceiling"]["rate"],
            "raw aiokafka loop",
            0.3,
        ),
        absolute("pipeline escalations/s", pipeline["flare"]["rate"], TARGET_RATE, True, "/s"),
    ]
    for level in results["latency"]:
        found.append(
            at_most(
                f"p99 POST->alert at {level['rate']:,.0f}/s",
                level["flare"]["p99_ms"],
                level["alertmanager"]["p99_ms"],
                "Alertmanager p99",
                0.1,
            )
        )
    # Not offered when the pipeline cannot sustain it: then the target is missed, not skipped.
    at_target = {"p50_ms": math.nan, "p99_ms": math.nan}
    for level in results["latency"]:
        if level["rate"] == TARGET_RATE:
            at_target = level["flare"]
    load = f"{TARGET_RATE:,.0f}/s"
    found.append(absolute(f"p50 at {load}", at_target["p50_ms"], LATENCY_P50_MS, False, "ms"))
    found.append(absolute(f"p99 at {load}", at_target["p99_ms"], LATENCY_P99_MS, False, "ms"))
    # Drained when every alert is on the WebSocket; and when every page is out.
    for what, rate in (("alerts", drain["drain_rate"]), ("pages", drain["pages_drain_rate"])):
        outage = drain["intake_rate"]
        found.append(at_least(f"backlog drain, {what}/s", rate, outage, "intake in outage", 2.0))
    growth = results["growth"]
    found.append(
        at_most(
            "router CPU s / 1000 events",
            growth["large"]["cpu_per_1000"],
            growth["small"]["cpu_per_1000"],
            f"same at {growth['small']['cases']:,} cases",
            1.2,
        )
    )
    for name, mib in results["memory"].items():
        if name in ("intake", "router", "notifier"):
            found.append(absolute(f"peak RSS {name}", mib, 200, False, "MiB"))
    honesty = results["honesty"]
    found.append(absolute("accepted but not stored", honesty["missing"], 0, False, ""))
    found.append(absolute("alerts lost", honesty["lost"], 0, False, ""))
    found.append(absolute("alerts duplicated", honesty["duplicated"], 0, False, ""))
    found.append(absolute("pages missing", honesty["pages_missing"], 0, False, ""))
    found.append(absolute("pages duplicated", honesty["pages_duplicated"], 0, False, ""))
    return found


def _number(value: float | None) -> str:
    if value is None:
        return ""
    if math.isnan(value):
        return "n/a"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def table(results: Results) -> str:
    lines = [
        "| measure | Flare | reference | ratio | target | met |",
        "|---|---:|---|---:|---|:-:|",
    ]
    for check in checks(results):
        reference = (
            f"{_number(check.reference)} ({check.reference_name})" if check.reference else ""
        )
        ratio = f"{check.value:.2f}x" if check.reference is not None else ""
        lines.append(
            f"| {check.name} | {_number(check.flare)} {check.unit} | {reference} | {ratio} "
            f"| {check.target} | {'yes' if check.met else '**no**'} |"
        )
    return "\n".join(lines)


def details(results: Results) -> str:
    """The figures behind the checks that the table does not show."""
    intake = results["intake"]
    rows = ["| intake at saturation | accepted/s | p50 ms | p99 ms |", "|---|---:|---:|---:|"]
    for name in ("flare", "ceiling", "alertmanager"):
        found = intake[name]
        rows.append(
            f"| {name} | {found['rate']:,.0f} | {found['p50_ms']:.1f} | {found['p99_ms']:.1f} |"
        )
    runs = intake["reference_rates"]
    rows += [
        "",
        "Each reference ran before intake and after it; the table keeps its faster run "
        f"(ceiling {' and '.join(f'{rate:,.0f}' for rate in runs['ceiling'])}/s, Alertmanager "
        f"{' and '.join(f'{rate:,.0f}' for rate in runs['alertmanager'])}/s).",
    ]
    rows += [
        "",
        "| POST->alert at | Flare p50 / p95 / p99 ms | Alertmanager p50 / p95 / p99 ms "
        "| Flare CPU ms per escalation |",
        "|---|---|---|---:|",
    ]
    for level in results["latency"]:
        flare, peer = level["flare"], level["alertmanager"]
        rows.append(
            f"| {level['rate']:,.0f}/s | {flare['p50_ms']:.1f} / {flare['p95_ms']:.1f} / "
            f"{flare['p99_ms']:.1f} | {peer['p50_ms']:.1f} / {peer['p95_ms']:.1f} / "
            f"{peer['p99_ms']:.1f} | {_cpu_total(flare):.1f} |"
        )
    drain = results["drain"]
    rows += [
        "",
        f"Backlog: {drain['backlog']:,} escalations accepted during a {drain['outage_s']:.0f} s "
        f"Kafka outage at {drain['intake_rate']:,.0f}/s; Kafka took "
        f"{drain['kafka_restart_s']:.1f} s to restart. Then every alert of the backlog was on "
        f"the WebSocket in {drain['drain_s']:.1f} s ({drain['drain_rate']:,.0f}/s), and every "
        f"page in {drain['pages_drain_s']:.1f} s ({drain['pages']:,} pages, "
        f"{drain['pages_drain_rate']:,.0f}/s). Both are timed from the broker's first answer "
        "after the restart (probed every 50 ms).",
        "",
        f"Pages: every one of the {results['honesty']['cases']:,} cases the notifier saw paged "
        "its team's on-call on the bench's chat webhook (a one-step escalation policy per team); "
        f"{results['honesty']['pages_missing']:,} pages missing, "
        f"{results['honesty']['pages_duplicated']:,} duplicated.",
        "",
        "Peak RSS (MiB): "
        + ", ".join(f"{name} {mib:.0f}" for name, mib in results["memory"].items()),
    ]
    small, large = results["growth"]["small"], results["growth"]["large"]
    rows += [
        "",
        f"Growth, CPU s per 1,000 events with {small['cases']:,} and with {large['cases']:,} "
        "cases stored: "
        + ", ".join(
            f"{name} {ms:.2f} / {large['cpu_ms_per_escalation'][name]:.2f}"
            for name, ms in small["cpu_ms_per_escalation"].items()
        )
        + ". The check is the router's; PostgreSQL's shows what the stored cases cost in queries.",
    ]
    pipeline = results["pipeline"]["flare"]
    rows += [
        "",
        f"CPU per escalation in the pipeline phase (ms): {_cpu_total(pipeline):.1f}, of which "
        + ", ".join(f"{name} {ms:.1f}" for name, ms in pipeline["cpu_ms_per_escalation"].items())
        + ". The POST->alert column is the same sum at each lower load: the services, "
        "PostgreSQL and Kafka together.",
    ]
    return "\n".join(rows)


def _cpu_total(result: dict[str, Any]) -> float:
    """CPU ms per escalation of every process of the system (services, PostgreSQL, Kafka)."""
    return float(sum(result["cpu_ms_per_escalation"].values()))


def markdown(results: Results) -> str:
    machine = results["machine"]
    return "\n".join(
        [
            f"## Bench run {results['date']}",
            "",
            f"Commit `{machine['commit']}`, {machine['cores']} cores ({machine['cpu']}), "
            f"load average before the run {machine['load_before']}, after {machine['load_after']}; "
            f"other test runs or services on the machine: "
            f"{len(machine['others_running_before'])} processes at the start, "
            f"{len(machine['others_running_after'])} at the end.",
            "",
            table(results),
            "",
            details(results),
            "",
        ]
    )


def plot(results: Results, path: Path) -> None:
    figure, (latency, throughput) = plt.subplots(1, 2, figsize=(12, 4.5))
    rates = [level["rate"] for level in results["latency"]]
    for system, style in (("flare", "-o"), ("alertmanager", "--s")):
        for q in (50, 99):
            values = [level[system][f"p{q}_ms"] for level in results["latency"]]
            latency.plot(rates, values, style, label=f"{system} p{q}")
    latency.set(
        xlabel="offered load (items/s)",
        ylabel="POST -> alert (ms)",
        yscale="log",
        title="End-to-end latency vs offered load",
    )
    latency.legend()
    bars = {
        "intake": results["intake"]["flare"]["rate"],
        "bare\nendpoint": results["intake"]["ceiling"]["rate"],
        "Alertmanager\n(POST)": results["intake"]["alertmanager"]["rate"],
        "pipeline": results["pipeline"]["flare"]["rate"],
        "raw Kafka\nloop": results["pipeline"]["kafka_ceiling"]["rate"],
        "drain\n(alerts)": results["drain"]["drain_rate"],
        "drain\n(pages)": results["drain"]["pages_drain_rate"],
    }
    colours = ["C0", "C7", "C1", "C0", "C7", "C0", "C0"]
    throughput.bar(list(bars), list(bars.values()), color=colours)
    # Log scale: the references are tens of times Flare's figures, which must stay readable.
    throughput.set(ylabel="items/s", yscale="log", title="Throughput per scenario")
    throughput.tick_params(axis="x", labelsize=8)
    for position, value in enumerate(bars.values()):
        throughput.annotate(f"{value:,.0f}", (position, value), ha="center", va="bottom")
    figure.suptitle(f"Flare bench {results['date']} ({results['machine']['commit'][:10]})")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def write(results: Results, directory: Path) -> str:
    """bench/results/<date>.json, latest.md and latest.png; returns the Markdown."""
    directory.mkdir(parents=True, exist_ok=True)
    results["checks"] = [check.__dict__ for check in checks(results)]
    (directory / f"{results['date'][:10]}.json").write_text(json.dumps(results, indent=2) + "\n")
    text = markdown(results)
    (directory / "latest.md").write_text(text)
    plot(results, directory / "latest.png")
    return text
