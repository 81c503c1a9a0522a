"""How big and how many: the --quick and --full plans, and the duration they are expected
to take on this 2-core machine (printed at the start of a session)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from benchmarks import datagen
from benchmarks.measurements import BASELINE, BULKLOAD, DRY_RUN, NAIVE, api_bound_records_per_s

RUN_OVERHEAD_S = 2.0  # interpreter and worker start-up, the table fetch, reaping: per run
# Wall records/s of each loader at 0 ms on this 2-core machine today (loaded, slow): only for
# the duration printed at the start.
_NOMINAL_RATE = {
    (BULKLOAD, "jsonl"): 90_000,
    (BULKLOAD, "jsonl.gz"): 80_000,
    (BULKLOAD, "csv"): 45_000,
    (BULKLOAD, "parquet"): 10_000,
    (DRY_RUN, "jsonl"): 130_000,
    (NAIVE, "jsonl"): 50_000,
    (BASELINE, "jsonl"): 85_000,
    (BASELINE, "csv"): 30_000,
}
_NOMINAL_MIXED_BYTES_PER_S = 40e6


@dataclass(frozen=True, slots=True)
class Plan:
    """How big and how many: everything that differs between --quick and --full."""

    mode: str
    repeats: int
    # cpu: every loader and format at 0 ms, alternating, plus a start-up case.
    cpu_records: int
    cpu_formats: tuple[datagen.Format, ...]
    cpu_records_by_format: tuple[tuple[datagen.Format, int], ...]  # where fewer are enough
    # idle: the same input at 0 ms and at each latency, so start-up weighs the same.
    idle_records: int
    idle_formats: tuple[datagen.Format, ...]
    idle_latencies_ms: tuple[float, ...]
    # bound: share of the API bound at one latency.
    bound_latency_ms: float
    bound_records: int
    bound_formats: tuple[datagen.Format, ...]
    # scaling: --workers N at 0 ms.
    scaling_records: int
    scaling_formats: tuple[datagen.Format, ...]
    scaling_workers: tuple[str, ...]
    memory_sizes_bytes: tuple[int, ...]
    memory_repeats: int
    resume_bytes: int

    def cpu_records_of(self, fmt: datagen.Format) -> int:
        return dict(self.cpu_records_by_format).get(fmt, self.cpu_records)


# A smoke test of every scenario: the formats the goals name are all in --full.
QUICK = Plan(
    mode="quick",
    repeats=2,
    cpu_records=20_000,
    cpu_formats=("jsonl", "csv", "parquet"),
    cpu_records_by_format=(("parquet", 10_000),),
    idle_records=4_000,
    idle_formats=("jsonl",),
    idle_latencies_ms=(0, 200, 1000),
    bound_latency_ms=50,
    bound_records=30_000,
    bound_formats=("jsonl", "csv"),
    scaling_records=10_000,
    scaling_formats=("jsonl",),
    scaling_workers=("0", "1", "2"),
    memory_sizes_bytes=(20_000_000,),
    memory_repeats=1,
    resume_bytes=30_000_000,
)
FULL = Plan(
    mode="full",
    repeats=3,
    # 500k records: start-up (~0.5 CPU s) is ~1 CPU-s/M of it, and the start-up case
    # measures that apart; 3 alternating rounds of 8 loaders fit in ~4 minutes.
    cpu_records=500_000,
    cpu_formats=("jsonl", "jsonl.gz", "csv", "parquet"),
    # Parquet ran at ~10,000 records/s here (2026-12-02): 200k keeps its runs ~20 s.
    cpu_records_by_format=(("parquet", 200_000),),
    # 150k records: 10 s at the 1 s bound (15,000/s), 2 s at 200 ms, the same at 0 ms.
    idle_records=150_000,
    idle_formats=("jsonl", "csv"),
    idle_latencies_ms=(0, 200, 1000),
    # The 50 ms bound (300,000/s) is beyond what two shared cores can parse and send, so the
    # run length is set by the machine: 750k records is ~8 s of JSONL, ~15 s of CSV.
    bound_latency_ms=50,
    bound_records=750_000,
    bound_formats=("jsonl", "csv"),
    scaling_records=300_000,
    scaling_formats=("jsonl", "csv"),
    scaling_workers=("0", "1", "2"),
    memory_sizes_bytes=(100_000_000, 1_000_000_000),
    memory_repeats=2,
    resume_bytes=500_000_000,
)


def _run_s(tool: str, fmt: str, records: int, latency_ms: float = 0.0) -> float:
    rate: float = _NOMINAL_RATE.get((tool, fmt), 50_000)
    if latency_ms > 0:
        rate = min(rate, 0.95 * api_bound_records_per_s(latency_ms))
    return RUN_OVERHEAD_S + records / rate + 2 * latency_ms / 1000


def estimate_s(plan: Plan, chosen: Sequence[str], *, baseline: bool, workers: bool) -> float:
    """A rough duration for the chosen scenarios, from nominal rates of this machine."""
    total = 0.0
    n = plan.repeats
    if "cpu" in chosen:
        for fmt in plan.cpu_formats:
            total += n * _run_s(BULKLOAD, fmt, plan.cpu_records_of(fmt))
            if baseline and fmt in ("jsonl", "csv"):
                total += n * _run_s(BASELINE, fmt, plan.cpu_records)
        total += n * (
            _run_s(NAIVE, "jsonl", plan.cpu_records) + _run_s(DRY_RUN, "jsonl", plan.cpu_records)
        )
        total += n * (4 if baseline else 3) * RUN_OVERHEAD_S
    if "idle" in chosen:
        for fmt in plan.idle_formats:
            total += n * sum(
                _run_s(BULKLOAD, fmt, plan.idle_records, ms) for ms in plan.idle_latencies_ms
            )
    if "bound" in chosen:
        for fmt in plan.bound_formats:
            total += n * _run_s(BULKLOAD, fmt, plan.bound_records, plan.bound_latency_ms)
    if "scaling" in chosen and workers:
        for fmt in plan.scaling_formats:
            total += n * len(plan.scaling_workers) * _run_s(BULKLOAD, fmt, plan.scaling_records)
    if "memory" in chosen:
        for size in plan.memory_sizes_bytes:
            one = RUN_OVERHEAD_S + size / _NOMINAL_MIXED_BYTES_PER_S
            total += plan.memory_repeats * one + (
                one * 2 if size == plan.memory_sizes_bytes[0] else 0
            )
            total += size / 200e6  # generating it, the first time
    if "resume" in chosen:
        total += 2 * RUN_OVERHEAD_S + plan.resume_bytes / 260 / _NOMINAL_RATE[(BULKLOAD, "jsonl")]
    return total + 5 * len(chosen)  # emulator start-ups, data reuse checks
