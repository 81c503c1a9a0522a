"""What one benchmark run measured, and the arithmetic the report does over runs.

Throughput is records ingested per second of the loader's own elapsed time (from its
summary: the pipeline, without interpreter start-up) when the loader reports it, and per
second of wall time otherwise; the wall-clock figure is always kept alongside.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

BULKLOAD = "bulkload"
NAIVE = "naive"
BASELINE = "baseline"  # bulkload from an older tree (--baseline-tree), for the calibration
DRY_RUN = "bulkload --dry-run"  # read, validate and cut batches; send nothing
STARTUP_CASE = "start-up"  # a CPU-scenario case on a tiny input: the fixed cost of one run
NO_WORKERS_FLAG = "loader has no --workers"


@dataclass(frozen=True, slots=True)
class Measurement:
    scenario: str
    case: str
    tool: str
    repeat: int
    input_records: int
    records_ingested: int
    wall_s: float
    loader_elapsed_s: float | None
    cpu_s: float
    max_rss_mb: float
    exit_code: int
    emulator_max_in_flight: int | None = None
    emulator_requests: int | None = None
    emulator_records: int | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    # The whole process tree (the loader and its worker processes), sampled from /proc.
    tree_peak_rss_mb: float | None = None
    tree_processes: int | None = None
    cpu_source: str = "wait4"  # or "proc" when descendants spent CPU wait4 does not include
    workers: str | None = None  # the --workers value passed; None: the loader's default
    pinned: str = ""  # where the loader ran, e.g. "core 0" or "" (free to use every core)
    load_1m: float | None = None  # the machine's 1-minute load average when the run started
    emulator_cpu_s: float | None = None  # the emulator's CPU during the run (from /proc)

    @property
    def emulator_core_share(self) -> float | None:
        """How busy the emulator was over the run: 1.0 is a whole core (the most it has)."""
        if self.emulator_cpu_s is None or self.wall_s <= 0:
            return None
        return self.emulator_cpu_s / self.wall_s

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and self.records_ingested == self.input_records

    @property
    def peak_rss_mb(self) -> float:
        """The tree's summed peak where it was sampled, else the largest process's."""
        return self.tree_peak_rss_mb if self.tree_peak_rss_mb is not None else self.max_rss_mb

    @property
    def records_per_s(self) -> float:
        elapsed = self.loader_elapsed_s if self.loader_elapsed_s else self.wall_s
        return self.records_ingested / elapsed if elapsed > 0 else 0.0

    @property
    def wall_records_per_s(self) -> float:
        return self.records_ingested / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def cpu_s_per_million(self) -> float:
        return self.cpu_s / self.records_ingested * 1e6 if self.records_ingested else float("nan")


@dataclass(frozen=True, slots=True)
class ResumeResult:
    """The crash-and-resume measurement (see RESULTS.md for the method)."""

    input_records: int
    input_bytes: int
    killed_after_s: float
    records_at_kill: int
    rerun_time_to_first_request_s: float | None
    rerun_wall_s: float
    rerun_exit_code: int
    rerun_records_skipped: int | None
    rerun_records_ingested: int | None
    emulator_records_total: int | None

    @property
    def skip_share_of_first_part(self) -> float | None:
        if self.rerun_time_to_first_request_s is None or self.killed_after_s <= 0:
            return None
        return self.rerun_time_to_first_request_s / self.killed_after_s

    @property
    def duplicates(self) -> int | None:
        if self.emulator_records_total is None:
            return None
        return self.emulator_records_total - self.input_records


def median(values: Iterable[float]) -> float | None:
    data = [v for v in values if v == v]  # drop NaN
    return statistics.median(data) if data else None


def select(
    measurements: Sequence[Measurement],
    *,
    scenario: str | None = None,
    case: str | None = None,
    tool: str | None = None,
) -> list[Measurement]:
    return [
        m
        for m in measurements
        if (scenario is None or m.scenario == scenario)
        and (case is None or m.case == case)
        and (tool is None or m.tool == tool)
    ]


def cases(measurements: Sequence[Measurement], scenario: str) -> list[str]:
    """The cases of a scenario, in the order they were first run."""
    seen: dict[str, None] = {}
    for m in measurements:
        if m.scenario == scenario:
            seen.setdefault(m.case)
    return list(seen)


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator


def api_bound_records_per_s(
    latency_ms: float, concurrency: int = 30, records_per_request: int = 500
) -> float:
    """The most the API admits: every slot busy with a full batch for one round trip each."""
    if latency_ms <= 0:
        return float("inf")
    return concurrency * records_per_request / (latency_ms / 1000)


@dataclass(frozen=True, slots=True)
class ReportContext:
    mode: str
    command: str
    started_at: str
    duration_s: float
    machine: dict[str, str]
    method_notes: list[str] = field(default_factory=list)
    profile_text: str | None = None
    workers_supported: bool | None = None
    baseline_tree: str | None = None
    parquet_available: bool | None = None
