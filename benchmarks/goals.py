"""One section of the report per goal of issue 11, each with its verdict(s)."""

from __future__ import annotations

from collections.abc import Sequence

from benchmarks.calibration import (
    STARTUP_RECORDS_TEXT,
    CpuFigure,
    as_million_run,
    cpu_figure,
    session_calibration,
)
from benchmarks.measurements import (
    BASELINE,
    BULKLOAD,
    DRY_RUN,
    NAIVE,
    NO_WORKERS_FLAG,
    STARTUP_CASE,
    Measurement,
    ReportContext,
    ResumeResult,
    api_bound_records_per_s,
    cases,
    ratio,
    select,
)
from benchmarks.tables import (
    FORMAT_NAMES,
    Verdict,
    format_of,
    latency_ms_of,
    med,
    num,
    pct,
    runs_table,
    table,
    times,
)

BOUND_SHARE_TARGET = 0.95
CPU_PER_MILLION_TARGET_S = {"jsonl": 2.5, "csv": 5.0, "parquet": 3.0}
IDLE_RATIO_TARGET = 1.2
CPU_RATIO_TARGET = 3.0
PEAK_RSS_TARGET_MB = 200.0
SKIP_SHARE_TARGET = 0.10


def cpu_section(
    ms: Sequence[Measurement], context: ReportContext
) -> tuple[list[str], list[Verdict], list[Verdict]]:
    runs = select(ms, scenario="cpu")
    main_runs = [m for m in runs if m.case != STARTUP_CASE]
    if not main_runs:
        return [], [], []
    calib = session_calibration(ms)
    rows = []
    figures: dict[tuple[str, str], CpuFigure] = {}
    for fmt in cases(main_runs, "cpu"):
        for tool in (BULKLOAD, BASELINE, NAIVE, DRY_RUN):
            figure = cpu_figure(ms, fmt, tool)
            if figure is None:
                continue
            figures[(fmt, tool)] = figure
            group = select(main_runs, case=fmt, tool=tool)
            rows.append(
                [
                    FORMAT_NAMES.get(fmt, fmt),
                    tool,
                    num(figure.as_million_run, 2),
                    f"{num(figure.direct, 2)} ({num(figure.records)} records)",
                    num(figure.per_record, 2),
                    num(med(group, lambda m: m.records_per_s)),
                    num(med(group, lambda m: m.peak_rss_mb)),
                    num(max((m.tree_processes or 1) for m in group)),
                    str(len(group)),
                ]
            )
    startup_rows = []
    for tool in (BULKLOAD, BASELINE, NAIVE):
        for with_workers in (False, True) if tool == BULKLOAD else (False,):
            group = [
                m
                for m in select(runs, case=STARTUP_CASE, tool=tool)
                if (m.workers is not None) == with_workers
            ]
            if group:
                label = f"{tool} --workers {group[0].workers}" if with_workers else tool
                startup_rows.append([label, num(med(group, lambda m: m.cpu_s), 2)])
    header = [
        "input",
        "tool",
        "CPU-s per million (as a 1M run)",
        "as measured",
        "start-up excluded",
        "records/s",
        "tree peak RSS MB",
        "processes",
        "runs",
    ]
    workers = (
        "its default `--workers auto`"
        if context.workers_supported
        else "one process (the loader has no --workers)"
    )
    lines = [
        "## 1. CPU per million small records at 0 ms (all loader processes)",
        "",
        "Emulator at 0 ms, so the loader never waits on the API. CPU = user + system seconds of",
        f"the loader and every worker process it started; bulkload runs with {workers}.",
        "The goal's figure is that of one 1M-record run, start-up included once: the median CPU",
        f"of the tool's {STARTUP_RECORDS_TEXT} JSON Lines run plus its per-record CPU × 1M (so a",
        "shorter run does not count start-up more heavily); 'as measured' is CPU / records of",
        "the runs themselves, 'start-up excluded' the per-record part alone. bulkload has two",
        "start-up runs: one as its default starts on 1,000 records (no workers) and one with",
        "as many `--workers` as `auto` starts on a longer input; runs that started workers",
        "subtract the second, so starting them counts as fixed cost. Parquet's start-up",
        "also imports pyarrow, which its per-record part carries. `baseline` is the older tree",
        "(`--baseline-tree`), `naive` the one-hour loader, `--dry-run` bulkload reading,",
        "validating and cutting batches without sending.",
        "",
        *table(header, rows),
        "",
    ]
    if startup_rows:
        lines += [
            *table(["tool", f"start-up run CPU s ({STARTUP_RECORDS_TEXT})"], startup_rows),
            "",
        ]
    lines += [*runs_table(runs), ""]
    verdicts: list[Verdict] = []
    for fmt, target in CPU_PER_MILLION_TARGET_S.items():
        ours = figures.get((fmt, BULKLOAD))
        value = ours.as_million_run if ours else None
        skipped = fmt == "parquet" and context.parquet_available is False
        measured = (
            f"{num(value, 2)} CPU-s/M ({num(ours.per_record, 2)} start-up excluded)"
            if ours is not None
            else ("skipped: pyarrow not installed" if skipped else "–")
        )
        verdicts.append(
            (
                f"1. CPU at 0 ms, {FORMAT_NAMES[fmt]} ≤ {target} CPU-s per million (all processes)",
                measured,
                None if value is None else value <= target,
                calib.scaled_cpu(fmt, value, target) if value is not None else "",
            )
        )
    ours_jsonl, naive = figures.get(("jsonl", BULKLOAD)), figures.get(("jsonl", NAIVE))
    naive_ratio = ratio(
        naive.as_million_run if naive else None, ours_jsonl.as_million_run if ours_jsonl else None
    )
    naive_marginal = ratio(
        naive.per_record if naive else None, ours_jsonl.per_record if ours_jsonl else None
    )
    other = [
        (
            "≥ 3× less CPU than naive (JSON Lines, 0 ms)",
            f"{times(naive_ratio)} ({times(naive_marginal)} start-up excluded)",
            None if naive_ratio is None else naive_ratio >= CPU_RATIO_TARGET,
            "",
        )
    ]
    return lines, verdicts, other


