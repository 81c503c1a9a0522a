"""Progress while a load runs: a live bar on a terminal, a log record every few seconds otherwise.

It only reads the shared counters (``LoadStats``); it never drives the load.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable
from typing import TextIO

import anyio

from bulkload.pipeline.summary import LoadStats

log = logging.getLogger("bulkload")

DEFAULT_COLUMNS = 80
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
            # a log record, not a print: the CLI renders it as "bulkload: ..." on stderr,
            # and a library caller sees it only through a handler of its own
            log.info("%s", _status_line(self._stats, self._in_flight(), elapsed))

    async def _run_live(self) -> None:
        # One line rewritten in place: bar, percent and ETA always, the counters that fit
        # (progressline.py); no library needed, and nothing of it costs a start-up.
        stream, stats = self._stream, self._stats
        settled_at_start = stats.records_ingested + stats.records_rejected + stats.records_skipped
        try:
            while True:
                self._draw_line(settled_at_start)
                await anyio.sleep(REFRESH_INTERVAL_S)
        finally:
            self._draw_line(settled_at_start)
            stream.write("\n")
            stream.flush()

    def _draw_line(self, settled_at_start: int) -> None:
        # only on a terminal: a log line or no progress never imports it
        from bulkload.pipeline.progressline import ProgressSnapshot, render_line

        stats = self._stats
        # skipped records counted at the start are settled by an earlier run, not this one
        settled_at_start = max(settled_at_start, stats.records_skipped)
        snapshot = ProgressSnapshot(
            records_read=stats.records_read,
            records_ingested=stats.records_ingested,
            records_rejected=stats.records_rejected,
            records_skipped=stats.records_skipped,
            bytes_read=stats.bytes_read,
            bytes_total=stats.bytes_total,
            in_flight=self._in_flight(),
            retries=stats.retries,
            elapsed_s=time.monotonic() - self._started,
            settled_at_start=settled_at_start,
        )
        line = render_line(snapshot, _terminal_width(self._stream) - 1)
        self._stream.write("\r" + line + "\x1b[K")
        self._stream.flush()


def _terminal_width(stream: TextIO) -> int:
    try:
        return os.get_terminal_size(stream.fileno()).columns or DEFAULT_COLUMNS
    except (OSError, ValueError, AttributeError):
        return DEFAULT_COLUMNS
