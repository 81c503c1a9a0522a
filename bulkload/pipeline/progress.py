"""Progress while a load runs: a live bar on a terminal, a log line every few seconds otherwise.

It only reads the shared counters (``LoadStats``); it never drives the load.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

import anyio

from bulkload.pipeline.summary import LoadStats

LOG_INTERVAL_S = 5.0
REFRESH_INTERVAL_S = 0.25


def _status_line(stats: LoadStats, in_flight: int, elapsed_s: float) -> str:
    rate = (stats.records_ingested + stats.records_rejected) / elapsed_s if elapsed_s > 0 else 0.0
    mb_s = stats.bytes_read / elapsed_s / 1e6 if elapsed_s > 0 else 0.0
    return (
        f"{stats.records_read:,} read · {stats.records_ingested:,} ingested · "
        f"{stats.records_rejected:,} rejected · {rate:,.0f} rec/s · {mb_s:.1f} MB/s · "
        f"in flight {in_flight} · retries {stats.retries}"
    )


class ProgressReporter:
    """Renders ``stats`` (and the requests in flight, asked of ``in_flight``) until its
    task is cancelled: the load runs ``run()`` in its task group."""

    def __init__(
        self,
        stats: LoadStats,
        *,
        in_flight: Callable[[], int],
        stream: TextIO | None = None,
    ) -> None:
        self._stats = stats
        self._in_flight = in_flight
        self._stream = stream or sys.stderr
        self._started = time.monotonic()

    async def run(self) -> None:
        if self._stream.isatty():
            await self._run_live()
        else:
            await self._run_log()

    async def _run_log(self) -> None:
        while True:
            await anyio.sleep(LOG_INTERVAL_S)
            elapsed = time.monotonic() - self._started
            print(
                f"bulkload: {_status_line(self._stats, self._in_flight(), elapsed)}",
                file=self._stream,
                flush=True,
            )

    async def _run_live(self) -> None:
        # rich only when a bar is drawn: its import is ~40 ms of every start-up otherwise
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        console = Console(file=self._stream)
        progress = Progress(
            TextColumn("[bold]loading"),
            BarColumn(),
            DownloadColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[status]}"),
            console=console,
            transient=False,
        )
        stats = self._stats
        with progress:
            task = progress.add_task("load", total=stats.bytes_total, status="")
            try:
                while True:
                    elapsed = time.monotonic() - self._started
                    progress.update(
                        task,
                        completed=stats.bytes_read,
                        total=stats.bytes_total,
                        status=_status_line(stats, self._in_flight(), elapsed),
                    )
                    await anyio.sleep(REFRESH_INTERVAL_S)
            finally:
                elapsed = time.monotonic() - self._started
                progress.update(
                    task,
                    completed=stats.bytes_read,
                    status=_status_line(stats, self._in_flight(), elapsed),
                )
