"""Peak v2: does a load hold the tenant's 50 requests/s at 200 ms latency?

    python -m benchmarks.v2_rate                 # 20 s of sending, 500 rows per request
    python -m benchmarks.v2_rate --seconds 60    # longer

The emulator runs in its own process (``--no-store``: rows are validated and counted, not
written) with ``--latency-ms 200`` and its 50/s sliding window; ``bulkload load OBJECT
--solution S`` runs with its defaults (rate 50/s paced evenly, 500 rows, concurrency 30).
The steady rate is read from the emulator's own counters, polled once a second, over the
run minus its first and last two seconds (start-up and the tail); 429s from the window are
counted too (the target is none). Not part of ``make test``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import orjson

SOLUTION = "QP_OOTB"
TARGET_REQUESTS_PER_S = 50.0
SCHEMA = {
    "objects": [
        {
            "objectName": "CUSTOMER",
            "primaryKeys": ["CUSTOMER_ID"],
            "columns": [
                {"name": "CUSTOMER_ID", "dataType": "string", "nullable": False,
                 "validations": [{"type": "nonNull"}, {"type": "maxLength", "value": 64}]},
                {"name": "CREDIT_LIMIT", "dataType": "numeric", "precision": 12, "scale": 2},
                {"name": "SEGMENT", "dataType": "string"},
                {"name": "SCORE", "dataType": "float"},
                {"name": "UPDATED_AT", "dataType": "timestamp", "nullable": False,
                 "validations": [{"type": "timestampFormat", "format": "YYYY-MM-DD HH:MI:SS"}]},
            ],
        }
    ]
}  # fmt: skip


def write_rows(path: Path, count: int) -> None:
    with path.open("wb", buffering=1 << 20) as out:
        for i in range(count):
            row = {
                "CUSTOMER_ID": f"C{i:09d}",
                "CREDIT_LIMIT": f"{i % 100000}.{i % 100:02d}",
                "SEGMENT": ("retail", "wholesale", "online")[i % 3],
                "SCORE": (i % 1000) / 10,
                "UPDATED_AT": f"2026-{1 + i % 12:02d}-{1 + i % 28:02d} 12:00:00",
            }
            out.write(orjson.dumps(row) + b"\n")


def stats(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url + "/_emulator/stats", timeout=10) as response:
        result: dict[str, Any] = json.load(response)
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="Sending time to aim for.")
    parser.add_argument("--latency-ms", type=float, default=200.0)
    parser.add_argument("--rows-per-request", type=int, default=500)
    args = parser.parse_args()
    requests = int(args.seconds * TARGET_REQUESTS_PER_S)
    rows = requests * args.rows_per_request
    key = "bench-v2-key"
    with tempfile.TemporaryDirectory(prefix="bulkload-v2-bench-") as tmp:
        work = Path(tmp)
        data = work / "customers.jsonl"
        write_rows(data, rows)
        schema = work / "schema.json"
        schema.write_bytes(orjson.dumps(SCHEMA))
        emulator = subprocess.Popen(
            [sys.executable, "-m", "bulkload", "emulator", "--port", "0", "--no-store",
             "--api-key", key, "--latency-ms", str(args.latency_ms),
             "--solution", f"{SOLUTION}:QP_:_OOTB", "--v2-schema", str(schema)],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert emulator.stdout is not None
            url = emulator.stdout.readline().rsplit(" ", 1)[-1].strip()
            samples: list[tuple[float, int]] = []
            done = threading.Event()

            def poll() -> None:
                while not done.wait(1.0):
                    samples.append((time.monotonic(), stats(url)["v2"]["ingests"]))

            poller = threading.Thread(target=poll, daemon=True)
            poller.start()
            started = time.monotonic()
            load = subprocess.run(
                [sys.executable, "-m", "bulkload", "load", "CUSTOMER", str(data),
                 "--solution", SOLUTION, "--base-url", url, "--api-key", key, "--no-progress",
                 "--checkpoint", str(work / "cp.jsonl"), "--summary-json", str(work / "s.json")],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            elapsed = time.monotonic() - started
            done.set()
            poller.join()
            final = stats(url)
        finally:
            emulator.terminate()
            emulator.wait(timeout=30)
        if load.returncode != 0:
            raise SystemExit(f"the load failed ({load.returncode}): {load.stderr.strip()}")
        summary = json.loads((work / "s.json").read_text())
    steady = [s for s in samples if s[1] > 0][2:-2]
    if len(steady) < 2:
        raise SystemExit("the run was too short to measure a steady rate: raise --seconds")
    rate = (steady[-1][1] - steady[0][1]) / (steady[-1][0] - steady[0][0])
    refused = final["limit_violations"]["over_v2_rate"]
    print(
        f"v2 load: {rows:,} rows in {requests:,} requests of {args.rows_per_request}, "
        f"latency {args.latency_ms:.0f} ms\n"
        f"  steady rate {rate:.1f} requests/s = {rate / TARGET_REQUESTS_PER_S:.1%} of "
        f"{TARGET_REQUESTS_PER_S:.0f}/s ({rate * args.rows_per_request:,.0f} rows/s)\n"
        f"  whole run {summary['requests'] / elapsed:.1f} requests/s over {elapsed:.1f} s "
        f"(start-up included); 429s from the rate window: {refused}; "
        f"p50 latency {summary['latency_p50_s'] * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
