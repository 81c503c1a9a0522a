"""The benchmark harness: bulkload and the naive baseline, end to end, against the emulator.

    python -m benchmarks.run --quick     # < 2 minutes, small inputs: a smoke test, in scratch/
    python -m benchmarks.run --full      # the figures in RESULTS.md
    python -m benchmarks.run --quick --only cpu,resume   # some scenarios, report under scratch/

The emulator runs in its own process (``--no-store``: it parses and counts but does not
write rows, so its storage is not what is measured), pinned to the second core when there
is one, with the loader pinned to the first. Both loaders run as subprocesses with the same
arguments, alternating (bulkload, naive, bulkload, naive, ...) in one session, so slow
drifts of a shared machine hit both alike.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import resource
import shutil
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
from benchmarks.measurements import BULKLOAD, NAIVE, STARTUP_CASE, Measurement, ResumeResult
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

BENCH_DIR = Path(__file__).resolve().parent
API_KEY = "bench-key"  # the emulator's throwaway key; never a real credential
SCENARIOS = ("bound", "cpu", "memory", "resume", "formats")
_STATS_POLL_S = 0.005
STARTUP_RECORDS = 1_000


@dataclass(frozen=True, slots=True)
class Plan:
    """How big and how many: everything that differs between --quick and --full."""

    mode: str
    repeats: int
    bound_cases: tuple[tuple[float, int], ...]  # (latency ms, records)
    cpu_records: int
    memory_sizes_bytes: tuple[int, ...]
    memory_repeats: int
    resume_bytes: int
    formats_records: int
    formats_repeats: int


QUICK = Plan(
    mode="quick",
    repeats=3,
    bound_cases=((50, 60_000), (200, 45_000), (1000, 30_000)),
    cpu_records=100_000,
    memory_sizes_bytes=(20_000_000,),
    memory_repeats=1,
    resume_bytes=50_000_000,
    formats_records=100_000,
    formats_repeats=1,
)
FULL = Plan(
    mode="full",
    repeats=3,
    # >= 10 s at the bound for 200 ms and 1 s; at 50 ms the bound (300k/s) is beyond what two
    # shared cores can parse, so 1.5M records keeps each run >= 10 s at the machine's limit.
    bound_cases=((50, 1_500_000), (200, 750_000), (1000, 150_000)),
    cpu_records=1_000_000,
    memory_sizes_bytes=(100_000_000, 1_000_000_000),
    memory_repeats=2,
    resume_bytes=1_000_000_000,
    formats_records=1_000_000,
    formats_repeats=3,
)


def run_timeout_s(records: int) -> float:
    # Generous (the naive loader at 5k records/s), yet every run is bounded.
    return 60.0 + records / 5_000


def cores() -> tuple[int | None, int | None]:
    """(loader core, emulator core), or no pinning on a one-core machine."""
    available = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(available) < 2:
        return None, None
    return available[0], available[1]


def machine_description() -> dict[str, str]:
    def first_match(path: str, pattern: str) -> str:
        try:
            text = Path(path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "unknown"
        found = re.search(pattern, text, re.MULTILINE)
        return found.group(1).strip() if found else "unknown"

    mem_kb = first_match("/proc/meminfo", r"^MemTotal:\s+(\d+)")
    ram = f"{int(mem_kb) / 1024**2:.1f} GiB" if mem_kb.isdigit() else "unknown"
    load = (
        ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "unknown"
    )
    return {
        "CPUs (nproc)": str(
            len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        ),
        "CPU model": first_match("/proc/cpuinfo", r"^model name\s*:\s*(.+)$"),
        "RAM": ram,
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
        "OS": platform.platform(),
        "Load average at start (1, 5, 15 min)": load,
    }


def code_version() -> str:
    """The commit measured; the tree is shared and changing, so say when it was not clean."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=BENCH_DIR,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "bulkload"],
            cwd=BENCH_DIR.parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"
    return f"{head} + uncommitted changes in bulkload/" if dirty else head


