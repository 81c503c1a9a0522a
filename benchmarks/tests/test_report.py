"""The report's arithmetic and verdicts, from made-up measurements."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from benchmarks.measurements import (
    BASELINE,
    BULKLOAD,
    DRY_RUN,
    NAIVE,
    NO_WORKERS_FLAG,
    STARTUP_CASE,
    Measurement,
    ResumeResult,
    api_bound_records_per_s,
    median,
)
from benchmarks.report import (
    ReportContext,
    load_results,
    render_markdown,
    save_results,
    write_report,
)


def run(
    scenario: str,
    case: str,
    tool: str,
    repeat: int = 1,
    *,
    elapsed_s: float,
    cpu_s: float,
    rss: float = 80.0,
    tree_rss: float | None = None,
    records: int = 1_000_000,
    workers: str | None = None,
    processes: int = 1,
) -> Measurement:
    return Measurement(
        scenario=scenario,
        case=case,
        tool=tool,
        repeat=repeat,
        input_records=records,
        records_ingested=records,
        wall_s=elapsed_s + 0.4,
        loader_elapsed_s=elapsed_s,
        cpu_s=cpu_s,
        max_rss_mb=rss,
        exit_code=0,
        emulator_max_in_flight=30,
        emulator_requests=records // 500,
        emulator_records=records,
        tree_peak_rss_mb=tree_rss,
        tree_processes=processes,
        workers=workers,
    )


CONTEXT = ReportContext(
    mode="quick",
    command="python -m benchmarks.run --quick",
    started_at="2024-05-01 12:00 UTC",
    duration_s=100.0,
    machine={"CPUs (nproc)": "2"},
    method_notes=["a note about pinning"],
    workers_supported=True,
    parquet_available=True,
)


def verdict_lines(text: str) -> dict[str, str]:
    """The rows of the goal tables, by their first cell."""
    head = text.split("## 1.")[0]
    return {
        line.split("|")[1].strip(): line
        for line in head.splitlines()
        if line.startswith("| ") and not line.startswith("| goal")
    }


def test_api_bound_is_thirty_full_batches_per_round_trip() -> None:
    assert api_bound_records_per_s(50) == 300_000
    assert api_bound_records_per_s(1000) == 15_000


def test_throughput_uses_the_loaders_own_elapsed_time() -> None:
    m = run("cpu", "jsonl", BULKLOAD, elapsed_s=10.0, cpu_s=2.0)
    assert m.records_per_s == 100_000
    assert m.wall_records_per_s < m.records_per_s
    assert m.cpu_s_per_million == 2.0


def test_peak_rss_is_the_trees_where_it_was_sampled() -> None:
    assert run("memory", "x", BULKLOAD, elapsed_s=1, cpu_s=1, rss=60).peak_rss_mb == 60
    sampled = run("memory", "x", BULKLOAD, elapsed_s=1, cpu_s=1, rss=60, tree_rss=150)
    assert sampled.peak_rss_mb == 150


def test_median_ignores_missing_values() -> None:
    assert median([3.0, float("nan"), 1.0, 2.0]) == 2.0
    assert median([]) is None


def test_cpu_goals_count_start_up_once_per_million_and_are_judged_per_format() -> None:
    half = 500_000
    measurements = [
        # 500k records: 1.5 CPU s, of which 0.5 is start-up: 2.0 per million records + 0.5.
        run("cpu", "jsonl", BULKLOAD, elapsed_s=5, cpu_s=1.5, records=half),
        run("cpu", "csv", BULKLOAD, elapsed_s=9, cpu_s=3.5, records=half),  # 6.0 + 0.5
        run("cpu", "parquet", BULKLOAD, elapsed_s=9, cpu_s=1.5, records=half),
        run("cpu", "jsonl", NAIVE, elapsed_s=12, cpu_s=6.25, records=half),  # 12 + 0.25
        run("cpu", "jsonl", DRY_RUN, elapsed_s=3, cpu_s=1.0, records=half),
        run("cpu", STARTUP_CASE, BULKLOAD, elapsed_s=0.1, cpu_s=0.5, records=1_000),
        run("cpu", STARTUP_CASE, NAIVE, elapsed_s=0.1, cpu_s=0.25, records=1_000),
    ]
    lines = verdict_lines(render_markdown(CONTEXT, measurements, None))
    jsonl = lines["1. CPU at 0 ms, JSON Lines ≤ 2.5 CPU-s per million (all processes)"]
    assert "2.50 CPU-s/M (2.00 start-up excluded)" in jsonl and "**met**" in jsonl
    csv = lines["1. CPU at 0 ms, CSV ≤ 5.0 CPU-s per million (all processes)"]
    assert "6.50 CPU-s/M" in csv and "**not met**" in csv
    assert "**met**" in lines["1. CPU at 0 ms, Parquet ≤ 3.0 CPU-s per million (all processes)"]
    # naive as a 1M run: 0.25 + 12 = 12.25 against 2.5.
    assert "4.90×" in lines["≥ 3× less CPU than naive (JSON Lines, 0 ms)"]


def test_calibration_scales_by_the_baseline_and_keeps_the_absolute_verdict() -> None:
    measurements = [
        run("cpu", "jsonl", BULKLOAD, elapsed_s=5, cpu_s=6.0),
        # The baseline tree at 9.2 against the 4.2-5.0 (midpoint 4.6): a 2× slower
        # machine, so bulkload's 6.0 is 3.0 there, still over 2.5.
        run("cpu", "jsonl", BASELINE, elapsed_s=5, cpu_s=9.2),
        run("cpu", "csv", BULKLOAD, elapsed_s=5, cpu_s=8.0),
        run("cpu", "csv", BASELINE, elapsed_s=5, cpu_s=29.2),  # midpoint 14.6: 2×
        run("cpu", "jsonl", NAIVE, elapsed_s=5, cpu_s=24.06),  # 2× the naive reference
    ]
    text = render_markdown(replace(CONTEXT, baseline_tree="/tmp/base"), measurements, None)
    lines = verdict_lines(text)
    jsonl = lines["1. CPU at 0 ms, JSON Lines ≤ 2.5 CPU-s per million (all processes)"]
    assert "6.00 CPU-s/M" in jsonl and "**not met**" in jsonl
    assert "3.00 CPU-s/M, still over the goal (÷ 2.00" in jsonl
    csv = lines["1. CPU at 0 ms, CSV ≤ 5.0 CPU-s per million (all processes)"]
    assert "**not met**" in csv and "4.00 CPU-s/M, within the goal (÷ 2.00" in csv
    assert "## Calibration" in text and "| naive loader, JSON Lines | 24.06 |" in text


def test_idle_cpu_is_compared_with_the_same_input_at_0_ms() -> None:
    records = 150_000
    measurements = [
        run("idle", "jsonl 0 ms", BULKLOAD, elapsed_s=2, cpu_s=1.0, records=records),
        run("idle", "jsonl 200 ms", BULKLOAD, elapsed_s=2.1, cpu_s=1.1, records=records),
        run("idle", "jsonl 1000 ms", BULKLOAD, elapsed_s=10.4, cpu_s=1.3, records=records),
    ]
    lines = verdict_lines(render_markdown(CONTEXT, measurements, None))
    at_200 = lines["2. CPU at 200 ms ≤ 1.2× the 0 ms figure, JSON Lines"]
    assert "1.10×" in at_200 and "**met**" in at_200
    at_1s = lines["2. CPU at 1000 ms ≤ 1.2× the 0 ms figure, JSON Lines"]
    assert "1.30×" in at_1s and "**not met**" in at_1s


def test_bound_share_verdict_and_its_calibrated_estimate() -> None:
    records = 750_000
    measurements = [
        # 50 ms: bound 300k/s; 150k/s is 50%.
        run("bound", "jsonl 50 ms", BULKLOAD, elapsed_s=5, cpu_s=5, records=records),
        run("cpu", "jsonl", NAIVE, elapsed_s=5, cpu_s=24.06),  # a 2× slower machine
    ]
    line = verdict_lines(render_markdown(CONTEXT, measurements, None))[
        "3. ≥ 95% of the API bound at 50 ms, JSON Lines"
    ]
    assert "50.0% (150,000 of 300,000 records/s)" in line and "**not met**" in line
    assert "100.0%, within the goal (share × 2.00, the slowdown measured by the naive" in line


def test_scaling_needs_the_workers_flag_and_a_gain_over_workers_0() -> None:
    records = 300_000
    measurements = [
        run("scaling", "jsonl", BULKLOAD, elapsed_s=3, cpu_s=3, records=records, workers="0"),
        run("scaling", "jsonl", BULKLOAD, elapsed_s=2, cpu_s=3, records=records, workers="1"),
        run("scaling", "jsonl", BULKLOAD, elapsed_s=1.5, cpu_s=4, records=records, workers="2"),
    ]
    line = verdict_lines(render_markdown(CONTEXT, measurements, None))[
        "4. records/s at --workers 1 and 2 (0 ms), faster than --workers 0, JSON Lines"
    ]
    assert "0: 100,000/s; 1: 150,000/s (1.50×); 2: 200,000/s (2.00×)" in line
    assert "**met**" in line
    without = render_markdown(replace(CONTEXT, workers_supported=False), [], None)
    assert f"| --workers 1 | {NO_WORKERS_FLAG} |" in without
    assert (
        "not measured"
        in verdict_lines(without)[
            "4. records/s at --workers 1 and 2 (0 ms), faster than --workers 0"
        ]
    )


def test_memory_goal_judges_the_whole_tree() -> None:
    measurements = [
        run("memory", "100 MB mixed", BULKLOAD, elapsed_s=5, cpu_s=2, rss=70, tree_rss=120),
        run("memory", "1000 MB mixed", BULKLOAD, elapsed_s=50, cpu_s=20, rss=80, tree_rss=230),
    ]
    line = verdict_lines(render_markdown(CONTEXT, measurements, None))[
        "5. peak RSS of the whole process tree < 200 MB at any input size (1 GB measured)"
    ]
    assert "120 MB at 100 MB mixed, 230 MB at 1000 MB mixed" in line and "**not met**" in line


def test_resume_verdict() -> None:
    resume = ResumeResult(
        input_records=1000,
        input_bytes=250_000,
        killed_after_s=10.0,
        records_at_kill=500,
        rerun_time_to_first_request_s=0.5,
        rerun_wall_s=11.0,
        rerun_exit_code=0,
        rerun_records_skipped=500,
        rerun_records_ingested=500,
        emulator_records_total=1030,
    )
    text = render_markdown(CONTEXT, [], resume)
    assert "**met**" in verdict_lines(text)["skipping the done half < 10% of the time it took"]
    assert "| records stored twice (sent again after the kill) | 30 |" in text
    assert "a note about pinning" in text


def test_a_failed_run_is_called_out() -> None:
    bad = replace(run("cpu", "jsonl", BULKLOAD, elapsed_s=5, cpu_s=2), exit_code=1)
    text = render_markdown(CONTEXT, [bad], None)
    assert "did not ingest every record" in text


def test_writes_markdown_and_png(tmp_path: Path) -> None:
    measurements = [
        run("idle", f"{fmt} {latency} ms", BULKLOAD, elapsed_s=1.0 + latency / 100, cpu_s=1)
        for latency in (0, 200, 1000)
        for fmt in ("jsonl", "csv")
    ] + [run("bound", "jsonl 50 ms", BULKLOAD, elapsed_s=5, cpu_s=5)]
    markdown, png = tmp_path / "RESULTS.md", tmp_path / "throughput.png"
    write_report(markdown, png, CONTEXT, measurements, None)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "![throughput against latency](throughput.png)" in markdown.read_text(encoding="utf-8")


def test_saved_results_render_the_same_report(tmp_path: Path) -> None:
    measurements = [
        run("cpu", "jsonl", BULKLOAD, elapsed_s=5, cpu_s=3.0),
        run("cpu", "jsonl", NAIVE, elapsed_s=12, cpu_s=9.0),
    ]
    resume = ResumeResult(
        input_records=1000,
        input_bytes=250_000,
        killed_after_s=10.0,
        records_at_kill=500,
        rerun_time_to_first_request_s=None,
        rerun_wall_s=11.0,
        rerun_exit_code=0,
        rerun_records_skipped=500,
        rerun_records_ingested=500,
        emulator_records_total=None,
    )
    path = tmp_path / "results.json"
    save_results(path, CONTEXT, measurements, resume)
    context, loaded, loaded_resume = load_results(path)
    assert render_markdown(context, loaded, loaded_resume) == render_markdown(
        CONTEXT, measurements, resume
    )


def test_idle_verdict_compares_as_million_record_runs_when_start_up_was_measured() -> None:
    records = 150_000
    measurements = [
        run("cpu", STARTUP_CASE, BULKLOAD, elapsed_s=0.1, cpu_s=0.5, records=1_000),
        # 0 ms: 0.5 s start-up + 0.5 s for 150k records: 0.5 + 3.33 = 3.83 as a 1M run.
        run("idle", "jsonl 0 ms", BULKLOAD, elapsed_s=2, cpu_s=1.0, records=records),
        # 1 s: 1.15× as measured (start-up dilutes it), 0.5 + 4.33 = 4.83 as a 1M run: 1.26×.
        run("idle", "jsonl 1000 ms", BULKLOAD, elapsed_s=10.4, cpu_s=1.15, records=records),
    ]
    line = verdict_lines(render_markdown(CONTEXT, measurements, None))[
        "2. CPU at 1000 ms ≤ 1.2× the 0 ms figure, JSON Lines"
    ]
    assert "1.26× (4.83 vs 3.83 CPU-s/M as 1M runs; 1.15× as measured" in line
    assert "**not met**" in line


def test_runs_that_started_workers_subtract_the_start_up_run_that_did_too() -> None:
    half = 500_000
    measurements = [
        run("cpu", STARTUP_CASE, BULKLOAD, elapsed_s=0.1, cpu_s=0.5, records=1_000),
        run("cpu", STARTUP_CASE, BULKLOAD, elapsed_s=1, cpu_s=1.2, records=1_000, workers="1"),
        # JSONL started a worker: (2.2 - 1.2) / 500k = 2.0 per million, + 1.2 = 3.2.
        run("cpu", "jsonl", BULKLOAD, elapsed_s=5, cpu_s=2.2, records=half, processes=3),
        # Parquet did not: (1.5 - 0.5) / 500k = 2.0 per million, + 0.5 = 2.5.
        run("cpu", "parquet", BULKLOAD, elapsed_s=5, cpu_s=1.5, records=half),
    ]
    text = render_markdown(CONTEXT, measurements, None)
    lines = verdict_lines(text)
    assert (
        "3.20 CPU-s/M (2.00 start-up excluded)"
        in lines["1. CPU at 0 ms, JSON Lines ≤ 2.5 CPU-s per million (all processes)"]
    )
    assert (
        "2.50 CPU-s/M (2.00 start-up excluded)"
        in lines["1. CPU at 0 ms, Parquet ≤ 3.0 CPU-s per million (all processes)"]
    )
    assert "| bulkload --workers 1 | 1.20 |" in text
