"""What idling between bursts does to the CPU cost of the same work (not a test).

At 200 ms or 1 s of API latency the loader works in short bursts (a chunk validated, a few
answers read) separated by idle gaps, where at 0 ms it works without pause. This runs one
fixed piece of work, ``check_raw_many`` of one 4,000-record chunk, back to back and then
with idle gaps of increasing length between runs, and prints the thread CPU time per run.
If the figure grows with the gap, the extra CPU per record at high latency is the machine
(caches and clocks cold after an idle spell, other tenants' work in between), not work the
loader adds while it waits.

    taskset -c 0 .venv/bin/python -m benchmarks.micro_idle [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

from benchmarks.micro_validate import SCHEMA, VALID
from bulkload.contract.validate import RecordValidator

CHUNK_RECORDS = 4000
GAPS_S = (0.0, 0.002, 0.02, 0.2)


def cpu_per_run_ms(
    validator: RecordValidator, chunk: list[bytes], gap_s: float, runs: int
) -> float:
    """Median thread CPU time of one ``check_raw_many(chunk)``, with ``gap_s`` idle between."""
    times = []
    for _ in range(runs):
        started = time.thread_time()
        validator.check_raw_many(chunk)
        times.append(time.thread_time() - started)
        if gap_s:
            time.sleep(gap_s)
    return statistics.median(times) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    validator = RecordValidator(SCHEMA)
    chunk = [VALID.replace(b'"id":123456789', b'"id":%d' % i) for i in range(CHUNK_RECORDS)]
    assert validator.check_raw_many(chunk) is chunk  # the bulk path, as in a real load
    figures: dict[float, list[float]] = {gap: [] for gap in GAPS_S}
    for _ in range(args.rounds):  # gaps interleaved, so a drift in machine load hits all
        for gap in GAPS_S:
            runs = 60 if gap < 0.2 else 15
            figures[gap].append(cpu_per_run_ms(validator, chunk, gap, runs))
    print(f"check_raw_many of {CHUNK_RECORDS:,} records, thread CPU per run (median of rounds)")
    for gap, values in figures.items():
        rounds = ", ".join(f"{v:.2f}" for v in values)
        print(f"  idle gap {gap * 1e3:5.0f} ms: {statistics.median(values):6.2f} ms  ({rounds})")


if __name__ == "__main__":
    main()
