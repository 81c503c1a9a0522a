"""What the emulator has seen: counters that tests and benchmarks read back.

They answer the questions a client author asks of a run: did the loader ever exceed a
limit, how busy did it keep the service, and how many batches were stored without an
answer (the ones a client may have sent twice).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any


class EmulatorStats:
    def __init__(self) -> None:
        self.in_flight = 0
        self._in_flight_changed = asyncio.Event()
        self._ingested_changed = asyncio.Event()
        self._zero_counters()

    def reset(self) -> None:
        """Zero the counters (not the live in-flight count) between benchmark phases."""
        self._zero_counters()

    def _zero_counters(self) -> None:
        self.requests_by_status: Counter[int] = Counter()
        self.max_in_flight_seen = self.in_flight
        self.largest_body_bytes = 0
        self.records_ingested_total = 0
        self.batches_ingested = 0
        self.over_500_records = 0
        self.over_1mb = 0
        self.over_in_flight_limit = 0
        self.faults_throttled = 0
        self.faults_failed = 0
        self.connections_reset = 0
        self.dropped_after_commit = 0
        self.records_dropped_after_commit = 0
        # Peak v2 (objects of solutions)
        self.v2_requests = 0  # every v2 call the rate window let through
        self.v2_ingests = 0  # ingest requests answered 200
        self.v2_dry_runs = 0
        self.v2_rows_received = 0
        self.v2_rows_accepted = 0
        self.v2_rows_failed = 0
        self.over_v2_rate_limit = 0
        self.over_v2_row_limit = 0

    def request_started(self) -> None:
        self.in_flight += 1
        self.max_in_flight_seen = max(self.max_in_flight_seen, self.in_flight)
        self._notify_in_flight()

    def request_finished(self) -> None:
        self.in_flight -= 1
        self._notify_in_flight()

    def _notify_in_flight(self) -> None:
        self._in_flight_changed.set()
        self._in_flight_changed = asyncio.Event()

    async def wait_for_in_flight(self, count: int) -> None:
        """Return once exactly ``count`` ingest requests are in flight."""
        while self.in_flight != count:
            await self._in_flight_changed.wait()

    def batch_ingested(self, records: int) -> None:
        self.records_ingested_total += records
        self.batches_ingested += 1
        self._ingested_changed.set()
        self._ingested_changed = asyncio.Event()

    async def wait_for_records_ingested(self, at_least: int) -> None:
        """Return once at least ``at_least`` records have been acknowledged since the start."""
        while self.records_ingested_total < at_least:
            await self._ingested_changed.wait()

    def body_seen(self, size: int) -> None:
        self.largest_body_bytes = max(self.largest_body_bytes, size)

    def to_json(self, rows_per_table: dict[str, int]) -> dict[str, Any]:
        return {
            "requests_by_status": {str(s): n for s, n in sorted(self.requests_by_status.items())},
            "requests_total": sum(self.requests_by_status.values()),
            "in_flight": self.in_flight,
            "max_in_flight_seen": self.max_in_flight_seen,
            "largest_body_bytes": self.largest_body_bytes,
            "records_ingested_total": self.records_ingested_total,
            "batches_ingested": self.batches_ingested,
            "rows_per_table": rows_per_table,
            "limit_violations": {
                "over_500_records": self.over_500_records,
                "over_1mb": self.over_1mb,
                "over_30_in_flight": self.over_in_flight_limit,
                "over_v2_rate": self.over_v2_rate_limit,
                "over_v2_rows": self.over_v2_row_limit,
            },
            "v2": {
                "requests": self.v2_requests,
                "ingests": self.v2_ingests,
                "dry_runs": self.v2_dry_runs,
                "rows_received": self.v2_rows_received,
                "rows_accepted": self.v2_rows_accepted,
                "rows_failed": self.v2_rows_failed,
                "refused_over_rate": self.over_v2_rate_limit,
            },
            "faults": {
                "throttled": self.faults_throttled,
                "failed": self.faults_failed,
                "connections_reset": self.connections_reset,
                "dropped_after_commit": self.dropped_after_commit,
                "records_dropped_after_commit": self.records_dropped_after_commit,
            },
        }
