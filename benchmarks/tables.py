"""The report's building blocks: number formats, markdown tables, the table of every run."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from benchmarks.measurements import Measurement, median

FORMAT_NAMES = {
    "jsonl": "JSON Lines",
    "jsonl.gz": "gzip JSON Lines",
    "csv": "CSV",
    "parquet": "Parquet",
}

Verdict = tuple[str, str, bool | None, str]  # goal, measured, met, scaled figure (or "")


def num(value: float | None, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if math.isinf(value):
        return "∞"
    return f"{value:,.{digits}f}"


def pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def times(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}×"


def verdict_text(met: bool | None) -> str:
    return "not measured" if met is None else ("**met**" if met else "**not met**")


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def latency_ms_of(case: str) -> float:
    """Cases at a latency are named like ``200 ms`` or ``jsonl 200 ms``."""
    words = case.split()
    return float(words[-2]) if len(words) >= 2 and words[-1] == "ms" else 0.0


def format_of(case: str) -> str:
    return case.split()[0]


def med(runs: Sequence[Measurement], metric: Callable[[Measurement], float]) -> float | None:
    return median(metric(m) for m in runs)


def tool_label(m: Measurement) -> str:
    return m.tool if m.workers is None else f"{m.tool} --workers {m.workers}"


def runs_table(runs: Sequence[Measurement]) -> list[str]:
    rows = [
        [
            m.case,
            tool_label(m),
            str(m.repeat),
            num(m.records_ingested),
            f"{m.wall_s:.2f}",
            num(m.loader_elapsed_s, 2),
            num(m.records_per_s),
            f"{m.cpu_s:.2f}",
            m.cpu_source,
            num(m.cpu_s_per_million, 2),
            num(m.tree_peak_rss_mb, 0),
            num(m.max_rss_mb, 0),
            num(m.tree_processes),
            num(m.emulator_max_in_flight),
            num(m.emulator_requests),
            pct(m.emulator_core_share),
            m.pinned or "free",
            num(m.load_1m, 2),
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
        "CPU source",
        "CPU s/M",
        "tree peak RSS MB",
        "largest process RSS MB",
        "processes",
        "max in flight",
        "requests",
        "emulator busy (of its core)",
        "loader cores",
        "load avg",
        "exit",
    ]
    return ["<details><summary>all runs</summary>", "", *table(header, rows), "", "</details>"]


def verdict_table(verdicts: Sequence[Verdict]) -> list[str]:
    return table(
        ["goal", "measured on this machine", "verdict", "scaled to the issue's machine (estimate)"],
        [
            [goal, measured, verdict_text(met), scaled or "–"]
            for goal, measured, met, scaled in verdicts
        ],
    )
