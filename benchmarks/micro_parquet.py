"""Parquet's cost per record, beside JSON Lines of the same records.

    python -m benchmarks.micro_parquet write --records 200000 [--dir /tmp/pq]
    python -m benchmarks.micro_parquet stage --records 200000 [--dir /tmp/pq] [--repeat 1]
    python -m benchmarks.micro_parquet memory --records 1000000 --row-groups 100000,1000000
    python -m benchmarks.micro_parquet ab --a TREE_A --b TREE_B --records 200000 --pairs 3

``write`` turns the benchmark's small JSONL records (``benchmarks.datagen --kind small``)
into a Parquet file typed the way a warehouse export would be: integers int64, ``amount``
decimal128(12,2), ``ratio`` float64, ``active`` bool, ``day`` date32, ``seen_at``
timestamp[s] (no time zone), ``meta`` a struct (with a list inside), strings string. The
file sits beside the JSONL file and is reused while it exists.

``stage`` reads and converts in this process (no batching, no HTTP), per record, for:
``jsonl`` (read_chunks + check_raw_many), ``parquet-rows`` (read_chunks + check_object per
row: the definition, what a load did before arrowfast), ``parquet-arrow`` (read_chunks +
ArrowChunkEncoder). Under callgrind, run it twice with different ``--repeat`` and subtract,
so start-up cancels out.

``memory`` runs whole loads of files in row groups of each ``--row-groups`` size at each
``--workers`` and prints the process tree's peak RSS (what issue 11 bounds) and CPU.

``ab`` runs whole ``bulkload load`` of the Parquet and the JSONL file against one
``--no-store`` emulator at 0 ms, trees A and B alternating, and prints median CPU s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks import datagen

API_KEY = "pq-key"
ROW_GROUP = 100_000  # rows per row group of the benchmark's file (datagen's too)


def _paths(directory: Path, records: int) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "benchmarks.datagen", "--kind", "small", "--records",
         str(records), "--out", str(directory)],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    jsonl = directory / f"small-r{records}-s{datagen.DEFAULT_SEED}.jsonl"
    if not jsonl.exists():
        raise SystemExit(f"datagen did not write {jsonl}")
    return jsonl, jsonl.with_suffix(".parquet")


def write(directory: Path, records: int, row_group: int = ROW_GROUP) -> tuple[Path, Path]:
    """The JSONL file and its Parquet twin (written once), in row groups of ``row_group``
    rows (the default's file keeps its old name)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.json as pj
    import pyarrow.parquet as pq

    jsonl, parquet = _paths(directory, records)
    if row_group != ROW_GROUP:
        parquet = parquet.with_name(f"{parquet.stem}-g{row_group}.parquet")
    if parquet.exists():
        return jsonl, parquet
    inferred = pj.read_json(jsonl)
    columns = {
        "id": inferred["id"],
        "account": inferred["account"],
        # every amount has two decimals in the JSONL: the cast is exact
        "amount": pc.cast(inferred["amount"], pa.decimal128(12, 2), safe=False),
        "ratio": inferred["ratio"],
        "customer": inferred["customer"],
        "active": inferred["active"],
        "day": pc.cast(inferred["day"], pa.date32()),
        "seen_at": inferred["seen_at"],
        "meta": inferred["meta"],
        "note": inferred["note"],
    }
    table = pa.table(columns)
    tmp = parquet.with_suffix(".parquet.tmp")
    pq.write_table(table, tmp, row_group_size=row_group)
    os.replace(tmp, parquet)
    print(f"{parquet} rows={table.num_rows} bytes={parquet.stat().st_size}\n{table.schema}")
    return jsonl, parquet


def _validator() -> Any:
    from bulkload.contract.matching import FieldMapping
    from bulkload.contract.schema import TableSchema
    from bulkload.contract.validate import RecordValidator

    schema = TableSchema.from_json(datagen.table_definition())
    return RecordValidator(schema, fields=FieldMapping(schema.column_names, table=schema.name))


def _stage_runner(path_kind: str, jsonl: Path, parquet: Path) -> Callable[[], int]:
    from bulkload.pipeline.readers import discover_inputs, read_chunks

    validator = _validator()
    source = jsonl if path_kind == "jsonl" else parquet
    (input_file,) = discover_inputs([str(source)])

    def run() -> int:
        count = 0
        if path_kind == "jsonl":
            for chunk in read_chunks(input_file):
                count += len(validator.check_raw_many(chunk.items))
        elif path_kind == "parquet-rows":
            check = validator.check_object
            for chunk in read_chunks(input_file):
                count += len([check(row) for row in chunk.items])
        else:
            from bulkload.contract.arrowfast import ArrowChunkEncoder

            encode = ArrowChunkEncoder(validator)
            for chunk in read_chunks(input_file):
                count += len(encode(chunk.items))
        return count

    return run


def stage(directory: Path, records: int, kinds: Sequence[str], repeat: int) -> None:
    jsonl, parquet = write(directory, records)
    for kind in kinds:
        run = _stage_runner(kind, jsonl, parquet)
        times = []
        for _ in range(repeat):
            started = time.process_time()
            done = run()
            times.append(time.process_time() - started)
            if done != records:
                raise SystemExit(f"{kind}: {done} records, expected {records}")
        if times:
            best = min(times)
            print(f"{kind:14} {best * 1e6 / records:6.2f} µs/record (best of {repeat})", flush=True)


def ab(directory: Path, records: int, tree_a: Path, tree_b: Path, pairs: int) -> int:
    from benchmarks.processes import Emulator, bulkload_command, run_child

    jsonl, parquet = write(directory, records)
    definition = datagen.table_definition()
    two_cores = (os.cpu_count() or 1) >= 2
    cpu: dict[str, list[float]] = {}
    with (
        tempfile.TemporaryDirectory() as work,
        Emulator(
            api_key=API_KEY, latency_ms=0.0, core=1 if two_cores else None, cwd=tree_a
        ) as emulator,
    ):
        emulator.create_table(definition)
        for pair in range(pairs):
            for name, tree, source in (
                ("A parquet", tree_a, parquet),
                ("B parquet", tree_b, parquet),
                ("B jsonl", tree_b, jsonl),
            ):
                run = Path(work) / f"{name.replace(' ', '-')}{pair}"
                argv = bulkload_command(
                    "load", datagen.TABLE_NAME, str(source), "--base-url", emulator.url,
                    "--api-key", API_KEY, "--no-progress", "--checkpoint", f"{run}.cp",
                    "--rejects", f"{run}.rej", "--summary-json", f"{run}.json",
                )  # fmt: skip
                result = run_child(
                    argv, timeout_s=600, core=0 if two_cores else None, cwd=tree.resolve()
                )
                summary = json.loads(Path(f"{run}.json").read_text(encoding="utf-8"))
                ok = result.exit_code == 0 and summary["records_ingested"] == records
                cpu.setdefault(name, []).append(result.cpu_s)
                print(
                    f"{name} #{pair}: CPU {result.cpu_s:5.2f} s  wall {result.wall_s:5.2f} s  "
                    f"RSS {result.max_rss_mb:4.0f} MB  exit {result.exit_code}"
                    + ("" if ok else "  !! not every record ingested"),
                    flush=True,
                )
                if not ok:
                    print(result.stderr_tail, file=sys.stderr)
                    return 1
    for name, values in cpu.items():
        runs = ", ".join(f"{value:.2f}" for value in values)
        print(f"{name}: median CPU {statistics.median(values):.2f} s ({runs})")
    return 0


def memory(
    directory: Path, records: int, row_groups: Sequence[int], workers: Sequence[str], repeat: int
) -> int:
    """Whole ``bulkload load`` runs of Parquet files cut in row groups of each size, at each
    --workers: the peak summed RSS of the loader's process tree (TreeSampler), its largest
    process (ru_maxrss) and CPU s (wait4: the loader and every worker it reaped)."""
    from benchmarks.processes import Emulator, bulkload_command, run_child

    definition = datagen.table_definition()
    files = {group: write(directory, records, group)[1] for group in row_groups}
    with tempfile.TemporaryDirectory() as work, Emulator(api_key=API_KEY) as emulator:
        emulator.create_table(definition)
        for number in range(repeat):
            for group, source in files.items():
                for count in workers:
                    run = Path(work) / f"g{group}-w{count}-{number}"
                    argv = bulkload_command(
                        "load", datagen.TABLE_NAME, str(source), "--base-url", emulator.url,
                        "--api-key", API_KEY, "--no-progress", "--checkpoint", f"{run}.cp",
                        "--rejects", f"{run}.rej", "--summary-json", f"{run}.json",
                        "--workers", count,
                    )  # fmt: skip
                    result = run_child(argv, timeout_s=600)
                    summary = json.loads(Path(f"{run}.json").read_text(encoding="utf-8"))
                    ok = result.exit_code == 0 and summary["records_ingested"] == records
                    print(
                        f"row groups {group:>9,} --workers {count}: tree peak RSS "
                        f"{result.tree_peak_rss_mb or 0:5.0f} MB ({result.tree_processes} proc), "
                        f"largest {result.max_rss_mb:4.0f} MB, CPU {result.cpu_s:5.2f} s, "
                        f"wall {result.wall_s:5.2f} s, load avg {os.getloadavg()[0]:.2f}"
                        + ("" if ok else "  !! not every record ingested"),
                        flush=True,
                    )
                    if not ok:
                        print(result.stderr_tail, file=sys.stderr)
                        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("write", "stage", "ab", "memory"))
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "micro_parquet")
    parser.add_argument(
        "--kinds", default="jsonl,parquet-rows,parquet-arrow", help="for stage, comma-separated"
    )
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--a", type=Path, help="for ab: the baseline tree")
    parser.add_argument("--b", type=Path, help="for ab: the changed tree")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument(
        "--row-groups", default=str(ROW_GROUP), help="for write and memory, comma-separated"
    )
    parser.add_argument("--workers", default="0,1", help="for memory, comma-separated")
    args = parser.parse_args(argv)
    row_groups = [int(size) for size in args.row_groups.split(",")]
    if args.what == "write":
        for size in row_groups:
            write(args.dir, args.records, size)
        return 0
    if args.what == "memory":
        return memory(args.dir, args.records, row_groups, args.workers.split(","), args.repeat)
    if args.what == "stage":
        stage(args.dir, args.records, args.kinds.split(","), args.repeat)
        return 0
    if args.a is None or args.b is None:
        parser.error("ab needs --a and --b")
    return ab(args.dir, args.records, args.a, args.b, args.pairs)


if __name__ == "__main__":
    sys.exit(main())
