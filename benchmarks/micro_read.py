"""Reader throughput: MB/s and µs per record over a generated JSONL file (plain and gzip),
plus the JSON-array and CSV readers on the same records.

    .venv/bin/python benchmarks/micro_read.py [--size-mb 100] [--dir /tmp] [--keep]

Not a test: prints figures. Readers run one at a time in this process, so the numbers are
per core; the peak RSS of a fresh process that only reads the plain and gzip JSONL files
is printed last (memory must stay flat whatever the file size).
"""

from __future__ import annotations

import argparse
import csv
import gc
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
from isal import igzip

from bulkload.pipeline.readers import discover_inputs, read_chunks


def generate_record(n: int) -> bytes:
    """A realistic-ish record of ~150 bytes: ints, decimals, some non-ASCII text, a date."""
    return orjson.dumps(
        {
            "id": n,
            "customer": f"customer-{n % 9973:05d}",
            "amount": round((n * 37 % 100_000) / 100, 2),
            "paid": n % 3 == 0,
            "day": f"2024-{n % 12 + 1:02d}-{n % 28 + 1:02d}",
            "note": "café crème" if n % 5 == 0 else "plain note about the order",
            "meta": {"source": "web", "tries": n % 4},
        }
    )


def write_inputs(directory: Path, size_bytes: int) -> dict[str, Path]:
    """The same records as JSONL, gzipped JSONL, a JSON array and CSV, written as generated."""
    paths = {
        "jsonl": directory / "bench.jsonl",
        "jsonl.gz": directory / "bench.jsonl.gz",
        "json": directory / "bench.json",
        "csv": directory / "bench.csv",
    }
    isal_gzip: Any = igzip
    with (
        paths["jsonl"].open("wb") as jsonl,
        isal_gzip.open(paths["jsonl.gz"], "wb", compresslevel=2) as gz,
        paths["json"].open("wb") as array,
        paths["csv"].open("w", newline="", encoding="utf-8") as csv_file,
    ):
        writer = csv.writer(csv_file)
        writer.writerow(list(orjson.loads(generate_record(0))))
        array.write(b"[\n")
        written = 0
        n = 0
        while written < size_bytes:
            line = generate_record(n)
            jsonl.write(line + b"\n")
            gz.write(line + b"\n")
            array.write((b",\n" if n else b"") + line)
            record = orjson.loads(line)
            writer.writerow(
                [orjson.dumps(v).decode() if isinstance(v, dict) else v for v in record.values()]
            )
            written += len(line) + 1
            n += 1
        array.write(b"\n]\n")
    return paths


def measure(path: Path, uncompressed_bytes: int) -> tuple[float, float, int]:
    [input_file] = discover_inputs([str(path)])
    gc.collect()
    records = 0
    started = time.perf_counter()
    for chunk in read_chunks(input_file):
        records += len(chunk.items)
    elapsed = time.perf_counter() - started
    return uncompressed_bytes / elapsed / 1e6, elapsed / records * 1e6, records


def read_only_peak_rss_mb(path: Path) -> float:
    """Peak RSS of a fresh interpreter that does nothing but read ``path``.

    VmHWM, not getrusage: Linux carries ru_maxrss over exec from the parent.
    """
    code = (
        "import re, sys\n"
        "from bulkload.pipeline.readers import discover_inputs, read_chunks\n"
        "[f] = discover_inputs([sys.argv[1]])\n"
        "for chunk in read_chunks(f):\n"
        "    pass\n"
        "status = open('/proc/self/status').read()\n"
        "print(re.search(r'VmHWM:\\s+(\\d+)', status).group(1))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)], check=True, capture_output=True, text=True
    )
    return int(out.stdout.strip()) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=100.0)
    parser.add_argument("--dir", type=Path, default=None, help="where to write the inputs")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--repeat", type=int, default=2, help="best of N runs")
    args = parser.parse_args()

    directory = Path(tempfile.mkdtemp(prefix="bulkload-bench-", dir=args.dir))
    try:
        paths = write_inputs(directory, int(args.size_mb * 1e6))
        print(f"{'input':10} {'MB on disk':>10} {'MB/s':>8} {'µs/record':>10} {'records':>9}")
        for name, path in paths.items():
            uncompressed = (
                paths["jsonl"].stat().st_size if name == "jsonl.gz" else path.stat().st_size
            )
            runs = [measure(path, uncompressed) for _ in range(args.repeat)]
            mb_s, us_per_record, records = max(runs)
            print(
                f"{name:10} {path.stat().st_size / 1e6:10.1f} {mb_s:8.0f} "
                f"{us_per_record:10.2f} {records:9,}"
            )
        for name in ("jsonl", "jsonl.gz"):
            peak_mb = read_only_peak_rss_mb(paths[name])
            print(f"peak RSS of a process reading only {name}: {peak_mb:.0f} MB")
    finally:
        if not args.keep:
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
