"""Latency and fault injection for ingest requests, driven by a seeded RNG.

One uniform draw per request picks at most one fault, so the rates are exact and
mutually exclusive (their sum must not exceed 1) and a seed replays the same sequence.
Latency waits re-read the knobs whenever they change, so lowering ``latency_ms`` at
runtime releases requests that are already waiting: tests hold requests in flight
with a large latency and let them go without sleeping.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

from bulkload.errors import ConfigError

RATE_KNOBS = ("throttle_rate", "fail_rate", "reset_rate", "drop_after_commit_rate")
THROTTLE_RETRY_AFTER_S = 1


@dataclass(frozen=True, slots=True)
class FaultKnobs:
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    fail_rate: float = 0.0
    throttle_rate: float = 0.0
    reset_rate: float = 0.0
    drop_after_commit_rate: float = 0.0

    def __post_init__(self) -> None:
        for name in ("latency_ms", "jitter_ms"):
            value = getattr(self, name)
            if not _is_number(value) or value < 0:
                raise ConfigError(f"fault knob {name} must be a number >= 0, got {value!r}")
        for name in RATE_KNOBS:
            value = getattr(self, name)
            if not _is_number(value) or not 0 <= value <= 1:
                raise ConfigError(f"fault knob {name} must be a number in 0-1, got {value!r}")
        total = sum(getattr(self, name) for name in RATE_KNOBS)
        if total > 1:
            raise ConfigError(
                f"fault rates add up to {total:g}; keep {', '.join(RATE_KNOBS)} at a sum <= 1"
            )

    def replace(self, **changes: Any) -> FaultKnobs:
        """A copy with ``changes`` applied; unknown knob names are a ConfigError."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ConfigError(f"unknown fault knobs {unknown}; known: {sorted(known)}")
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict[str, float]:
        return dataclasses.asdict(self)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class Fault(enum.Enum):
    NONE = "none"
    THROTTLE = "throttle"  # 429 before storing
    FAIL = "fail"  # 503 before storing
    RESET = "reset"  # close the connection before storing
    DROP_AFTER_COMMIT = "drop_after_commit"  # store, then close without an answer


class FaultInjector:
    """Decides, per ingest request, how long to wait and which fault (if any) to inject."""

    def __init__(self, knobs: FaultKnobs, *, seed: int) -> None:
        self._knobs = knobs
        # Separate streams: turning jitter on must not change which requests fail.
        self._fault_rng = random.Random(f"{seed}:faults")
        self._jitter_rng = random.Random(f"{seed}:jitter")
        self._knobs_changed = asyncio.Event()
        self._closing = False
        self._throttle_count = 0

    @property
    def knobs(self) -> FaultKnobs:
        return self._knobs

    def set_knobs(self, **changes: Any) -> FaultKnobs:
        self._knobs = self._knobs.replace(**changes)
        self._wake_waiters()
        return self._knobs

    def close(self) -> None:
        """Release every waiting request at once so shutdown does not wait on latency."""
        self._closing = True
        self._wake_waiters()

    def _wake_waiters(self) -> None:
        self._knobs_changed.set()
        self._knobs_changed = asyncio.Event()

    async def delay(self) -> None:
        knobs = self._knobs
        if knobs.latency_ms == 0 and knobs.jitter_ms == 0:
            return
        jitter_fraction = self._jitter_rng.random()
        loop = asyncio.get_running_loop()
        started = loop.time()
        while not self._closing:
            knobs = self._knobs
            total_s = (knobs.latency_ms + jitter_fraction * knobs.jitter_ms) / 1000
            remaining_s = started + total_s - loop.time()
            if remaining_s <= 0:
                return
            changed = self._knobs_changed
            try:
                await asyncio.wait_for(changed.wait(), remaining_s)
            except TimeoutError:
                return

    def pick_fault(self) -> Fault:
        knobs = self._knobs
        if not any(getattr(knobs, name) for name in RATE_KNOBS):
            return Fault.NONE
        draw = self._fault_rng.random()
        for fault, rate in (
            (Fault.THROTTLE, knobs.throttle_rate),
            (Fault.FAIL, knobs.fail_rate),
            (Fault.RESET, knobs.reset_rate),
            (Fault.DROP_AFTER_COMMIT, knobs.drop_after_commit_rate),
        ):
            if draw < rate:
                return fault
            draw -= rate
        return Fault.NONE

    def throttle_retry_after(self) -> str:
        """Alternate the two forms the contract allows, so clients must parse both."""
        self._throttle_count += 1
        if self._throttle_count % 2:
            return str(THROTTLE_RETRY_AFTER_S)
        when = datetime.now(UTC) + timedelta(seconds=THROTTLE_RETRY_AFTER_S)
        # An HTTP date has whole seconds: round up so the pause is never shorter.
        whole = when.replace(microsecond=0) + timedelta(seconds=1 if when.microsecond else 0)
        return format_datetime(whole, usegmt=True)