# -- goal 2: CPU while waiting -----------------------------------------------------------------


def _million(group: Sequence[Measurement], ms: Sequence[Measurement]) -> float | None:
    """As a 1M-record run where section 1's start-up runs are there and comparable."""
    figure = as_million_run(group, ms)
    return None if figure is None or figure.per_record is None else figure.as_million_run


def idle_section(ms: Sequence[Measurement]) -> tuple[list[str], list[Verdict]]:
    runs = select(ms, scenario="idle")
    if not runs:
        return [], []
    rows = []
    verdicts: list[Verdict] = []
    formats = list(dict.fromkeys(format_of(c) for c in cases(ms, "idle")))
    for fmt in formats:
        fmt_cases = [c for c in cases(ms, "idle") if format_of(c) == fmt]
        at_zero = next((c for c in fmt_cases if latency_ms_of(c) == 0), None)
        zero_group = select(runs, case=at_zero, tool=BULKLOAD) if at_zero else []
        zero_figure = med(zero_group, lambda m: m.cpu_s_per_million)
        zero_million = _million(zero_group, ms)
        for case in fmt_cases:
            group = select(runs, case=case, tool=BULKLOAD)
            latency = latency_ms_of(case)
            figure = med(group, lambda m: m.cpu_s_per_million)
            million = _million(group, ms)
            rate = med(group, lambda m: m.records_per_s)
            bound = api_bound_records_per_s(latency)
            vs_zero = ratio(figure, zero_figure)
            vs_zero_million = ratio(million, zero_million)
            rows.append(
                [
                    FORMAT_NAMES.get(fmt, fmt),
                    f"{latency:g} ms",
                    num(group[0].input_records if group else None),
                    num(million, 2),
                    times(vs_zero_million) if latency > 0 else "1.00× (reference)",
                    num(figure, 2),
                    times(vs_zero) if latency > 0 else "1.00× (reference)",
                    num(rate),
                    num(bound),
                    pct(ratio(rate, bound)) if latency > 0 else "–",
                    num(med(group, lambda m: float(m.emulator_max_in_flight or 0))),
                ]
            )
            if latency > 0:
                # As 1M-record runs where section 1's start-up run is there: the goal's own
                # figure, and stricter (start-up dilutes a ratio less at 1M than at 150k).
                judged, used, base = (
                    (vs_zero_million, million, zero_million)
                    if vs_zero_million is not None
                    else (vs_zero, figure, zero_figure)
                )
                how = "as 1M runs" if vs_zero_million is not None else "as measured"
                verdicts.append(
                    (
                        f"2. CPU at {latency:g} ms ≤ {IDLE_RATIO_TARGET}× the 0 ms figure, {FORMAT_NAMES.get(fmt, fmt)}",
                        f"{times(judged)} ({num(used, 2)} vs {num(base, 2)} CPU-s/M {how};"
                        f" {times(vs_zero)} as measured on {num(group[0].input_records if group else None)} records)",
                        None if judged is None else judged <= IDLE_RATIO_TARGET,
                        "n/a (a ratio of two runs of this session)",
                    )
                )
    header = [
        "input",
        "latency",
        "records",
        "CPU-s/M as a 1M run",
        "vs 0 ms",
        "CPU-s/M as measured",
        "vs 0 ms",
        "records/s",
        "API bound rec/s",
        "share of bound",
        "max in flight",
    ]
    lines = [
        "## 2. CPU per record while waiting on the API (200 ms and 1 s against 0 ms)",
        "",
        "The same input at each latency (one emulator per latency, the runs alternating between",
        "them). Goal: idle gaps must not make a record dearer, at most 1.2× its 0 ms CPU. The",
        "verdict compares the figures as 1M-record runs (section 1's start-up run plus these",
        "runs' per-record CPU × 1M), as goal 1 does; at 150k records start-up is a large part",
        "of each run and would pull the as-measured ratio toward 1. The share of the bound is",
        "for information (the 200 ms runs are short; section 3 is the throughput goal).",
        "",
        *table(header, rows),
        "",
        *runs_table(runs),
        "",
    ]
    return lines, verdicts


