"""RESULTS.md and throughput.png from a list of measurements.

One section per goal of issue 11 (goals.py), each with its verdict in the table at the top,
and the session's calibration (calibration.py); every table shows medians and lists every
single run below it, so a reader can see the spread and not only the summary.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from benchmarks.calibration import calibration_section
from benchmarks.goals import (
    bound_section,
    cpu_section,
    idle_section,
    machine_limit,
    memory_section,
    resume_section,
    scaling_section,
)
from benchmarks.measurements import (
    BULKLOAD,
    Measurement,
    ReportContext,
    ResumeResult,
    api_bound_records_per_s,
    cases,
    select,
)
from benchmarks.tables import format_of, latency_ms_of, med, verdict_table

__all__ = ["ReportContext", "load_results", "render_markdown", "save_results", "write_report"]


def render_markdown(
    context: ReportContext, measurements: Sequence[Measurement], resume: ResumeResult | None
) -> str:
    cpu_lines, cpu_verdicts, cpu_other = cpu_section(measurements, context)
    idle_lines, idle_verdicts = idle_section(measurements)
    bound_lines, bound_verdicts = bound_section(measurements)
    scaling_lines, scaling_verdicts = scaling_section(measurements, context)
    memory_lines, memory_verdicts = memory_section(measurements)
    resume_lines, resume_verdicts = resume_section(resume)
    calibration_lines = calibration_section(measurements, context)
    goals = cpu_verdicts + idle_verdicts + bound_verdicts + scaling_verdicts + memory_verdicts
    failed_runs = [m for m in measurements if not m.ok]

    lines = [
        f"# bulkload benchmark results ({context.mode})",
        "",
        f"- Date: {context.started_at} (took {context.duration_s:.0f} s)",
        f"- Command: `{context.command}`",
        *(f"- {key}: {value}" for key, value in context.machine.items()),
        "",
    ]
    if context.method_notes:
        lines += ["Method notes:", "", *(f"- {note}" for note in context.method_notes), ""]
    lines += [
        "## Goals of issue 11",
        "",
        "Each verdict judges the figure measured on this machine today. The last column scales",
        "that figure to the machine the issue's figures came from (see 'Calibration') and says",
        "whether it would be within the goal there: an estimate, labelled as one; the verdict",
        "column is always the absolute figure's.",
        "",
        *verdict_table(goals),
        "",
    ]
    other = cpu_other + resume_verdicts
    if other:
        lines += ["Earlier targets (issue 4):", "", *verdict_table(other), ""]
    if failed_runs:
        lines += [
            f"**{len(failed_runs)} run(s) did not ingest every record or exited non-zero**; their figures are",
            "kept in the tables but should be read with that in mind.",
            "",
        ]
    lines += cpu_lines + idle_lines + bound_lines + scaling_lines + memory_lines
    lines += calibration_lines + resume_lines
    if context.profile_text:
        lines += [
            "## Where the loader's CPU goes (0 ms latency)",
            "",
            "```",
            context.profile_text.rstrip(),
            "```",
            "",
        ]
    return "\n".join(lines).rstrip() + "\n"


def _throughput_points(measurements: Sequence[Measurement], fmt: str) -> list[tuple[float, float]]:
    points = []
    for scenario in ("idle", "bound"):
        for case in cases(measurements, scenario):
            latency = latency_ms_of(case)
            if format_of(case) != fmt or latency <= 0:
                continue
            rate = med(
                select(measurements, scenario=scenario, case=case, tool=BULKLOAD),
                lambda m: m.records_per_s,
            )
            if rate is not None:
                points.append((latency, rate))
    return sorted(points)


def plot_throughput(measurements: Sequence[Measurement], path: Path, title: str) -> bool:
    """Throughput against latency, with the API bound as a line; False when nothing to plot."""
    series = {fmt: _throughput_points(measurements, fmt) for fmt in ("jsonl", "csv")}
    latencies = sorted({x for points in series.values() for x, _ in points})
    if not latencies:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5))
    span = [latencies[0] * 0.8, latencies[-1] * 1.25]
    grid = [span[0] * (span[1] / span[0]) ** (i / 50) for i in range(51)]
    axes.plot(
        grid,
        [api_bound_records_per_s(x) for x in grid],
        "k--",
        label="API bound (30 × 500 / latency)",
    )
    colors = {"jsonl": "tab:blue", "csv": "tab:green"}
    for fmt, points in series.items():
        at_zero = machine_limit(measurements, fmt)
        if at_zero is not None:
            # With no latency the machine is the limit: the ceiling any latency can reach.
            axes.axhline(
                at_zero,
                color=colors[fmt],
                linestyle=":",
                label=f"bulkload {fmt} at 0 ms (machine limit)",
            )
        if points:
            axes.plot(
                [x for x, _ in points],
                [y for _, y in points],
                "o-",
                color=colors[fmt],
                label=f"bulkload {fmt} (median)",
            )
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("emulated API latency (ms)")
    axes.set_ylabel("records ingested per second")
    axes.set_title(title)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return True


def save_results(
    path: Path,
    context: ReportContext,
    measurements: Sequence[Measurement],
    resume: ResumeResult | None,
) -> None:
    """Everything a report is made from, so it can be rewritten without running again."""
    raw = {
        "context": asdict(context),
        "measurements": [asdict(m) for m in measurements],
        "resume": asdict(resume) if resume else None,
    }
    path.write_text(json.dumps(raw, indent=1) + "\n", encoding="utf-8")


def load_results(path: Path) -> tuple[ReportContext, list[Measurement], ResumeResult | None]:
    raw = json.loads(path.read_text(encoding="utf-8"))
    resume = ResumeResult(**raw["resume"]) if raw.get("resume") else None
    measurements = [Measurement(**m) for m in raw["measurements"]]
    return ReportContext(**raw["context"]), measurements, resume


def write_report(
    markdown_path: Path,
    plot_path: Path,
    context: ReportContext,
    measurements: Sequence[Measurement],
    resume: ResumeResult | None,
) -> None:
    plotted = plot_throughput(measurements, plot_path, f"bulkload throughput ({context.mode})")
    text = render_markdown(context, measurements, resume)
    if plotted:
        text += f"\n![throughput against latency]({plot_path.name})\n"
    markdown_path.write_text(text, encoding="utf-8")
