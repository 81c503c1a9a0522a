"""The live progress line at a terminal's width (pipeline/progressline.py)."""

from __future__ import annotations

from bulkload.pipeline.progressline import ProgressSnapshot, format_duration, render_line


def snapshot(**changes: int | float | None) -> ProgressSnapshot:
    values: dict[str, int | float | None] = {
        "records_read": 50_000,
        "records_ingested": 39_988,
        "records_rejected": 12,
        "records_skipped": 0,
        "bytes_read": 5_000_000,
        "bytes_total": 20_000_000,
        "in_flight": 30,
        "retries": 2,
        "elapsed_s": 10.0,
    }
    values.update(changes)
    return ProgressSnapshot(**values)  # type: ignore[arg-type]


def test_at_80_columns_bar_percent_and_eta_always_show() -> None:
    line = render_line(snapshot(), 80)
    assert len(line) <= 80
    # 40,000 settled of ~200,000 estimated from bytes (a quarter of the bytes held 50,000)
    assert line.startswith("[######") and " 20% · ETA 40s" in line
    assert "ingested" in line  # room left: the first secondary counters
    narrow = render_line(snapshot(), 50)
    assert " 20% · ETA 40s" in narrow and "ingested" not in narrow  # counters go first


def test_the_bar_counts_settled_records_including_skipped_ones() -> None:
    resumed = snapshot(records_ingested=0, records_rejected=0, records_skipped=100_000,
                       records_read=100_000, bytes_read=10_000_000, settled_at_start=100_000)  # fmt: skip
    assert resumed.fraction() == 0.5 and resumed.eta_s() is None  # nothing done this run yet
    done = snapshot(records_read=10, records_ingested=10, bytes_read=20_000_000)
    assert done.fraction() == 1.0 and " 100% · ETA 0s" in render_line(done, 80)


def test_without_a_byte_total_there_are_counters_only() -> None:
    line = render_line(snapshot(bytes_total=None), 80)
    assert line.startswith("50,000 read · 39,988 ingested") and "ETA" not in line


def test_durations() -> None:
    assert [format_duration(s) for s in (5, 65, 3700)] == ["5s", "1m05s", "1h01m"]
