"""An asyncio event loop on virtual time: for code that tells time by the loop itself
(``loop.time()``, ``call_at``, ``asyncio.sleep``, ``anyio.sleep``; aiolimiter's bucket),
which no injected ``clock``/``sleep`` reaches.

Each turn of the loop takes a microsecond (a real one takes at least that: aiolimiter
re-arms its timer for "now" when float rounding leaves a sliver of the bucket full, and
would spin for ever on a clock that never moved). Beyond that, time stands still while
anything is ready to run, any I/O is waiting, or a thread is at work for the loop (see
``hold_time_for_threads``); when nothing is, it jumps to the next timer at once, plus
whatever ``lateness()`` says (a starved machine's late wake-ups, seeded by the test).
So nothing really sleeps, and a run goes the same way however slowly the machine runs
it: its threads and its timers take turns, never race.

Run a test's coroutine with ``run_on_virtual_time(main(), lateness=...)``; it must not
wait on anything outside the process (a socket to a real server would see time jump).
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import anyio.from_thread
import anyio.to_thread
import pytest

T = TypeVar("T")
TURN_S = 1e-6
THREAD_POLL_S = 0.1  # real seconds between looks while a thread works (time is held)


def on_time() -> float:
    return 0.0


class _JumpingSelector(selectors.DefaultSelector):  # type: ignore[misc,valid-type]
    def __init__(self, loop: VirtualTimeLoop) -> None:
        super().__init__()
        self._loop = loop

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        loop = self._loop
        loop.advance(TURN_S)
        ready: list[tuple[selectors.SelectorKey, int]] = super().select(0)
        if ready or (timeout is not None and timeout <= 0):
            return ready
        if timeout is None or loop.threads_at_work:
            # Only I/O or a thread can move things on: wait for it, really, time held.
            return super().select(None if timeout is None else THREAD_POLL_S)  # type: ignore[no-any-return]
        loop.advance(max(0.0, timeout - TURN_S) + max(0.0, loop.lateness()))
        return []


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self, lateness: Callable[[], float] = on_time) -> None:
        self.now_s = 0.0
        self.lateness = lateness
        self.threads_at_work = 0
        super().__init__(_JumpingSelector(self))

    def time(self) -> float:
        return self.now_s

    def advance(self, seconds: float) -> None:
        self.now_s += seconds


def run_on_virtual_time(
    main: Coroutine[Any, Any, T], *, lateness: Callable[[], float] = on_time
) -> T:
    with asyncio.Runner(loop_factory=lambda: VirtualTimeLoop(lateness)) as runner:
        return runner.run(main)


def hold_time_for_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make anyio's worker threads hold a VirtualTimeLoop's time while they work: from a
    job's start to its end, except while it waits in ``from_thread.run`` for the loop.

    Every count is changed in the loop's own thread, before the thread is let go or after
    the loop has heard it is done, so the loop never sees a thread idle that is not.
    """
    to_thread_run_sync = anyio.to_thread.run_sync
    from_thread_run = anyio.from_thread.run

    async def run_sync(func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        if not isinstance(loop, VirtualTimeLoop):
            return await to_thread_run_sync(func, *args, **kwargs)
        loop.threads_at_work += 1
        try:
            return await to_thread_run_sync(func, *args, **kwargs)
        finally:
            loop.threads_at_work -= 1

    def run(func: Callable[..., Awaitable[T]], *args: Any) -> T:
        async def while_the_thread_waits() -> T:
            loop = asyncio.get_running_loop()
            if not isinstance(loop, VirtualTimeLoop):
                return await func(*args)
            loop.threads_at_work -= 1
            try:
                return await func(*args)
            finally:
                loop.threads_at_work += 1

        return from_thread_run(while_the_thread_waits)

    monkeypatch.setattr(anyio.to_thread, "run_sync", run_sync)
    monkeypatch.setattr(anyio.from_thread, "run", run)