# -- goal 3: share of the API bound -------------------------------------------------------------


def machine_limit(ms: Sequence[Measurement], fmt: str) -> float | None:
    """bulkload's median throughput with the emulator at 0 ms: the machine's ceiling for it."""
    return med(select(ms, scenario="cpu", case=fmt, tool=BULKLOAD), lambda m: m.records_per_s)


def bound_section(ms: Sequence[Measurement]) -> tuple[list[str], list[Verdict]]:
    runs = select(ms, scenario="bound")
    if not runs:
        return [], []
    calib = session_calibration(ms)
    rows = []
    verdicts: list[Verdict] = []
    for case in cases(ms, "bound"):
        fmt, latency = format_of(case), latency_ms_of(case)
        bound = api_bound_records_per_s(latency)
        group = select(runs, case=case, tool=BULKLOAD)
        rate = med(group, lambda m: m.records_per_s)
        share = ratio(rate, bound)
        limit = machine_limit(ms, fmt)
        rows.append(
            [
                FORMAT_NAMES.get(fmt, fmt),
                f"{latency:g} ms",
                num(group[0].input_records if group else None),
                num(bound),
                num(rate),
                pct(share),
                num(limit),
                pct(ratio(rate, limit)) if limit is not None and bound > limit else "–",
                num(med(group, lambda m: m.wall_records_per_s)),
                num(med(group, lambda m: m.cpu_s_per_million), 2),
                num(max((m.tree_processes or 1) for m in group) if group else None),
                num(med(group, lambda m: float(m.emulator_max_in_flight or 0))),
                pct(med(group, lambda m: m.emulator_core_share or float("nan"))),
            ]
        )
        measured = f"{pct(share)} ({num(rate)} of {num(bound)} records/s)"
        if limit is not None and bound > limit:
            measured += f"; CPU-bound: bulkload's 0 ms rate here is {num(limit)}/s"
        factor, source = calib.slowdown(fmt)
        scaled = ""
        if share is not None and factor is not None:
            estimate = min(1.0, share * factor)
            within = "within" if estimate >= BOUND_SHARE_TARGET else "still under"
            scaled = (
                f"{pct(estimate)}, {within} the goal (share × {factor:.2f}, the slowdown"
                f" measured by {source}; holds only while the loader is CPU-bound)"
            )
        verdicts.append(
            (
                f"3. ≥ 95% of the API bound at {latency:g} ms, {FORMAT_NAMES.get(fmt, fmt)}",
                measured,
                None if share is None else share >= BOUND_SHARE_TARGET,
                scaled,
            )
        )
    header = [
        "input",
        "latency",
        "records",
        "API bound rec/s",
        "bulkload rec/s",
        "share of bound",
        "0 ms rate (section 1)",
        "share of 0 ms rate",
        "wall rec/s",
        "CPU-s per million",
        "processes",
        "max in flight",
        "emulator busy (of its core)",
    ]
    lines = [
        "## 3. Share of the API bound",
        "",
        "Bound = 30 requests × 500 records / latency. Rates are medians of records ingested per",
        "second of the loader's own elapsed time; the wall column includes interpreter start-up.",
        "The loader is free to use both cores (its worker processes too), on the same machine",
        "as the emulator. 'Share of 0 ms rate' compares with bulkload's median at 0 ms (section",
        "1): where the API bound is above that rate, the loader is CPU-bound, not API-bound.",
        "'Emulator busy' is the emulator's CPU over the run's wall time: near 100% the",
        "emulator (pinned to one core) is what holds the rate back, not the loader.",
        "",
        *table(header, rows),
        "",
        *runs_table(runs),
        "",
    ]
    return lines, verdicts


