"""The report's arithmetic and verdicts, from made-up measurements."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from benchmarks.measurements import (
    BULKLOAD,
    NAIVE,
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
    repeat: int,
    *,
    elapsed_s: float,
    cpu_s: float,
    rss: float = 80.0,
    records: int = 1_000_000,
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
    )


CONTEXT = ReportContext(
    mode="quick",
    command="python -m benchmarks.run --quick",
    started_at="2024-05-01 12:00 UTC",
    duration_s=100.0,
    machine={"CPUs (nproc)": "2"},
    method_notes=["a note about pinning"],
)


def test_api_bound_is_thirty_full_batches_per_round_trip() -> None:
    assert api_bound_records_per_s(50) == 300_000
    assert api_bound_records_per_s(1000) == 15_000


def test_throughput_uses_the_loaders_own_elapsed_time() -> None:
    m = run("cpu", "0 ms", BULKLOAD, 1, elapsed_s=10.0, cpu_s=2.0)
    assert m.records_per_s == 100_000
    assert m.wall_records_per_s < m.records_per_s
    assert m.cpu_s_per_million == 2.0


def test_median_ignores_missing_values() -> None:
    assert median([3.0, float("nan"), 1.0, 2.0]) == 2.0
    assert median([]) is None


def test_verdicts_follow_the_targets() -> None:
    records = 150_000
    measurements = [
        # 1 s latency: bound 15k/s; bulkload at 14.5k/s (96.7%), naive at 10k/s.
        run("bound", "1000 ms", BULKLOAD, 1, elapsed_s=records / 14_500, cpu_s=1, records=records),
        run("bound", "1000 ms", NAIVE, 1, elapsed_s=records / 10_000, cpu_s=3, records=records),
        # CPU: bulkload 2.0 s/M, naive 5.0 s/M: 2.5x, short of the 3x target.
        run("cpu", "0 ms", BULKLOAD, 1, elapsed_s=5, cpu_s=2.0),
        run("cpu", "0 ms", NAIVE, 1, elapsed_s=12, cpu_s=5.0),
        run("memory", "100 MB mixed", BULKLOAD, 1, elapsed_s=5, cpu_s=2, rss=90),
        run("memory", "1000 MB mixed", BULKLOAD, 1, elapsed_s=50, cpu_s=20, rss=250),
    ]
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
    text = render_markdown(CONTEXT, measurements, resume)
    targets = text.split("## Targets")[1].split("\n## ")[0]
    lines = {
        line.split("|")[1].strip(): line for line in targets.splitlines() if line.startswith("| ")
    }
    assert "**met**" in lines["a. ≥ 95% of the API bound at 1000 ms"]
    assert "96.7%" in lines["a. ≥ 95% of the API bound at 1000 ms"]
    assert "**met**" in lines["b. ≤ 2.5 CPU-s per million records"]
    assert "**not met**" in lines["b. ≥ 3× less CPU than naive"]
    assert "2.50×" in lines["b. ≥ 3× less CPU than naive"]
    assert "**not met**" in lines["c. peak RSS < 200 MB, flat in input size"]
    assert "**met**" in lines["d. skipping the done half < 10% of the time it took"]
    assert "| records stored twice (sent again after the kill) | 30 |" in text
    assert "a note about pinning" in text


def test_a_failed_run_is_called_out() -> None:
    bad = replace(run("cpu", "0 ms", BULKLOAD, 1, elapsed_s=5, cpu_s=2), exit_code=1)
    text = render_markdown(CONTEXT, [bad], None)
    assert "did not ingest every record" in text


def test_writes_markdown_and_png(tmp_path: Path) -> None:
    measurements = [
        run("bound", f"{latency} ms", tool, 1, elapsed_s=1.0 + latency / 100, cpu_s=1)
        for latency in (50, 200, 1000)
        for tool in (BULKLOAD, NAIVE)
    ]
    markdown, png = tmp_path / "RESULTS.md", tmp_path / "throughput.png"
    write_report(markdown, png, CONTEXT, measurements, None)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "![throughput against latency](throughput.png)" in markdown.read_text(encoding="utf-8")


def test_start_up_cost_is_reported_apart() -> None:
    measurements = [
        run("cpu", "0 ms", BULKLOAD, 1, elapsed_s=5, cpu_s=3.0),
        run("cpu", "0 ms", NAIVE, 1, elapsed_s=12, cpu_s=9.0),
        run("cpu", STARTUP_CASE, BULKLOAD, 1, elapsed_s=0.1, cpu_s=0.5, records=1_000),
        run("cpu", STARTUP_CASE, NAIVE, 1, elapsed_s=0.1, cpu_s=0.25, records=1_000),
    ]
    text = render_markdown(CONTEXT, measurements, None)
    line = next(x for x in text.splitlines() if x.startswith("| b. ≤ 2.5 CPU-s per million"))
    assert "3.00 (2.50 start-up excluded)" in line and "**not met**" in line
    ratio_line = next(x for x in text.splitlines() if x.startswith("| b. ≥ 3× less CPU"))
    assert "3.00× (3.50× start-up excluded)" in ratio_line and "**met**" in ratio_line


def test_saved_results_render_the_same_report(tmp_path: Path) -> None:
    measurements = [
        run("cpu", "0 ms", BULKLOAD, 1, elapsed_s=5, cpu_s=3.0),
        run("cpu", "0 ms", NAIVE, 1, elapsed_s=12, cpu_s=9.0),
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
