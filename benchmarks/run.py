"""The benchmark harness: bulkload, the naive baseline and (optionally) an older bulkload
tree, end to end, against the emulator; one section of the report per goal of issue 11.

    python -m benchmarks.run --quick     # < 2 minutes, small inputs: a smoke test, in scratch/
    python -m benchmarks.run --full      # the figures in RESULTS.md (~12-15 minutes here)
    python -m benchmarks.run --quick --only cpu,scaling   # some scenarios, report under scratch/
    python -m benchmarks.run --full --baseline-tree /tmp/base   # with the calibration runs

The emulator runs in its own process (``--no-store``: it parses and counts but does not
write rows, so its storage is not what is measured), pinned to the last core when there
are two or more; the loader is free to use every core (its worker processes need them),
unless --pin-loader pins it to the first. The loaders run as subprocesses with the same
arguments, alternating (A B C A B C ...) in one session, so slow drifts of a shared machine
hit all alike.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import datagen
from benchmarks.datagen import Dataset
from benchmarks.measurements import (
    BASELINE,
    BULKLOAD,
    DRY_RUN,
    NAIVE,
    STARTUP_CASE,
    Measurement,
    ResumeResult,
)
from benchmarks.plans import FULL, QUICK, Plan, estimate_s
from benchmarks.processes import (
    BenchmarkError,
    Emulator,
    bulkload_command,
    naive_command,
    run_child,
    send_signal,
)
from benchmarks.profile import profile_command
from benchmarks.report import ReportContext, load_results, save_results, write_report
from benchmarks.session import (
    BENCH_DIR,
    DEFAULT_BASELINE_COMMIT,
    baseline_from_commit,
    code_version,
    compile_bytecode,
    cores,
    load_average,
    loader_has_workers_flag,
    machine_description,
    snapshot_code,
    source_fingerprint,
)

API_KEY = "bench-key"  # the emulator's throwaway key; never a real credential
SCENARIOS = ("cpu", "idle", "bound", "scaling", "memory", "resume")
_STATS_POLL_S = 0.005
STARTUP_RECORDS = 1_000


def run_timeout_s(records: int) -> float:
    # Generous (the naive loader at 5k records/s), yet every run is bounded.
    return 60.0 + records / 5_000


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")


def _sum_requests(stats: dict[str, Any]) -> int:
    by_status = stats.get("requests_by_status") or {}
    return sum(int(n) for n in by_status.values())


@dataclass(frozen=True, slots=True)
class Loader:
    """One loader to run: which tool, from which tree, with what extra arguments."""

    tool: str  # BULKLOAD, DRY_RUN, BASELINE or NAIVE
    workers: str | None = None  # --workers N (only for a loader that has the flag)

    @property
    def extra_args(self) -> list[str]:
        args = ["--dry-run"] if self.tool == DRY_RUN else []
        if self.workers is not None:
            args += ["--workers", self.workers]
        return args


class Bench:
    def __init__(
        self,
        plan: Plan,
        scratch: Path,
        *,
        pin_loader: bool = False,
        baseline_tree: Path | None = None,
    ) -> None:
        self.plan = plan
        self.scratch = scratch.resolve()  # children run in other directories
        self.work = scratch / "runs"
        self.work.mkdir(parents=True, exist_ok=True)
        self.loader_core, self.emulator_core = cores(pin_loader=pin_loader)
        self.code_dir = snapshot_code(scratch)
        compile_bytecode(self.code_dir / "bulkload")
        self.code_fingerprint = source_fingerprint(self.code_dir / "bulkload")
        self.baseline_tree = baseline_tree.resolve() if baseline_tree else None
        if self.baseline_tree and not (self.baseline_tree / "bulkload" / "__main__.py").exists():
            raise BenchmarkError(
                f"--baseline-tree {baseline_tree} holds no bulkload/ package; give a checkout"
                " of bulkload (e.g. git archive e2239ed | tar -x -C /tmp/base)"
            )
        if self.baseline_tree:
            compile_bytecode(self.baseline_tree / "bulkload")
        compile_bytecode(BENCH_DIR / "naive.py")
        self.baseline_fingerprint = (
            source_fingerprint(self.baseline_tree / "bulkload") if self.baseline_tree else None
        )
        self.workers_supported = loader_has_workers_flag(self.code_dir)
        self.parquet = datagen.parquet_available()
        self.measurements: list[Measurement] = []
        self.resume: ResumeResult | None = None
        self.skipped: list[str] = []

    # -- helpers -------------------------------------------------------------------------

    def emulator(self, latency_ms: float) -> Emulator:
        return Emulator(
            api_key=API_KEY,
            latency_ms=latency_ms,
            store=False,
            core=self.emulator_core,
            cwd=self.code_dir,
        )

    def cwd(self, tool: str) -> Path:
        """bulkload runs from the snapshot, the baseline from its tree, naive from here."""
        if tool == BASELINE:
            assert self.baseline_tree is not None
            return self.baseline_tree
        return BENCH_DIR.parent if tool == NAIVE else self.code_dir

    @property
    def pinned(self) -> str:
        return "" if self.loader_core is None else f"core {self.loader_core}"

    def _fresh(self, name: str) -> Path:
        path = self.work / name
        path.unlink(missing_ok=True)
        return path

    def loader_argv(
        self, loader: Loader, dataset: Dataset, url: str, run_name: str
    ) -> tuple[list[str], Path]:
        summary = self._fresh(f"{run_name}.summary.json")
        common = [datagen.TABLE_NAME, str(dataset.path), "--base-url", url, "--api-key", API_KEY]
        if loader.tool == NAIVE:
            return naive_command(*common, "--summary-json", str(summary)), summary
        checkpoint = self._fresh(f"{run_name}.checkpoint")
        rejects = self._fresh(f"{run_name}.rejects.jsonl")
        argv = bulkload_command(
            "load",
            *common,
            "--no-progress",
            "--checkpoint",
            str(checkpoint),
            "--rejects",
            str(rejects),
            "--summary-json",
            str(summary),
            *loader.extra_args,
        )
        return argv, summary

    def measure(
        self,
        emulator: Emulator,
        scenario: str,
        case: str,
        loader: Loader,
        repeat: int,
        dataset: Dataset,
    ) -> Measurement:
        tool = loader.tool
        run_name = _slug(f"{scenario}-{case}-{tool}-{loader.workers}-{repeat}")
        argv, summary_path = self.loader_argv(loader, dataset, emulator.url, run_name)
        emulator.reset_stats()
        load_1m = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
        emulator_cpu_before = emulator.cpu_s()
        result = run_child(
            argv,
            timeout_s=run_timeout_s(dataset.records),
            core=self.loader_core,
            cwd=self.cwd(tool),
        )
        emulator_cpu_after = emulator.cpu_s()
        stats = emulator.stats()
        summary: dict[str, Any] = {}
        if summary_path.exists():
            summary = json.loads(summary_path.read_text(encoding="utf-8"))
        done = summary.get("records_would_ingest" if tool == DRY_RUN else "records_ingested", 0)
        measurement = Measurement(
            scenario=scenario,
            case=case,
            tool=tool,
            repeat=repeat,
            input_records=dataset.records,
            records_ingested=int(done or 0),
            wall_s=result.wall_s,
            loader_elapsed_s=summary.get("elapsed_s"),
            cpu_s=result.cpu_s,
            max_rss_mb=result.max_rss_mb,
            exit_code=result.exit_code,
            emulator_max_in_flight=stats.get("max_in_flight_seen"),
            emulator_requests=_sum_requests(stats),
            emulator_records=stats.get("records_ingested_total"),
            summary=summary,
            tree_peak_rss_mb=result.tree_peak_rss_mb,
            tree_processes=result.tree_processes,
            cpu_source="proc" if result.cpu_escaped_wait4 else "wait4",
            workers=loader.workers,
            pinned=self.pinned,
            load_1m=load_1m,
            emulator_cpu_s=(
                emulator_cpu_after - emulator_cpu_before
                if emulator_cpu_before is not None and emulator_cpu_after is not None
                else None
            ),
        )
        self.measurements.append(measurement)
        flag = (
            "" if measurement.ok else f"  !! exit {result.exit_code}, timed out: {result.timed_out}"
        )
        label = tool if loader.workers is None else f"{tool} -w{loader.workers}"
        print(
            f"  {scenario:8} {case:>14} {label:18} #{repeat}: {measurement.records_per_s:>9,.0f} rec/s"
            f"  wall {result.wall_s:6.2f} s  CPU {result.cpu_s:6.2f} s"
            f"  RSS {measurement.peak_rss_mb:5.0f} MB ({result.tree_processes or 1} proc){flag}",
            file=sys.stderr,
            flush=True,
        )
        if not measurement.ok and result.stderr_tail:
            print(
                "    " + result.stderr_tail.strip().replace("\n", "\n    ")[-800:], file=sys.stderr
            )
        return measurement

    def alternate(
        self,
        runs: Sequence[tuple[Emulator, str, str, Loader, Dataset]],
        repeats: int,
    ) -> None:
        """Every (emulator, scenario, case, loader, dataset) once per round, round after round."""
        for repeat in range(1, repeats + 1):
            for emulator, scenario, case, loader, dataset in runs:
                self.measure(emulator, scenario, case, loader, repeat, dataset)

    def dataset(
        self,
        kind: datagen.Kind,
        fmt: datagen.Format,
        *,
        records: int | None = None,
        target_bytes: int | None = None,
    ) -> Dataset:
        """Generate in a child process, then pick up its result from the cache.

        On Linux a child's peak RSS starts at the harness's own peak when it is spawned, so
        the harness never holds a gigabyte of rendered records itself.
        """
        size = ["--records", str(records)] if records is not None else ["--size", str(target_bytes)]
        argv = [sys.executable, "-m", "benchmarks.datagen", "--kind", kind, "--format", fmt, *size]
        result = run_child([*argv, "--out", str(self.scratch)], timeout_s=600, cwd=BENCH_DIR.parent)
        if result.exit_code != 0:
            raise BenchmarkError(f"generating data failed: {result.stderr_tail.strip()[-300:]}")
        return datagen.generate(
            self.scratch, kind=kind, fmt=fmt, records=records, target_bytes=target_bytes
        )

    def small(self, records: int, fmt: datagen.Format = "jsonl") -> Dataset:
        return self.dataset("small", fmt, records=records)

    def formats(self, wanted: Sequence[datagen.Format], scenario: str) -> list[datagen.Format]:
        """The formats this session can run: Parquet only with pyarrow installed."""
        if "parquet" in wanted and not self.parquet:
            self.skipped.append(
                f"{scenario}: Parquet skipped: pyarrow is not installed"
                " (pip install -e '.[parquet]', or '.[dev]', which includes it)"
            )
        return [fmt for fmt in wanted if fmt != "parquet" or self.parquet]

    def auto_workers(self) -> str | None:
        """What ``--workers auto`` starts for a loader placed as ours (the loader's rule:
        the cores it may use but one, at least one); None when it has no --workers."""
        if not self.workers_supported:
            return None
        usable = 1 if self.loader_core is not None else len(os.sched_getaffinity(0))
        return str(max(1, usable - 1))

    def baseline_formats(self, formats: Sequence[datagen.Format]) -> list[datagen.Format]:
        # The reference figures are for JSON Lines and CSV.
        return [fmt for fmt in formats if fmt in ("jsonl", "csv")] if self.baseline_tree else []

    # -- scenarios -----------------------------------------------------------------------

    def cpu(self) -> None:
        """Goal 1 and the calibration: CPU per million at 0 ms, every format, alternating."""
        formats = self.formats(self.plan.cpu_formats, "cpu")
        datasets = {fmt: self.small(self.plan.cpu_records_of(fmt), fmt) for fmt in formats}
        tiny = self.small(STARTUP_RECORDS)
        with self.emulator(0) as emulator:
            emulator.create_table(datagen.table_definition())
            runs: list[tuple[Emulator, str, str, Loader, Dataset]] = []
            for fmt in formats:
                runs.append((emulator, "cpu", fmt, Loader(BULKLOAD), datasets[fmt]))
                if fmt in self.baseline_formats(formats):
                    runs.append((emulator, "cpu", fmt, Loader(BASELINE), datasets[fmt]))
                if fmt == "jsonl":
                    runs.append((emulator, "cpu", fmt, Loader(NAIVE), datasets[fmt]))
                    runs.append((emulator, "cpu", fmt, Loader(DRY_RUN), datasets[fmt]))
            self.alternate(runs, self.plan.repeats)
            # The fixed cost of a run (interpreter, imports, session): subtracted in the report.
            # bulkload's twice: as its default starts on 1,000 records (no workers: auto
            # waits some chunks first) and with the workers auto starts on a longer input
            # (explicit ones start at once), so runs that started workers count starting
            # them as fixed cost, as in a 1M-record run, not per record.
            startup = [Loader(BULKLOAD), Loader(NAIVE)]
            if self.auto_workers() is not None:
                startup.insert(1, Loader(BULKLOAD, workers=self.auto_workers()))
            startup += [Loader(BASELINE)] if self.baseline_tree else []
            self.alternate(
                [(emulator, "cpu", STARTUP_CASE, loader, tiny) for loader in startup],
                self.plan.repeats,
            )

    def idle(self) -> None:
        """Goal 2: the same input at 0 ms and at each latency, one emulator per latency."""
        formats = self.formats(self.plan.idle_formats, "idle")
        datasets = {fmt: self.small(self.plan.idle_records, fmt) for fmt in formats}
        emulators = [self.emulator(latency) for latency in self.plan.idle_latencies_ms]
        try:
            for emulator in emulators:
                emulator.start()
                emulator.create_table(datagen.table_definition())
            self.alternate(
                [
                    (emulator, "idle", f"{fmt} {emulator.latency_ms:g} ms", Loader(BULKLOAD), data)
                    for fmt, data in datasets.items()
                    for emulator in emulators
                ],
                self.plan.repeats,
            )
        finally:
            for emulator in emulators:
                emulator.stop()

    def bound(self) -> None:
        """Goal 3: share of the API bound, the loader free to use every core."""
        formats = self.formats(self.plan.bound_formats, "bound")
        datasets = {fmt: self.small(self.plan.bound_records, fmt) for fmt in formats}
        latency = self.plan.bound_latency_ms
        with self.emulator(latency) as emulator:
            emulator.create_table(datagen.table_definition())
            self.alternate(
                [
                    (emulator, "bound", f"{fmt} {latency:g} ms", Loader(BULKLOAD), data)
                    for fmt, data in datasets.items()
                ],
                self.plan.repeats,
            )

    def scaling(self) -> None:
        """Goal 4: --workers 0, 1, 2 at 0 ms (only when the loader has the flag)."""
        if not self.workers_supported:
            self.skipped.append("scaling: loader has no --workers (checked `bulkload load --help`)")
            print("  scaling  skipped: loader has no --workers", file=sys.stderr)
            return
        formats = self.formats(self.plan.scaling_formats, "scaling")
        datasets = {fmt: self.small(self.plan.scaling_records, fmt) for fmt in formats}
        with self.emulator(0) as emulator:
            emulator.create_table(datagen.table_definition())
            self.alternate(
                [
                    (emulator, "scaling", fmt, Loader(BULKLOAD, workers=workers), data)
                    for fmt, data in datasets.items()
                    for workers in self.plan.scaling_workers
                ],
                self.plan.repeats,
            )

    def memory(self) -> None:
        """Goal 5: peak RSS of the whole process tree, flat in input size."""
        with self.emulator(0) as emulator:
            emulator.create_table(datagen.table_definition())
            for size in self.plan.memory_sizes_bytes:
                dataset = self.dataset("mixed", "jsonl", target_bytes=size)
                case = f"{size / 1e6:g} MB mixed"
                runs = [(emulator, "memory", case, Loader(BULKLOAD), dataset)]
                if size == self.plan.memory_sizes_bytes[0]:
                    runs.append((emulator, "memory", case, Loader(NAIVE), dataset))
                self.alternate(runs, self.plan.memory_repeats)

    def profile(self) -> str:
        dataset = self.small(self.plan.cpu_records)
        with self.emulator(0) as emulator:
            emulator.create_table(datagen.table_definition())
            argv, _ = self.loader_argv(Loader(BULKLOAD), dataset, emulator.url, "profile")
            text = profile_command(
                argv,
                self.work / "profile.raw.txt",
                run_timeout_s(dataset.records),
                self.loader_core,
                cwd=self.code_dir,
            )
        header = f"py-spy record --gil --rate 250 of `bulkload load` on {dataset.records:,} small records at 0 ms."
        return header + "\n\n" + text

    def resume_after_crash(self) -> None:
        dataset = self.dataset("small", "jsonl", target_bytes=self.plan.resume_bytes)
        half = dataset.records // 2
        with self.emulator(0) as emulator:
            emulator.create_table(datagen.table_definition())
            emulator.reset_stats()
            argv, summary_path = self.loader_argv(Loader(BULKLOAD), dataset, emulator.url, "resume")
            killed: dict[str, float] = {}

            def kill_at_half(pid: int, started: float, finished: threading.Event) -> None:
                while not finished.is_set():
                    stored = emulator.stats().get("records_ingested_total", 0)
                    if stored >= half:
                        killed["after_s"] = time.perf_counter() - started
                        send_signal(pid, signal.SIGKILL)
                        killed["records"] = stored
                        return
                    finished.wait(_STATS_POLL_S)

            first = run_child(
                argv,
                timeout_s=run_timeout_s(dataset.records),
                core=self.loader_core,
                watch=kill_at_half,
                cwd=self.code_dir,
            )
            if "after_s" not in killed:
                raise BenchmarkError(
                    f"the first resume run ended (exit {first.exit_code}) before half was loaded"
                )
            print(
                f"  resume   killed after {killed['after_s']:.2f} s at {killed['records']:,.0f} records",
                file=sys.stderr,
            )

            requests_before = _sum_requests(emulator.stats())
            first_request: dict[str, float] = {}

            def time_first_request(pid: int, started: float, finished: threading.Event) -> None:
                while not finished.is_set():
                    if _sum_requests(emulator.stats()) > requests_before:
                        first_request["after_s"] = time.perf_counter() - started
                        return
                    finished.wait(_STATS_POLL_S)

            rerun = run_child(
                argv,
                timeout_s=run_timeout_s(dataset.records),
                core=self.loader_core,
                watch=time_first_request,
                cwd=self.code_dir,
            )
            summary: dict[str, Any] = {}
            if summary_path.exists():
                summary = json.loads(summary_path.read_text(encoding="utf-8"))
            stored_total = emulator.stats().get("records_ingested_total")
        self.resume = ResumeResult(
            input_records=dataset.records,
            input_bytes=dataset.uncompressed_bytes,
            killed_after_s=killed["after_s"],
            records_at_kill=int(killed["records"]),
            rerun_time_to_first_request_s=first_request.get("after_s"),
            rerun_wall_s=rerun.wall_s,
            rerun_exit_code=rerun.exit_code,
            rerun_records_skipped=summary.get("records_skipped"),
            rerun_records_ingested=summary.get("records_ingested"),
            emulator_records_total=stored_total,
        )
        print(
            f"  resume   rerun reached its first request after {first_request.get('after_s', float('nan')):.2f} s;"
            f" rerun wall {rerun.wall_s:.2f} s, exit {rerun.exit_code}",
            file=sys.stderr,
        )


def method_notes(bench: Bench, plan: Plan) -> list[str]:
    notes = [
        "Emulator: `bulkload emulator --no-store` in its own process (parses, validates and counts"
        " records, writes no rows), one per latency setting, counters reset before each run.",
        "Loaders run as subprocesses with identical inputs and arguments, alternating within"
        " each scenario (A B C A B C ...). Medians of the runs; every run is listed with the"
        " 1-minute load average at its start.",
        "CPU seconds are those of the loader and every worker process it started: `os.wait4`"
        " of the loader includes each descendant it reaped (Linux adds a reaped child's times to"
        " its parent's; checked by a child that waits for a CPU-burning grandchild), cross-checked"
        " by a thread that samples the tree from /proc (a descendant never reaped would show"
        " there; such runs say `proc` in the CPU source column). Interpreter start-up included.",
        "Peak RSS is the whole process tree's: the sum of the RSS of the loader and its"
        " descendants, sampled from /proc every 50 ms (shared pages count once per process, so"
        " forked workers are over-counted: an upper bound). `ru_maxrss` of the largest single"
        " process is kept in the run tables too.",
        "Every tree run (the snapshot, the baseline, benchmarks/naive.py) is"
        " compiled to bytecode once before the runs, as pip does at install: where bytecode is"
        " not written (PYTHONDONTWRITEBYTECODE=1 on this machine) each run would otherwise"
        " compile its modules from source again, 50-70 ms of CPU per bulkload process.",
        "Throughput uses the loader's own elapsed time from its summary.",
        "Inputs are generated by benchmarks/datagen.py (seeded, deterministic): 'small' ≈ 260-byte"
        " records with one column of every type; 'mixed' adds 1% of 2-60 KB and 1 in 20,000 of"
        " 200-900 KB; Parquet holds the same records as JSONL, typed (decimal, date, timestamp,"
        " struct), snappy, 100,000-row row groups.",
    ]
    if bench.emulator_core is not None:
        where = (
            f"the loader on core {bench.loader_core} (--pin-loader)"
            if bench.loader_core is not None
            else "the loader free to use every core (its worker processes need them; goal 3"
            " asks for it), so it can share the emulator's core"
        )
        notes.append(
            f"Pinned with os.sched_setaffinity: the emulator on core {bench.emulator_core}, {where}."
            " The emulator stays pinned so its own work stays on one core in every scenario;"
            " its CPU over each run is in the runs tables ('emulator busy')."
        )
    else:
        notes.append("Not pinned: fewer than two cores are available to this process.")
    notes.append(
        "`--workers`: "
        + (
            "the loader has the flag; runs without it use its default (`auto`)."
            if bench.workers_supported
            else "the loader measured has no --workers flag (checked with `bulkload load"
            " --help`): every run is one process, and the scaling rows say so."
        )
    )
    if bench.baseline_tree is not None:
        notes.append(
            f"Baseline tree: {bench.baseline_tree} (source hash {bench.baseline_fingerprint}),"
            " run as `python -m bulkload load` from that directory on the same inputs, alternating"
            " with the current code, against the same (current) emulator."
        )
    notes += bench.skipped
    harness_peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    notes.append(
        f"The harness's own peak RSS was {harness_peak_mb:.0f} MB. Linux carries a parent's peak into"
        " a child's ru_maxrss at spawn, so no loader figure can read below that floor; data is"
        " generated in a child process to keep the floor low."
    )
    notes.append(
        "The machine is shared with other work (see the load averages); figures can move"
        " between sessions, which is why the runs alternate and the calibration section scales"
        " them by the naive and baseline runs of the same session."
    )
    if plan.mode == "quick":
        notes.append(
            "QUICK MODE: inputs are far smaller than the targets call for (runs of a second or"
            " two, start-up and ramp-up weigh more, a run at 1 s latency is one or two round"
            " trips), so these figures are a smoke test; see RESULTS.md for the full run."
        )
    return notes


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--quick", action="store_true", help="small inputs, under two minutes (default)"
    )
    mode.add_argument("--full", action="store_true", help="the full measurements for RESULTS.md")
    parser.add_argument("--only", help=f"comma-separated scenarios of {', '.join(SCENARIOS)}")
    parser.add_argument("--scratch", type=Path, default=datagen.DEFAULT_SCRATCH_DIR)
    parser.add_argument(
        "--baseline-tree",
        type=Path,
        metavar="PATH",
        help="a checkout of older bulkload code (e.g. `git archive e2239ed | tar -x -C PATH`):"
        " its `bulkload load` runs on the same inputs, alternating, for the calibration",
    )
    parser.add_argument(
        "--baseline-commit",
        metavar="REV",
        help="the same, from a commit of this repository (extracted under the scratch folder);"
        f" --full uses {DEFAULT_BASELINE_COMMIT} unless --baseline-tree or --no-baseline is given",
    )
    parser.add_argument(
        "--no-baseline", action="store_true", help="no baseline tree (no calibration runs)"
    )
    parser.add_argument(
        "--pin-loader",
        action="store_true",
        help="pin the loader to the first core (as before issue 11; default: every core)",
    )
    parser.add_argument(
        "--profile", action="store_true", help="also sample one bulkload run at 0 ms with py-spy"
    )
    parser.add_argument(
        "--rerender",
        type=Path,
        metavar="RESULTS_JSON",
        help="only rewrite the report from a saved scratch/results*.json (no runs)",
    )
    args = parser.parse_args(argv)

    if args.rerender:
        context, measurements, resume = load_results(args.rerender)
        _write(
            _report_dir(context.mode, args.scratch, partial=False), context, measurements, resume
        )
        return 0

    plan = FULL if args.full else QUICK
    chosen = (
        SCENARIOS if not args.only else tuple(s.strip() for s in args.only.split(",") if s.strip())
    )
    unknown = set(chosen) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios {sorted(unknown)}; choose from {', '.join(SCENARIOS)}")

    baseline_tree: Path | None = args.baseline_tree
    baseline_note = ""
    commit = args.baseline_commit or (DEFAULT_BASELINE_COMMIT if args.full else None)
    if baseline_tree is None and commit and not args.no_baseline:
        try:
            baseline_tree = baseline_from_commit(args.scratch.resolve(), commit)
            baseline_note = f"Baseline tree extracted from commit {commit}."
        except (ValueError, OSError, subprocess.SubprocessError) as exc:
            if args.baseline_commit:
                parser.error(str(exc))
            # The default baseline is a help, not a requirement (e.g. a shallow clone).
            baseline_note = f"No baseline tree: {exc}; the calibration uses the naive loader only."
            print(f"  {baseline_note}", file=sys.stderr)

    started_at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    machine = machine_description()
    version = code_version()
    began = time.monotonic()
    try:
        bench = Bench(plan, args.scratch, pin_loader=args.pin_loader, baseline_tree=baseline_tree)
    except BenchmarkError as exc:
        parser.error(str(exc))
    machine["bulkload code measured"] = (
        f"git {version}, source hash {bench.code_fingerprint}"
        " (bulkload/ is copied at the start; every run uses that copy)"
    )
    if bench.baseline_tree is not None:
        machine["baseline tree"] = (
            f"{bench.baseline_tree}, source hash {bench.baseline_fingerprint}"
        )
    estimate = estimate_s(
        plan, chosen, baseline=bench.baseline_tree is not None, workers=bench.workers_supported
    )
    machine["Estimated duration at start"] = f"{estimate / 60:.1f} min"
    print(
        f"[{plan.mode}] scenarios {', '.join(chosen)}: estimated {estimate / 60:.1f} min"
        f" (nominal rates of a slow 2-core machine); load average {load_average()}",
        file=sys.stderr,
        flush=True,
    )
    datagen.write_schema(args.scratch)
    steps = {
        "cpu": bench.cpu,
        "idle": bench.idle,
        "bound": bench.bound,
        "scaling": bench.scaling,
        "memory": bench.memory,
        "resume": bench.resume_after_crash,
    }
    failures: list[str] = []
    for name in chosen:
        print(f"[{plan.mode}] {name} (load average {load_average()})", file=sys.stderr, flush=True)
        try:
            steps[name]()
        except BenchmarkError as exc:
            failures.append(f"{name}: {exc}")
            print(f"  {name} failed: {exc}", file=sys.stderr)

    profile_text = None
    if args.profile:
        print(f"[{plan.mode}] profile", file=sys.stderr, flush=True)
        try:
            profile_text = bench.profile()
        except BenchmarkError as exc:
            failures.append(f"profile: {exc}")

    machine["Load average at end (1, 5, 15 min)"] = load_average()
    out_dir = _report_dir(plan.mode, args.scratch, partial=bool(args.only))
    command = "python -m benchmarks.run " + " ".join(argv if argv is not None else sys.argv[1:])
    notes = method_notes(bench, plan) + [f"Scenario failed: {failure}" for failure in failures]
    if baseline_note:
        notes.append(baseline_note)
    tree_now = source_fingerprint(BENCH_DIR.parent / "bulkload")
    if tree_now != bench.code_fingerprint:
        notes.append(
            f"bulkload/ in the working tree changed during the session (now {tree_now});"
            " the figures are all of the copy taken at the start."
        )
    context = ReportContext(
        mode=plan.mode,
        command=command.strip(),
        started_at=started_at,
        duration_s=time.monotonic() - began,
        machine=machine,
        method_notes=notes,
        profile_text=profile_text,
        workers_supported=bench.workers_supported,
        baseline_tree=str(bench.baseline_tree) if bench.baseline_tree else None,
        parquet_available=bench.parquet,
    )
    print(
        f"[{plan.mode}] took {context.duration_s / 60:.1f} min (estimated {estimate / 60:.1f})",
        file=sys.stderr,
    )
    suffix = _suffix(plan.mode)
    save_results(args.scratch / f"results{suffix}.json", context, bench.measurements, bench.resume)
    _write(out_dir, context, bench.measurements, bench.resume)
    return 1 if failures else 0


def _report_dir(mode: str, scratch: Path, *, partial: bool) -> Path:
    """Only a whole --full run rewrites the tracked report (RESULTS.md, throughput.png); a
    quick or partial one goes to the scratch folder, so a checkout stays clean after
    `make bench-quick`."""
    return BENCH_DIR if mode == "full" and not partial else scratch


def _suffix(mode: str) -> str:
    return "" if mode == "full" else f"-{mode}"


def _write(
    out_dir: Path,
    context: ReportContext,
    measurements: Sequence[Measurement],
    resume: ResumeResult | None,
) -> None:
    suffix = _suffix(context.mode)
    markdown_path = out_dir / f"RESULTS{suffix}.md"
    plot_path = out_dir / f"throughput{suffix}.png"
    write_report(markdown_path, plot_path, context, measurements, resume)
    print(f"wrote {markdown_path} and {plot_path}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