# -- goal 4: scaling with --workers ----------------------------------------------------------------


def scaling_section(
    ms: Sequence[Measurement], context: ReportContext
) -> tuple[list[str], list[Verdict]]:
    runs = select(ms, scenario="scaling")
    title = ["## 4. Scaling with cores: `--workers N` at 0 ms", ""]
    if not runs:
        if context.workers_supported is False:
            rows = [[f"--workers {n}", NO_WORKERS_FLAG] for n in ("0", "1", "2")]
            return (
                [*title, *table(["run", "records/s"], rows), ""],
                [
                    (
                        "4. records/s at --workers 1 and 2 (0 ms), faster than --workers 0",
                        NO_WORKERS_FLAG,
                        None,
                        "",
                    )
                ],
            )
        return [], []
    rows = []
    verdicts: list[Verdict] = []
    for fmt in cases(ms, "scaling"):
        rates: dict[str, float | None] = {}
        for workers in dict.fromkeys(m.workers or "" for m in select(runs, case=fmt)):
            group = [m for m in select(runs, case=fmt) if (m.workers or "") == workers]
            rates[workers] = med(group, lambda m: m.records_per_s)
            rows.append(
                [
                    FORMAT_NAMES.get(fmt, fmt),
                    workers or "default",
                    num(group[0].input_records),
                    num(rates[workers]),
                    times(ratio(rates[workers], rates.get("0"))),
                    num(med(group, lambda m: m.cpu_s_per_million), 2),
                    num(med(group, lambda m: m.peak_rss_mb)),
                    num(max((m.tree_processes or 1) for m in group)),
                ]
            )
        w0, w1, w2 = rates.get("0"), rates.get("1"), rates.get("2")
        # Both counts must beat 0: one lucky run of two must not pass for scaling.
        best = None if w1 is None or w2 is None else min(w1, w2)
        verdicts.append(
            (
                f"4. records/s at --workers 1 and 2 (0 ms), each faster than --workers 0, {FORMAT_NAMES.get(fmt, fmt)}",
                f"0: {num(w0)}/s; 1: {num(w1)}/s ({times(ratio(w1, w0))}); 2: {num(w2)}/s ({times(ratio(w2, w0))})",
                None if best is None or w0 is None or w1 is None or w2 is None else best > w0,
                "",
            )
        )
    header = [
        "input",
        "--workers",
        "records",
        "records/s",
        "vs --workers 0",
        "CPU-s per million",
        "tree peak RSS MB",
        "processes",
    ]
    lines = [
        *title,
        "`--workers 0` runs everything in the loader process; N ≥ 1 reads, validates and",
        "serializes in N worker processes while the loader process reads and sends. On this",
        "2-core machine two workers compete with the loader process and the emulator (whose",
        "CPU over each run is in the runs table); what to expect on larger machines is in the",
        "README.",
        "",
        *table(header, rows),
        "",
        *runs_table(runs),
        "",
    ]
    return lines, verdicts


# -- goal 5: memory ------------------------------------------------------------------------------