def source_fingerprint(package: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def snapshot_code(scratch: Path) -> Path:
    """Copy bulkload/ so every run of a session measures the same code.

    The working tree is shared with people editing it; without a snapshot, one session
    could measure two versions of the loader. Returns the directory to run loaders from.
    """
    root = scratch / "code"
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(
        BENCH_DIR.parent / "bulkload",
        root / "bulkload",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    return root


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")


def _sum_requests(stats: dict[str, Any]) -> int:
    by_status = stats.get("requests_by_status") or {}
    return sum(int(n) for n in by_status.values())


class Bench:
    def __init__(self, plan: Plan, scratch: Path) -> None:
        self.plan = plan
        self.scratch = scratch.resolve()  # children run in other directories
        self.work = scratch / "runs"
        self.work.mkdir(parents=True, exist_ok=True)
        self.loader_core, self.emulator_core = cores()
        self.code_dir = snapshot_code(scratch)
        self.code_fingerprint = source_fingerprint(self.code_dir / "bulkload")
        self.measurements: list[Measurement] = []
        self.resume: ResumeResult | None = None

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
        """bulkload runs from the snapshot; the naive loader from the repository."""
        return self.code_dir if tool == BULKLOAD else BENCH_DIR.parent

    def _fresh(self, name: str) -> Path:
        path = self.work / name
        path.unlink(missing_ok=True)
        return path

    def loader_argv(
        self, tool: str, dataset: Dataset, url: str, run_name: str
    ) -> tuple[list[str], Path]:
        summary = self._fresh(f"{run_name}.summary.json")
        common = [datagen.TABLE_NAME, str(dataset.path), "--base-url", url, "--api-key", API_KEY]
        if tool == NAIVE:
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
        )
        return argv, summary

    def measure(
        self, emulator: Emulator, scenario: str, case: str, tool: str, repeat: int, dataset: Dataset
    ) -> Measurement:
        run_name = _slug(f"{scenario}-{case}-{tool}-{repeat}")
        argv, summary_path = self.loader_argv(tool, dataset, emulator.url, run_name)
        emulator.reset_stats()
        result = run_child(
            argv,
            timeout_s=run_timeout_s(dataset.records),
            core=self.loader_core,
            cwd=self.cwd(tool),
        )
        stats = emulator.stats()
        summary: dict[str, Any] = {}
        if summary_path.exists():
            summary = json.loads(summary_path.read_text(encoding="utf-8"))
        measurement = Measurement(
            scenario=scenario,
            case=case,
            tool=tool,
            repeat=repeat,
            input_records=dataset.records,
            records_ingested=int(summary.get("records_ingested", 0)),
            wall_s=result.wall_s,
            loader_elapsed_s=summary.get("elapsed_s"),
            cpu_s=result.cpu_s,
            max_rss_mb=result.max_rss_mb,
            exit_code=result.exit_code,
            emulator_max_in_flight=stats.get("max_in_flight_seen"),
            emulator_requests=_sum_requests(stats),
            emulator_records=stats.get("records_ingested_total"),
            summary=summary,
        )
        self.measurements.append(measurement)
        flag = (
            "" if measurement.ok else f"  !! exit {result.exit_code}, timed out: {result.timed_out}"
        )
        print(
            f"  {scenario:8} {case:>10} {tool:8} #{repeat}: {measurement.records_per_s:>10,.0f} rec/s"
            f"  wall {result.wall_s:6.2f} s  CPU {result.cpu_s:6.2f} s  RSS {result.max_rss_mb:5.0f} MB{flag}",
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
        emulator: Emulator,
        scenario: str,
        case: str,
        dataset: Dataset,
        tools: Sequence[str],
        repeats: int,
    ) -> None:
        for repeat in range(1, repeats + 1):
            for tool in tools:
                self.measure(emulator, scenario, case, tool, repeat, dataset)

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

    # -- scenarios -----------------------------------------------------------------------

    def bound(self) -> None:
        for latency_ms, records in self.plan.bound_cases:
            dataset = self.small(records)
            with self.emulator(latency_ms) as emulator:
                emulator.create_table(datagen.table_definition())
                self.alternate(
                    emulator,
                    "bound",
                    f"{latency_ms:g} ms",
                    dataset,
                    (BULKLOAD, NAIVE),
                    self.plan.repeats,
                )

    def cpu(self) -> None:
        dataset = self.small(self.plan.cpu_records)
        with self.emulator(0) as emulator:
            emulator.create_table(datagen.table_definition())
            self.alternate(emulator, "cpu", "0 ms", dataset, (BULKLOAD, NAIVE), self.plan.repeats)
            # The fixed cost of a run (interpreter, imports, session): subtracted in the report.
            tiny = self.small(STARTUP_RECORDS)
            self.alternate(
                emulator, "cpu", STARTUP_CASE, tiny, (BULKLOAD, NAIVE), self.plan.repeats
            )

    def memory(self) -> None:
        with self.emulator(0) as emulator:
            emulator.create_table(datagen.table_definition())
            for size in self.plan.memory_sizes_bytes:
                dataset = self.dataset("mixed", "jsonl", target_bytes=size)
                case = f"{size / 1e6:g} MB mixed"
                self.alternate(
                    emulator, "memory", case, dataset, (BULKLOAD,), self.plan.memory_repeats
                )
                self.measure(emulator, "memory", case, NAIVE, 1, dataset)

    def formats(self) -> None:
        datasets = {fmt: self.small(self.plan.formats_records, fmt) for fmt in datagen.FORMATS}
        with self.emulator(0) as emulator:
            emulator.create_table(datagen.table_definition())
            for repeat in range(1, self.plan.formats_repeats + 1):
                for fmt, dataset in datasets.items():
                    self.measure(emulator, "formats", fmt, BULKLOAD, repeat, dataset)

    def profile(self) -> str:
        dataset = self.small(self.plan.cpu_records)
        with self.emulator(0) as emulator:
            emulator.create_table(datagen.table_definition())
            argv, _ = self.loader_argv(BULKLOAD, dataset, emulator.url, "profile")
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
            argv, summary_path = self.loader_argv(BULKLOAD, dataset, emulator.url, "resume")
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
        "Loaders run as subprocesses with identical inputs and arguments; bulkload and naive"
        " alternate (A B A B A B). Medians of the runs; every run is listed.",
        "CPU seconds and peak RSS are the loader process's own (os.wait4 rusage), interpreter"
        " start-up included. Throughput uses the loader's own elapsed time from its summary.",
        "Inputs are generated by benchmarks/datagen.py (seeded, deterministic): 'small' ≈ 260-byte"
        " records with one column of every type; 'mixed' adds 1% of 2-60 KB and 1 in 20,000 of 200-900 KB.",
    ]
    if bench.loader_core is not None:
        notes.append(
            f"Pinned with os.sched_setaffinity: loader on core {bench.loader_core}, emulator on core"
            f" {bench.emulator_core}, so client and server never share a core."
        )
    else:
        notes.append("Not pinned: fewer than two cores are available to this process.")
    harness_peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    notes.append(
        f"The harness's own peak RSS was {harness_peak_mb:.0f} MB. Linux carries a parent's peak into"
        " a child's ru_maxrss at spawn, so no loader figure can read below that floor; data is"
        " generated in a child process to keep the floor low."
    )
    notes.append(
        "The machine is shared with other work (see the load average above); figures can move"
        " a few percent between sessions, which is why the runs alternate."
    )
    if plan.mode == "quick":
        notes.append(
            "QUICK MODE: inputs are far smaller than the targets call for (runs of a few seconds,"
            " start-up and ramp-up weigh more, a run at 1 s latency is only a few round trips),"
            " so these figures are a smoke test; see RESULTS.md for the full run."
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

    started_at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    machine = machine_description()
    version = code_version()
    began = time.monotonic()
    bench = Bench(plan, args.scratch)
    machine["bulkload code measured"] = (
        f"git {version}, source hash {bench.code_fingerprint}"
        " (bulkload/ is copied at the start; every run uses that copy)"
    )
    datagen.write_schema(args.scratch)
    steps = {
        "bound": bench.bound,
        "cpu": bench.cpu,
        "memory": bench.memory,
        "resume": bench.resume_after_crash,
        "formats": bench.formats,
    }
    failures: list[str] = []
    for name in chosen:
        print(f"[{plan.mode}] {name}", file=sys.stderr, flush=True)
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

    out_dir = _report_dir(plan.mode, args.scratch, partial=bool(args.only))
    command = "python -m benchmarks.run " + " ".join(argv if argv is not None else sys.argv[1:])
    notes = method_notes(bench, plan) + [f"Scenario failed: {failure}" for failure in failures]
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
