"""How slow this session's machine is against the one the issue's figures were taken on.

Two loaders of the same session measure it: the naive loader (its code unchanged since its
reference figure) and, given ``--baseline-tree``, an older bulkload tree whose full-load
figures the issue states. A figure divided by the slowdown is what the issue's machine
would have shown: an estimate, always labelled as one beside the absolute figure.

The CPU figure of a run is given "as a 1M-record run": the start-up CPU of the tool (its
1,000-record run) plus its per-record CPU × 1M. The issue's figures are of 1M-record runs,
so a 500k-record run would otherwise count start-up twice as heavily.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from benchmarks.measurements import (
    BASELINE,
    BULKLOAD,
    DRY_RUN,
    NAIVE,
    STARTUP_CASE,
    Measurement,
    ReportContext,
    ratio,
    select,
)
from benchmarks.tables import FORMAT_NAMES, med, num, table, times

# The issue's figures (1M small records, emulator --no-store at 0 ms, 2026-12-01, the code of
# that day): full load and dry run, CPU-s per million. A --baseline-tree of that code, run in
# the same session, turns today's machine into the issue's: figure × issue / baseline.
ISSUE_FULL_LOAD_CPU = {"jsonl": (4.2, 5.0), "csv": (14.1, 15.1)}
ISSUE_DRY_RUN_CPU = {"jsonl": (2.5, 2.9), "csv": (10.4, 10.7)}
# The naive loader's CPU-s per million at 0 ms in the RESULTS.md of 2026-11-27 (runs 12.03,
# 12.98, 11.59; the issue quotes ~10.5-13): its code has not changed since, so today's figure
# over this one is how much slower the machine is for it.
NAIVE_REFERENCE_CPU = 12.03
NAIVE_REFERENCE_SOURCE = "RESULTS.md of 2026-11-27, 1M small JSONL at 0 ms (runs 11.59-12.98)"


@dataclass(frozen=True, slots=True)
class Calibration:
    """How much slower this session's machine is than the one of the issue's figures."""

    naive_now: float | None  # naive CPU-s/M at 0 ms (JSONL) in this session
    baseline_now: dict[str, float]  # the baseline tree's CPU-s/M at 0 ms, by format

    @property
    def naive_slowdown(self) -> float | None:
        return ratio(self.naive_now, NAIVE_REFERENCE_CPU)

    def baseline_slowdown(self, fmt: str) -> float | None:
        """This session's baseline figure over the issue's (midpoint) for the same code."""
        reference = ISSUE_FULL_LOAD_CPU.get(fmt)
        now = self.baseline_now.get(fmt)
        if reference is None or now is None:
            return None
        return now / (sum(reference) / 2)

    def slowdown(self, fmt: str) -> tuple[float | None, str]:
        """The best factor for ``fmt``: its own baseline, else JSONL's baseline, else naive."""
        own = self.baseline_slowdown(fmt)
        if own is not None:
            return own, f"the baseline tree's {FORMAT_NAMES.get(fmt, fmt)} run"
        jsonl = self.baseline_slowdown("jsonl")
        if jsonl is not None:
            return jsonl, "the baseline tree's JSON Lines run"
        if self.naive_slowdown is not None:
            return self.naive_slowdown, "the naive loader"
        return None, ""

    def scaled_cpu(self, fmt: str, figure: float | None, target: float) -> str:
        factor, source = self.slowdown(fmt)
        if figure is None or factor is None:
            return "– (no calibration runs)"
        scaled = figure / factor
        within = "within" if scaled <= target else "still over"
        text = (
            f"{scaled:.2f} CPU-s/M, {within} the goal (÷ {factor:.2f}, the slowdown measured by"
            f" {source}"
        )
        reference = ISSUE_FULL_LOAD_CPU.get(fmt)
        baseline = self.baseline_now.get(fmt)
        if reference is not None and baseline is not None:
            low, high = (figure / baseline * r for r in reference)
            text += (
                f"; current/baseline {figure / baseline:.2f} × the issue's"
                f" {reference[0]}–{reference[1]} = {low:.2f}–{high:.2f}"
            )
        return text + ")"


STARTUP_RECORDS_TEXT = "1,000-record"


@dataclass(frozen=True, slots=True)
class CpuFigure:
    """One tool's CPU per million records at 0 ms on one input (medians of its runs)."""

    records: int
    direct: float | None  # CPU-s per million as measured, start-up included
    per_record: float | None  # (CPU − the tool's start-up run's CPU) per million records
    startup_s: float | None

    @property
    def as_million_run(self) -> float | None:
        """What one 1M-record run would cost: start-up once plus 1M records' worth."""
        if self.per_record is None or self.startup_s is None:
            return self.direct
        return self.startup_s + self.per_record


