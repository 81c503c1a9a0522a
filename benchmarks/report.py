"""RESULTS.md and throughput.png from a list of measurements.

Every table shows medians, the ratio bulkload/naive where both ran, and every single run
below it, so a reader can see the spread and not only the summary.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from benchmarks.measurements import (
    BULKLOAD,
    NAIVE,
    STARTUP_CASE,
    Measurement,
    ResumeResult,
    api_bound_records_per_s,
    cases,
    median,
    ratio,
    select,
)

BOUND_SHARE_TARGET = 0.95
CPU_PER_MILLION_TARGET_S = 2.5
CPU_RATIO_TARGET = 3.0
PEAK_RSS_TARGET_MB = 200.0
SKIP_SHARE_TARGET = 0.10


@dataclass(frozen=True, slots=True)
class ReportContext:
    mode: str
    command: str
    started_at: str
    duration_s: float
    machine: dict[str, str]
    method_notes: list[str] = field(default_factory=list)
    profile_text: str | None = None


def _num(value: float | None, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if math.isinf(value):
        return "∞"
    return f"{value:,.{digits}f}"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def _times(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}×"


def _verdict(met: bool | None) -> str:
    return "not measured" if met is None else ("**met**" if met else "**not met**")


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def latency_ms_of(case: str) -> float:
    """Cases of the bound scenario are named like ``200 ms``."""
    return float(case.split()[0])


def _med(runs: Sequence[Measurement], metric: Callable[[Measurement], float]) -> float | None:
    return median(metric(m) for m in runs)


def _runs_table(runs: Sequence[Measurement]) -> list[str]:
    rows = [
        [
            m.case,
            m.tool,
            str(m.repeat),
            _num(m.records_ingested),
            f"{m.wall_s:.2f}",
            _num(m.loader_elapsed_s, 2),
            _num(m.records_per_s),
            f"{m.cpu_s:.2f}",
            _num(m.cpu_s_per_million, 2),
            _num(m.max_rss_mb, 0),
            _num(m.emulator_max_in_flight),
            _num(m.emulator_requests),
            str(m.exit_code),
        ]
        for m in runs
    ]
    header = [
        "case",
        "tool",
        "run",
        "records",
        "wall s",
        "loader s",
        "records/s",
        "CPU s",
        "CPU s/M",
        "peak RSS MB",
        "max in flight",
        "requests",
        "exit",
    ]
    return ["<details><summary>all runs</summary>", "", *_table(header, rows), "", "</details>"]


def _bound_section(
    ms: Sequence[Measurement],
) -> tuple[list[str], list[tuple[str, str, bool | None]]]:
    runs = select(ms, scenario="bound")
    if not runs:
        return [], []
    rows = []
    verdicts: list[tuple[str, str, bool | None]] = []
    machine_limit = _machine_limit(ms)
    for case in cases(ms, "bound"):
        bound = api_bound_records_per_s(latency_ms_of(case))
        ours = select(runs, case=case, tool=BULKLOAD)
        theirs = select(runs, case=case, tool=NAIVE)
        ours_rate = _med(ours, lambda m: m.records_per_s)
        theirs_rate = _med(theirs, lambda m: m.records_per_s)
        share = ratio(ours_rate, bound)
        rows.append(
            [
                case,
                _num(ours[0].input_records if ours else None),
                _num(bound),
                _num(ours_rate),
                _pct(share),
                # Only where the machine, not the API, is the ceiling.
                _pct(ratio(ours_rate, machine_limit))
                if machine_limit is not None and bound > machine_limit
                else "–",
                _num(_med(ours, lambda m: m.wall_records_per_s)),
                _num(theirs_rate),
                _pct(ratio(theirs_rate, bound)),
                _times(ratio(ours_rate, theirs_rate)),
                _num(_med(ours, lambda m: float(m.emulator_max_in_flight or 0))),
            ]
        )
        measured = _pct(share)
        if machine_limit is not None and bound > machine_limit:
            measured += (
                f" (machine-bound: the API bound exceeds bulkload's 0 ms rate of"
                f" {_num(machine_limit)}/s; {_pct(ratio(ours_rate, machine_limit))} of that)"
            )
        verdicts.append(
            (
                f"a. ≥ 95% of the API bound at {case}",
                measured,
                None if share is None else share >= BOUND_SHARE_TARGET,
            )
        )
    header = [
        "latency",
        "records",
        "API bound rec/s",
        "bulkload rec/s",
        "share of bound",
        "share of 0 ms rate",
        "bulkload wall rec/s",
        "naive rec/s",
        "naive share",
        "bulkload/naive",
        "bulkload max in flight",
    ]
    lines = [
        "## a. Share of the API bound",
        "",
        "Bound = 30 requests × 500 records / latency. Rates are medians of records ingested per",
        "second of the loader's own elapsed time; the wall column includes interpreter start-up.",
        "'Share of 0 ms rate' compares with bulkload's median at 0 ms latency (section b), the",
        "most this machine lets it do; it is shown where the API bound is above that rate, i.e.",
        "where the loader is CPU-bound rather than API-bound.",
        "",
        *_table(header, rows),
        "",
        *_runs_table(runs),
        "",
    ]
    return lines, verdicts


def _machine_limit(ms: Sequence[Measurement]) -> float | None:
    """bulkload's median throughput with the emulator at 0 ms: the machine's ceiling for it."""
    return _med(select(ms, scenario="cpu", case="0 ms", tool=BULKLOAD), lambda m: m.records_per_s)


def _cpu_section(
    ms: Sequence[Measurement],
) -> tuple[list[str], list[tuple[str, str, bool | None]]]:
    runs = select(ms, scenario="cpu")
    main_runs = [m for m in runs if m.case != STARTUP_CASE]
    if not main_runs:
        return [], []
    rows = []
    per_million: dict[str, float | None] = {}
    marginal: dict[str, float | None] = {}
    rates: dict[str, float | None] = {}
    for tool in (BULKLOAD, NAIVE):
        group = select(main_runs, tool=tool)
        startup = select(runs, case=STARTUP_CASE, tool=tool)
        per_million[tool] = _med(group, lambda m: m.cpu_s_per_million)
        rates[tool] = _med(group, lambda m: m.records_per_s)
        cpu = _med(group, lambda m: m.cpu_s)
        startup_cpu = _med(startup, lambda m: m.cpu_s)
        records = group[0].records_ingested if group else 0
        marginal[tool] = (
            (cpu - startup_cpu) / records * 1e6
            if cpu is not None and startup_cpu is not None and records
            else None
        )
        rows.append(
            [
                tool,
                _num(per_million[tool], 2),
                _num(marginal[tool], 2),
                _num(cpu, 2),
                _num(startup_cpu, 2),
                _num(rates[tool]),
                _num(_med(group, lambda m: m.max_rss_mb)),
            ]
        )
    cpu_advantage = ratio(per_million[NAIVE], per_million[BULKLOAD])
    marginal_advantage = ratio(marginal[NAIVE], marginal[BULKLOAD])
    header = [
        "tool",
        "CPU s per million",
        "… start-up excluded",
        "CPU s",
        "start-up CPU s",
        "records/s",
        "peak RSS MB",
    ]
    lines = [
        "## b. CPU per record (emulator at 0 ms)",
        "",
        "Loader CPU = user + system seconds of the loader process (`os.wait4`), start-up",
        f"included. The start-up cost is measured by runs on a {STARTUP_CASE!r} input of a",
        "thousand records; 'start-up excluded' = (CPU s − start-up CPU s) per million records.",
        "The verdicts use the figure with start-up included (the stricter one).",
        "",
        *_table(header, rows),
        "",
        f"naive/bulkload CPU: **{_times(cpu_advantage)}** ({_times(marginal_advantage)} start-up excluded);"
        f" bulkload/naive throughput: **{_times(ratio(rates[BULKLOAD], rates[NAIVE]))}**",
        "",
        *_runs_table(runs),
        "",
    ]
    ours = per_million[BULKLOAD]
    verdicts = [
        (
            "b. ≤ 2.5 CPU-s per million records",
            f"{_num(ours, 2)} ({_num(marginal[BULKLOAD], 2)} start-up excluded)",
            None if ours is None else ours <= CPU_PER_MILLION_TARGET_S,
        ),
        (
            "b. ≥ 3× less CPU than naive",
            f"{_times(cpu_advantage)} ({_times(marginal_advantage)} start-up excluded)",
            None if cpu_advantage is None else cpu_advantage >= CPU_RATIO_TARGET,
        ),
    ]
    return lines, verdicts


def _memory_section(
    ms: Sequence[Measurement],
) -> tuple[list[str], list[tuple[str, str, bool | None]]]:
    runs = select(ms, scenario="memory")
    if not runs:
        return [], []
    rows = []
    peaks: list[float] = []
    for case in cases(ms, "memory"):
        for tool in (BULKLOAD, NAIVE):
            group = select(runs, case=case, tool=tool)
            if not group:
                continue
            peak = max(m.max_rss_mb for m in group)
            if tool == BULKLOAD:
                peaks.append(peak)
            rows.append(
                [
                    case,
                    tool,
                    _num(peak),
                    _num(_med(group, lambda m: m.records_per_s)),
                    str(len(group)),
                ]
            )
    worst = max(peaks) if peaks else None
    lines = [
        "## c. Memory (peak RSS of the loader process)",
        "",
        *_table(["input", "tool", "peak RSS MB (max of runs)", "records/s", "runs"], rows),
        "",
        *_runs_table(runs),
        "",
    ]
    met = None if worst is None else worst < PEAK_RSS_TARGET_MB
    return lines, [("c. peak RSS < 200 MB, flat in input size", f"{_num(worst)} MB", met)]


def _formats_section(ms: Sequence[Measurement]) -> list[str]:
    runs = select(ms, scenario="formats")
    if not runs:
        return []
    plain = _med(select(runs, case="jsonl", tool=BULKLOAD), lambda m: m.records_per_s)
    rows = []
    for case in cases(ms, "formats"):
        for tool in (BULKLOAD, NAIVE):
            group = select(runs, case=case, tool=tool)
            if not group:
                continue
            rate = _med(group, lambda m: m.records_per_s)
            rows.append(
                [
                    case,
                    tool,
                    _num(rate),
                    _num(_med(group, lambda m: m.cpu_s_per_million), 2),
                    _times(ratio(rate, plain)) if tool == BULKLOAD else "–",
                ]
            )
    return [
        "## e. Input formats at 0 ms (compressed vs plain)",
        "",
        *_table(["input", "tool", "records/s", "CPU s per million", "vs plain JSONL"], rows),
        "",
        *_runs_table(runs),
        "",
    ]


def _cross_check(resume: ResumeResult) -> str:
    """Skipping cost seen from the whole rerun, in case some of it came after the first request."""
    if not resume.rerun_records_ingested or resume.records_at_kill <= 0:
        return "–"
    first_rate = resume.records_at_kill / resume.killed_after_s
    overhead_s = resume.rerun_wall_s - resume.rerun_records_ingested / first_rate
    return f"{overhead_s:.2f} s ({_pct(overhead_s / resume.killed_after_s)} of the first part)"


def _resume_section(
    resume: ResumeResult | None,
) -> tuple[list[str], list[tuple[str, str, bool | None]]]:
    if resume is None:
        return [], []
    share = resume.skip_share_of_first_part
    rows = [
        ["input", f"{_num(resume.input_records)} records, {_num(resume.input_bytes / 1e6)} MB"],
        ["first run killed (SIGKILL) after", f"{resume.killed_after_s:.2f} s"],
        ["records acknowledged by the emulator at the kill", _num(resume.records_at_kill)],
        [
            "rerun: time to its first ingest request",
            _num(resume.rerun_time_to_first_request_s, 2) + " s",
        ],
        ["skip time / first-run time", _pct(share)],
        ["rerun wall time (whole rerun)", f"{resume.rerun_wall_s:.2f} s"],
        [
            "cross-check: rerun wall − its new records at the first run's rate",
            _cross_check(resume),
        ],
        [
            "rerun records skipped / ingested",
            f"{_num(resume.rerun_records_skipped)} / {_num(resume.rerun_records_ingested)}",
        ],
        ["rerun exit code", str(resume.rerun_exit_code)],
        ["records stored twice (sent again after the kill)", _num(resume.duplicates)],
    ]
    lines = [
        "## d. Resume after a crash",
        "",
        "Method: the load runs with a checkpoint while the harness watches the emulator's row",
        "counter; once half the records are acknowledged the loader gets SIGKILL (a crash, no",
        "chance to flush anything). The time from its start to the kill is the first part. The",
        "same command is then run again, and the harness times how long the rerun takes from",
        "process start to its first ingest request reaching the emulator: that is the time spent",
        "starting up, reading the checkpoint and skipping the acknowledged first half.",
        "",
        *_table(["", ""], rows),
        "",
    ]
    verdict = (
        "d. skipping the done half < 10% of the time it took",
        _pct(share),
        None if share is None else share < SKIP_SHARE_TARGET,
    )
    return lines, [verdict]


def render_markdown(
    context: ReportContext, measurements: Sequence[Measurement], resume: ResumeResult | None
) -> str:
    bound_lines, bound_verdicts = _bound_section(measurements)
    cpu_lines, cpu_verdicts = _cpu_section(measurements)
    memory_lines, memory_verdicts = _memory_section(measurements)
    resume_lines, resume_verdicts = _resume_section(resume)
    formats_lines = _formats_section(measurements)
    verdicts = bound_verdicts + cpu_verdicts + memory_verdicts + resume_verdicts
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
        "## Targets",
        "",
        *_table(["target", "measured", "verdict"], [[t, v, _verdict(ok)] for t, v, ok in verdicts]),
        "",
    ]
    if failed_runs:
        lines += [
            f"**{len(failed_runs)} run(s) did not ingest every record or exited non-zero**; their figures are",
            "kept in the tables but should be read with that in mind.",
            "",
        ]
    lines += bound_lines + cpu_lines + memory_lines + resume_lines + formats_lines
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


def plot_throughput(measurements: Sequence[Measurement], path: Path, title: str) -> bool:
    """Throughput against latency, with the API bound as a line; False when nothing to plot."""
    runs = select(measurements, scenario="bound")
    latencies = sorted({latency_ms_of(c) for c in cases(measurements, "bound")})
    latencies = [latency for latency in latencies if latency > 0]
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
    colors = {BULKLOAD: "tab:blue", NAIVE: "tab:orange"}
    for tool, style in ((BULKLOAD, "o-"), (NAIVE, "s-")):
        at_zero = _med(
            select(measurements, scenario="cpu", case="0 ms", tool=tool), lambda m: m.records_per_s
        )
        if at_zero is not None:
            # With no latency the machine is the limit: the ceiling any latency can reach.
            axes.axhline(
                at_zero, color=colors[tool], linestyle=":", label=f"{tool} at 0 ms (machine limit)"
            )
        points = [
            (latency, _med(select(runs, case=case, tool=tool), lambda m: m.records_per_s))
            for case in cases(measurements, "bound")
            for latency in [latency_ms_of(case)]
        ]
        shown = sorted((x, y) for x, y in points if y is not None and x > 0)
        if shown:
            axes.plot(
                [x for x, _ in shown],
                [y for _, y in shown],
                style,
                color=colors[tool],
                label=f"{tool} (median)",
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
    plotted = plot_throughput(measurements, plot_path, f"bulkload vs naive ({context.mode})")
    text = render_markdown(context, measurements, resume)
    if plotted:
        text += f"\n![throughput against latency]({plot_path.name})\n"
    markdown_path.write_text(text, encoding="utf-8")
