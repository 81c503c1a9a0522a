"""A v2 load at the default rate never meets the tenant's sliding window, on virtual time.

The whole load (``load()`` with its defaults: the v2 rate, the evenly paced limiter, 30
senders, committing) runs on one virtual event loop; its limiter (aiolimiter, on the
loop's clock) and the emulator's ``SlidingWindow`` (given the same clock) tell the same
time, and timers fire late by a seeded lateness, as on a starved machine. The window
sees each request at the instant the limiter let it go (what the wire adds on top is
no part of this): a pass means the limiter's starts fit the window's rule however late
the wake-ups, never that the machine happened to be quiet. The same check against the
emulator on the real clock failed at a load average of 7-9.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any, cast

import orjson
import pytest
from v2kit import CUSTOMER, customer
from virtualloop import hold_time_for_threads, run_on_virtual_time

from bulkload import LoadConfig, LoadSummary, load
from bulkload.client.v2 import V2IngestResult
from bulkload.contract.v2schema import V2Object
from bulkload.emulator.v2app import WINDOW_S, SlidingWindow
from bulkload.errors import Throttled
from bulkload.pipeline.v2target import V2Target

# Contract v2: at most 50 requests start in any sliding second (the emulator's default).
# Written out rather than imported: a change of the shared constant must fail here too.
TENANT_LIMIT = 50
ROWS_PER_REQUEST = 10
REQUESTS = 150  # three seconds of sending at the limit: full windows, not one


class WindowedV2:
    """The v2 API as far as its rate goes: the emulator's window admits or refuses (429,
    as the emulator answers) each ingest; an admitted one answers 200 after a latency."""

    def __init__(self, rng: random.Random) -> None:
        self._loop = asyncio.get_running_loop()
        self._window = SlidingWindow(TENANT_LIMIT, WINDOW_S, self._loop.time)
        self._rng = rng
        self.starts: list[float] = []
        self.refused: list[float] = []

    async def get_object(self, solution: str, name: str) -> V2Object:
        return CUSTOMER

    async def ingest_v2(
        self, table_name: str, body: bytes, *, timeout_s: float | None = None
    ) -> V2IngestResult:
        now = self._loop.time()
        if self._window.admit() is not None:
            self.refused.append(now)
            raise Throttled(f"more than {TENANT_LIMIT} requests in one second", retry_after_s=1)
        self.starts.append(now)
        rows = len(orjson.loads(body)["data"])
        latency_s = self._rng.uniform(0.0, 0.4)
        await asyncio.sleep(latency_s)
        return V2IngestResult(
            status=200, latency_s=latency_s, received=rows, accepted=rows, failed=()
        )


def most_in_one_window(starts: list[float]) -> int:
    """The most starts in any window of WINDOW_S seconds, as SlidingWindow counts them."""
    most, first = 0, 0
    for last, start in enumerate(starts):
        while starts[first] <= start - WINDOW_S:
            first += 1
        most = max(most, last - first + 1)
    return most


# How late timers fire: (share of wake-ups late, by up to seconds), and whether the bucket
# still keeps up. A wake-up late by less than one spacing (1/48.5 s) is made up by the
# bucket of 2 (the next start comes on schedule), so the limiter still fills a second;
# later ones cost throughput, never the window.
LATENESS = {
    "on time": (0.0, 0.0, True),
    "a tenth late by up to 20 ms": (0.1, 0.02, True),
    "a third late by up to 100 ms": (1 / 3, 0.1, False),
}


@pytest.mark.parametrize("lateness", LATENESS)
def test_the_default_rate_never_meets_the_tenants_window(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lateness: str
) -> None:
    hold_time_for_threads(monkeypatch)
    share, most_s, keeps_up = LATENESS[lateness]
    rng = random.Random(lateness)

    def late_wake_up() -> float:
        return rng.uniform(0.0, most_s) if rng.random() < share else 0.0

    data = tmp_path / "c.jsonl"
    data.write_bytes(
        b"".join(orjson.dumps(customer(i)) + b"\n" for i in range(REQUESTS * ROWS_PER_REQUEST))
    )

    async def main() -> tuple[LoadSummary, WindowedV2]:
        api = WindowedV2(random.Random(lateness))
        summary = await load(
            "CUSTOMER",
            [data],
            # the defaults but for the batch size, which makes the requests many
            config=LoadConfig(max_batch_records=ROWS_PER_REQUEST),
            client=cast(Any, api),
            v2=V2Target(solution="QP_OOTB"),
            clock=asyncio.get_running_loop().time,  # backoff and pauses on the same time
        )
        return summary, api

    summary, api = run_on_virtual_time(main(), lateness=late_wake_up)
    most = most_in_one_window(api.starts)
    assert api.refused == [], (
        f"the window refused {len(api.refused)} requests (over {TENANT_LIMIT} in one "
        f"second), the first at {api.refused[0]:.3f} s"
    )
    assert summary.throttled == 0 and summary.requests == REQUESTS
    assert summary.records_ingested == REQUESTS * ROWS_PER_REQUEST
    if keeps_up:
        # The limiter, not latency, reading or committing, set the pace: a second was full.
        assert most == TENANT_LIMIT