def started_workers(group: Sequence[Measurement]) -> bool:
    """Whether these runs started worker processes (a tree of more than the loader)."""
    return any((m.tree_processes or 1) > 1 for m in group)


def startup_cpu(
    ms: Sequence[Measurement], tool: str, *, with_workers: bool = False
) -> float | None:
    """The median CPU of the tool's start-up runs: for bulkload, those that started workers
    (given ``--workers``) or those that did not, to match the runs it is subtracted from."""
    tool = BULKLOAD if tool == DRY_RUN else tool  # the same program, started the same way
    runs = select(ms, scenario="cpu", case=STARTUP_CASE, tool=tool)
    matching = [m for m in runs if (m.workers is not None) == with_workers]
    return med(matching or runs, lambda m: m.cpu_s)


def as_million_run(group: Sequence[Measurement], ms: Sequence[Measurement]) -> CpuFigure | None:
    """These runs' CPU figures, start-up (the matching start-up runs') counted once per 1M."""
    if not group:
        return None
    tool = group[0].tool
    startup = startup_cpu(ms, tool, with_workers=started_workers(group))
    cpu = med(group, lambda m: m.cpu_s)
    records = group[0].records_ingested
    per_record = (
        (cpu - startup) / records * 1e6
        if cpu is not None and startup is not None and records
        else None
    )
    if per_record is not None and per_record <= 0:
        per_record = None  # a run cheaper than its start-up: not comparable, as measured
    return CpuFigure(
        records=group[0].input_records,
        direct=med(group, lambda m: m.cpu_s_per_million),
        per_record=per_record,
        startup_s=startup,
    )


def cpu_figure(ms: Sequence[Measurement], fmt: str, tool: str) -> CpuFigure | None:
    return as_million_run(select(ms, scenario="cpu", case=fmt, tool=tool), ms)


def session_calibration(ms: Sequence[Measurement]) -> Calibration:
    baseline = {}
    for fmt in ("jsonl", "csv"):
        figure = cpu_figure(ms, fmt, BASELINE)
        if figure is not None and figure.as_million_run is not None:
            baseline[fmt] = figure.as_million_run
    naive = cpu_figure(ms, "jsonl", NAIVE)
    return Calibration(naive_now=naive.as_million_run if naive else None, baseline_now=baseline)


def calibration_section(ms: Sequence[Measurement], context: ReportContext) -> list[str]:
    calibration = session_calibration(ms)
    runs = select(ms, scenario="cpu")
    if not runs:
        return []
    rows = []
    rows.append(
        [
            "naive loader, JSON Lines",
            num(calibration.naive_now, 2),
            f"{NAIVE_REFERENCE_CPU:.2f} ({NAIVE_REFERENCE_SOURCE})",
            times(calibration.naive_slowdown),
        ]
    )
    for fmt in ("jsonl", "csv"):
        now = calibration.baseline_now.get(fmt)
        low, high = ISSUE_FULL_LOAD_CPU[fmt]
        rows.append(
            [
                f"baseline tree, {FORMAT_NAMES[fmt]}, full load",
                num(now, 2) if now is not None else "– (no --baseline-tree)",
                f"{low}–{high} (issue 11)",
                times(calibration.baseline_slowdown(fmt)),
            ]
        )
    dry_figure = cpu_figure(ms, "jsonl", DRY_RUN)
    dry = dry_figure.as_million_run if dry_figure else None
    low, high = ISSUE_DRY_RUN_CPU["jsonl"]
    rows.append(
        [
            "current code, JSON Lines, `--dry-run` (no sending)",
            num(dry, 2),
            f"{low}–{high} (issue 11, the code of that day)",
            "– (the code changed since)",
        ]
    )
    tree = context.baseline_tree
    return [
        "## Calibration: how slow is this machine today",
        "",
        "The goals' figures were set on this machine when it was faster. Two loaders run in",
        "this session to measure by how much: the naive loader (unchanged code) against its",
        "figure of an earlier session, and, given `--baseline-tree`, the older bulkload code"
        + (f" (`{tree}`)" if tree else ""),
        "against the issue's own figures for that code. 'Scaled' figures in the verdicts divide",
        "today's figure by that slowdown (per format where the baseline ran it, else JSON",
        "Lines', else naive's). They are estimates for the issue's machine, never a",
        "substitute for the absolute figure and its verdict.",
        "",
        *table(
            ["calibration run", "CPU-s/M today", "reference", "slowdown (today / reference)"], rows
        ),
        "",
    ]
