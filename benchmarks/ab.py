"""A/B of two bulkload trees on the same input: ``bulkload load`` CPU, alternating.

    python -m benchmarks.ab --a /path/to/old/tree --b /path/to/new/tree --records 1000000 --pairs 3

Each tree is a checkout holding a ``bulkload/`` package; its loader runs as
``python -m bulkload load`` from that directory (``-m`` puts it first on sys.path). One
``--no-store`` emulator (from tree A) at 0 ms serves every run; the loader is pinned to
core 0 and the emulator to core 1 when there are two. Runs alternate A B A B..., so the
drift of a shared machine hits both alike; the medians are what to compare.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from benchmarks import datagen
from benchmarks.processes import Emulator, bulkload_command, run_child

API_KEY = "ab-key"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--a", type=Path, required=True, help="tree of the baseline")
    parser.add_argument("--b", type=Path, required=True, help="tree of the change")
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--scratch", type=Path, default=datagen.DEFAULT_SCRATCH_DIR)
    args = parser.parse_args(argv)
    dataset = datagen.generate(args.scratch, kind="small", fmt="jsonl", records=args.records)
    definition = json.loads(datagen.write_schema(args.scratch).read_text(encoding="utf-8"))
    two_cores = (os.cpu_count() or 1) >= 2
    cpu: dict[str, list[float]] = {"A": [], "B": []}
    with (
        tempfile.TemporaryDirectory() as work,
        Emulator(
            api_key=API_KEY,
            latency_ms=args.latency_ms,
            core=1 if two_cores else None,
            cwd=args.a,
        ) as emulator,
    ):
        emulator.create_table(definition)
        for pair in range(args.pairs):
            for name, tree in (("A", args.a), ("B", args.b)):
                run = Path(work) / f"{name}{pair}"
                argv = bulkload_command(
                    "load", datagen.TABLE_NAME, str(dataset.path), "--base-url", emulator.url,
                    "--api-key", API_KEY, "--no-progress", "--checkpoint", f"{run}.cp",
                    "--rejects", f"{run}.rej", "--summary-json", f"{run}.json",
                )  # fmt: skip
                result = run_child(
                    argv, timeout_s=600, core=0 if two_cores else None, cwd=tree.resolve()
                )
                summary = json.loads(Path(f"{run}.json").read_text(encoding="utf-8"))
                ok = result.exit_code == 0 and summary["records_ingested"] == dataset.records
                cpu[name].append(result.cpu_s)
                print(
                    f"{name} #{pair}: CPU {result.cpu_s:5.2f} s  wall {result.wall_s:5.2f} s  "
                    f"RSS {result.max_rss_mb:4.0f} MB  exit {result.exit_code}"
                    + ("" if ok else "  !! not every record ingested"),
                    flush=True,
                )
                if not ok:
                    print(result.stderr_tail, file=sys.stderr)
                    return 1
    for name in ("A", "B"):
        runs = ", ".join(f"{value:.2f}" for value in cpu[name])
        print(f"{name}: median CPU {statistics.median(cpu[name]):.2f} s ({runs})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
