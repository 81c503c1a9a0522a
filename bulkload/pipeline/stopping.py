"""Stopping a load from outside: a handle for the caller, and the signals a CLI obeys.

SIGINT (Ctrl-C), SIGTERM (what ``timeout``, systemd and Kubernetes send) and SIGHUP (the
terminal went away) all stop a load the same graceful way: stop reading, let the requests
in flight finish within the drain time, save, and the process exits 128 + the signal
number. A second signal quits at once; the checkpoint is consistent at any instant (each
append fsynced), but the requests in flight then are unanswered: their records may be
stored and will be sent again by the rerun. The message says how many.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, NoReturn

import anyio
import anyio.abc

from bulkload.errors import exit_code_for_signal

if TYPE_CHECKING:
    from bulkload.pipeline.loadrun import LoadRun

log = logging.getLogger("bulkload")

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class LoadControl:
    """Given to ``load(control=...)``: stop the load gracefully, or ask what is in flight.
    Methods are called from the event loop's thread (a task, a signal handler)."""

    def __init__(self) -> None:
        self._run: LoadRun | None = None
        self._stop_reason: str | None = None
        # Until the run exists, a stop cancels the start-up (token and table fetch with
        # their retries can take minutes against a server that is down).
        self._start_up: anyio.CancelScope | None = None
        self.stop_signal: signal.Signals | None = None  # the signal that stopped the load

    def request_stop(self, reason: str = "stopped") -> None:
        if self._stop_reason is None:
            self._stop_reason = reason
        if self._run is not None:
            self._run.request_stop(reason)
        elif self._start_up is not None:
            self._start_up.cancel()

    def guard_start_up(self, scope: anyio.CancelScope) -> None:
        """A stop before ``attach`` cancels ``scope``: the start-up, where nothing is sent."""
        self._start_up = scope
        if self._stop_reason is not None:
            scope.cancel()

    def in_flight(self) -> dict[int, int]:
        """Batches sent and not answered yet: batch number -> records."""
        return self._run.in_flight() if self._run is not None else {}

    def attach(self, run: LoadRun) -> None:
        """Called by ``load()`` once the run exists; a stop asked before applies at once."""
        self._run = run
        self._start_up = None
        if self._stop_reason is not None:
            run.request_stop(self._stop_reason)


def _quit_now(signum: int) -> NoReturn:
    for handler in logging.getLogger("bulkload").handlers:
        handler.flush()
    sys.stderr.flush()
    os._exit(exit_code_for_signal(signum))


async def stop_on_signals(
    control: LoadControl,
    *,
    quit_now: Callable[[int], None] = _quit_now,
    task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Until cancelled: the first stop signal stops the load gracefully, a second quits.
    Started (``task_status``) once the handlers are in place."""
    with contextlib.ExitStack() as stack:
        try:
            signals = stack.enter_context(anyio.open_signal_receiver(*STOP_SIGNALS))
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
            task_status.started()
            await anyio.sleep_forever()
        task_status.started()
        async for received in signals:
            signum = signal.Signals(received)
            if control.stop_signal is None:
                control.stop_signal = signum
                log.warning(
                    "stopping (%s): letting requests in flight finish; a second signal "
                    "(Ctrl-C again) quits at once",
                    signum.name,
                )
                control.request_stop(f"interrupted ({signum.name})")
                continue
            in_flight = control.in_flight()
            batches = sorted(in_flight)
            shown = ", ".join(map(str, batches[:10])) + (", ..." if len(batches) > 10 else "")
            log.warning(
                "quitting now (%s): %d requests in flight (%d records%s) had no answer yet: "
                "they may be stored, and the rerun sends them again (possible duplicates)",
                signum.name,
                len(in_flight),
                sum(in_flight.values()),
                f", batches {shown}" if batches else "",
            )
            quit_now(signum)