def memory_section(ms: Sequence[Measurement]) -> tuple[list[str], list[Verdict]]:
    runs = select(ms, scenario="memory")
    if not runs:
        return [], []
    rows = []
    peaks: dict[str, float] = {}
    for case in cases(ms, "memory"):
        for tool in (BULKLOAD, NAIVE):
            group = select(runs, case=case, tool=tool)
            if not group:
                continue
            peak = max(m.peak_rss_mb for m in group)
            if tool == BULKLOAD:
                peaks[case] = peak
            rows.append(
                [
                    case,
                    tool,
                    num(peak),
                    num(max(m.max_rss_mb for m in group)),
                    num(max((m.tree_processes or 1) for m in group)),
                    num(med(group, lambda m: m.records_per_s)),
                    str(len(group)),
                ]
            )
    worst = max(peaks.values()) if peaks else None
    largest_case = cases(ms, "memory")[-1] if peaks else None
    lines = [
        "## 5. Memory: peak RSS of the whole process tree",
        "",
        "The loader and every process it started (its workers and multiprocessing's resource",
        "tracker, ~11 MB), their RSS summed at each 50 ms sample from /proc",
        "(the highest sum over the run; shared pages count once per process, an upper bound),",
        "beside `ru_maxrss` of the largest single process. JSON Lines of mixed sizes (1% of",
        "2-60 KB records, 1 in 20,000 of 200-900 KB), emulator at 0 ms.",
        "",
        *table(
            [
                "input",
                "tool",
                "tree peak RSS MB (max of runs)",
                "largest process MB",
                "processes",
                "records/s",
                "runs",
            ],
            rows,
        ),
        "",
        *runs_table(runs),
        "",
    ]
    sizes = ", ".join(f"{num(peak)} MB at {case}" for case, peak in peaks.items())
    if largest_case is not None and "1000 MB" not in largest_case:
        sizes += " (no 1 GB input in this session)"
    verdict = (
        "5. peak RSS of the whole process tree < 200 MB at any input size (1 GB measured)",
        sizes or "–",
        None if worst is None else worst < PEAK_RSS_TARGET_MB,
        "n/a (memory does not scale with the machine's speed)",
    )
    return lines, [verdict]


# -- resume (issue 4) ---------------------------------------------------------------------------


def _cross_check(resume: ResumeResult) -> str:
    """Skipping cost seen from the whole rerun, in case some of it came after the first request."""
    if not resume.rerun_records_ingested or resume.records_at_kill <= 0:
        return "–"
    first_rate = resume.records_at_kill / resume.killed_after_s
    overhead_s = resume.rerun_wall_s - resume.rerun_records_ingested / first_rate
    return f"{overhead_s:.2f} s ({pct(overhead_s / resume.killed_after_s)} of the first part)"


def resume_section(resume: ResumeResult | None) -> tuple[list[str], list[Verdict]]:
    if resume is None:
        return [], []
    share = resume.skip_share_of_first_part
    rows = [
        ["input", f"{num(resume.input_records)} records, {num(resume.input_bytes / 1e6)} MB"],
        ["first run killed (SIGKILL) after", f"{resume.killed_after_s:.2f} s"],
        ["records acknowledged by the emulator at the kill", num(resume.records_at_kill)],
        [
            "rerun: time to its first ingest request",
            num(resume.rerun_time_to_first_request_s, 2) + " s",
        ],
        ["skip time / first-run time", pct(share)],
        ["rerun wall time (whole rerun)", f"{resume.rerun_wall_s:.2f} s"],
        [
            "cross-check: rerun wall − its new records at the first run's rate",
            _cross_check(resume),
        ],
        [
            "rerun records skipped / ingested",
            f"{num(resume.rerun_records_skipped)} / {num(resume.rerun_records_ingested)}",
        ],
        ["rerun exit code", str(resume.rerun_exit_code)],
        ["records stored twice (sent again after the kill)", num(resume.duplicates)],
    ]
    lines = [
        "## Resume after a crash",
        "",
        "Method: the load runs with a checkpoint while the harness watches the emulator's row",
        "counter; once half the records are acknowledged the loader gets SIGKILL (a crash, no",
        "chance to flush anything). The time from its start to the kill is the first part. The",
        "same command is then run again, and the harness times how long the rerun takes from",
        "process start to its first ingest request reaching the emulator: that is the time spent",
        "starting up, reading the checkpoint and skipping the acknowledged first half.",
        "",
        *table(["", ""], rows),
        "",
    ]
    verdict = (
        "skipping the done half < 10% of the time it took",
        pct(share),
        None if share is None else share < SKIP_SHARE_TARGET,
        "",
    )
    return lines, [verdict]
