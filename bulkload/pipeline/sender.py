"""Sending one sealed batch: retries with backoff, the shared 429 pause, split and bisect.

Every sender task of the pipeline calls ``Sender.send`` with the records of one batch. The
Sender owns what they all share: the slots bounding requests in flight (sub-requests of
splits included), the optional request rate, and the instant until which the tenant is
throttled.

How a refused batch is taken apart: iteratively, from a stack of parts, so neither the
batch size nor the hints decide how deep anything goes. Every refusal of a part of two or
more records splits it into disjoint, smaller parts, so the requests for a batch form a
tree with at most 2n - 1 nodes (retries aside), whatever the server says:

- 413: send each half; a single record that still gets 413 is rejected.
- 400 whose hints name some, not all, of the records of a part: send the named "suspects"
  on their own first, then the rest. A record is rejected only when a request of just that
  record is refused: hints decide where to cut, never what is rejected. If the suspects
  are then accepted, the hints were wrong (1-based, always 0...) and the batch is
  bisected from then on; hint-guided cutting also stops once it has re-sent n·(log2 n + 1)
  records, so a server that names one failing record per answer costs O(n log n) records
  sent, not O(n²).
- 400 naming every record of a suspects part: each record alone (the hints were right so
  far; a record refused alone is rejected with the reason the server gave for it).
- 400 with no usable hint, or naming every record of a part that is not a suspects part
  (a server that names every index): send each half.

A 200 is settled in one place, ``_settle_success``: the records sent are acknowledged, and
when the answer counts fewer records than were sent, the difference is unconfirmed. A 200
that lists rows it refused (Peak v2's ``failed``) acknowledges the others: the listed rows
are rejected with the server's words, and a failure naming no row of the request is kept
as such (``unattributed``); none of them is sent again.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

import anyio
from aiolimiter import AsyncLimiter

from bulkload.errors import (
    ApiError,
    ConfigError,
    RecordError,
    RecordsRejected,
    RequestTooLarge,
    RetriesExhausted,
    Throttled,
    TransportError,
)
from bulkload.pipeline.backoff import RetryPolicy
from bulkload.pipeline.batcher import json_array

__all__ = [
    "TOO_LARGE_REASON",
    "IngestAnswer",
    "IngestApi",
    "RetryPolicy",
    "RowFailures",
    "SendEvent",
    "SendEventKind",
    "SendOutcome",
    "Sender",
    "request_cap",
]

TOO_LARGE_REASON = "the server refused the record as too large (413)"


class IngestAnswer(Protocol):
    """What the sender reads of a 200 (client/http.py's IngestResult fits)."""

    @property
    def records_ingested(self) -> int | None: ...

    @property
    def latency_s(self) -> float: ...


@dataclass(frozen=True, slots=True)
class RowFailures:
    """Rows a 200 refused on their own: reasons by position in the request, and the
    failures that name no row of it (the server's text)."""

    by_position: dict[int, str]
    unattributed: list[str]


class IngestApi(Protocol):
    async def ingest(
        self, table: str, body: bytes, *, timeout_s: float | None = None
    ) -> IngestAnswer: ...


SendEventKind = Literal["retry", "throttled", "split", "bisect", "in_doubt", "count_mismatch"]


@dataclass(frozen=True, slots=True)
class SendEvent:
    """Something worth a progress counter or a log line.

    One event per retry: "throttled" for a 429 (everyone pauses), "retry" for a 5xx or a
    lost answer; a lost answer that may have been stored also gives "in_doubt" first.
    """

    kind: SendEventKind
    message: str
    records: int  # in the request concerned
    delay_s: float | None = None
    status: int | None = None


@dataclass(slots=True)
class SendOutcome:
    ingested: int = 0  # records acknowledged by 200s (unconfirmed ones not included)
    # records acknowledged by a 200 whose count said fewer were ingested: maybe not stored
    unconfirmed: int = 0
    # (index within the records given to send(), reason)
    rejected: list[tuple[int, str]] = field(default_factory=list)
    # failures a 200 reported without naming a row of the request (the server's text)
    unattributed: list[str] = field(default_factory=list)
    requests: int = 0  # HTTP requests for this batch, retries included
    retries: int = 0
    in_doubt: int = 0  # requests that ended without an answer and were resent: maybe duplicates
    latencies_s: list[float] = field(default_factory=list)  # of successful requests


def request_cap(record_count: int) -> int:
    """Most distinct requests one batch may take apart into; 2n - 1 is the honest worst case."""
    return 4 * record_count + 10


@dataclass(slots=True)
class _Part:
    """Some records of a batch to send in one request (indices into the batch)."""

    indices: Sequence[int]  # a range for the whole batch: no list of 500 ints per request
    body: bytes | None = None
    suspects: bool = False  # the records a 400's hints named


@dataclass(slots=True)
class _Isolation:
    """Per batch: how much hint-guided cutting is still allowed."""

    hints_trusted: bool
    hint_records_left: int  # records that hint-guided cuts may still re-send


class Sender:
    def __init__(
        self,
        api: IngestApi,
        table: str,
        *,
        concurrency: int = 30,
        rate_limit_per_s: float | None = None,
        policy: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen, so sharing it is safe
        request_timeout_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        rng: random.Random | None = None,
        on_event: Callable[[SendEvent], None] | None = None,
        body_prefix: bytes = b"",
        body_suffix: bytes = b"",
        pace_evenly: bool = False,
    ) -> None:
        if concurrency < 1:
            raise ConfigError(f"--concurrency must be 1 or more, got {concurrency}")
        self._api = api
        self._table = table
        self._policy = policy
        self._request_timeout_s = request_timeout_s
        self._clock = clock
        self._sleep = sleep
        self._rng = rng if rng is not None else random.Random()
        self._on_event = on_event
        # fast_acquire: a free slot is taken without yielding to the event loop (each yield
        # is a selector poll that hands the GIL to the reading thread)
        self._slots = anyio.Semaphore(concurrency, fast_acquire=True)
        self._limiter = _rate_limiter(rate_limit_per_s, pace_evenly=pace_evenly)
        self._body_prefix = body_prefix
        self._body_suffix = body_suffix
        self._paused_until = -math.inf
        self._in_flight = 0

    @property
    def in_flight(self) -> int:
        """HTTP requests sent and not yet answered, over all callers."""
        return self._in_flight

    @property
    def paused_until(self) -> float:
        """The clock instant before which no request is sent (after a 429)."""
        return self._paused_until

    async def send(self, records: Sequence[bytes], body: bytes | None = None) -> SendOutcome:
        """Send one batch; ``body`` is the prebuilt JSON array of ``records``, if at hand.

        Returns once every record is acknowledged or rejected. Raises RetriesExhausted when
        a request outlasts the retry policy, and any non-retriable ApiError (401, 404...)
        at once.
        """
        outcome = SendOutcome()
        count = len(records)
        if not count:
            return outcome
        isolation = _Isolation(
            hints_trusted=True, hint_records_left=count * (math.ceil(math.log2(count)) + 1)
        )
        cap = request_cap(count)
        parts_sent = 0
        stack = [_Part(range(count), body)]
        while stack:
            part = stack.pop()
            if parts_sent >= cap:
                raise ApiError(
                    f"a batch of {count} records for table {self._table!r} needed more than "
                    f"{cap} requests to isolate the records the server refused; the "
                    "checkpoint is saved: check the server, then rerun"
                )
            parts_sent += 1
            part_body = part.body or json_array(
                [records[i] for i in part.indices],
                prefix=self._body_prefix,
                suffix=self._body_suffix,
            )
            try:
                answer = await self._send_with_retries(part_body, len(part.indices), outcome)
            except RequestTooLarge:
                stack.extend(reversed(self._after_too_large(part, outcome)))
            except RecordsRejected as refusal:
                stack.extend(reversed(self._after_refusal(part, refusal, outcome, isolation)))
            else:
                self._settle_success(outcome, part.indices, answer, records)
                if part.suspects:
                    isolation.hints_trusted = False  # what they named was fine after all
        return outcome

    # ---- taking a refused batch apart -------------------------------------------------
    # Each returns the parts to send next, in order; a part of one record is never cut.

    def _after_too_large(self, part: _Part, outcome: SendOutcome) -> list[_Part]:
        indices = part.indices
        if len(indices) == 1:
            outcome.rejected.append((indices[0], TOO_LARGE_REASON))
            return []
        self._emit(
            "split", f"413 for {len(indices)} records: sending each half", len(indices), status=413
        )
        return [_Part(half) for half in _halves(indices)]

    def _after_refusal(
        self, part: _Part, refusal: RecordsRejected, outcome: SendOutcome, isolation: _Isolation
    ) -> list[_Part]:
        indices = part.indices
        reasons = _hinted_reasons(refusal.record_errors, len(indices))
        if len(indices) == 1:
            outcome.rejected.append((indices[0], reasons.get(0) or f"server: {refusal.message}"))
            return []
        if part.suspects and len(reasons) == len(indices):
            self._emit(
                "bisect",
                f"400 named each of {len(indices)} suspect records again: sending each alone",
                len(indices),
                status=refusal.status,
            )
            return [_Part([index]) for index in indices]
        hints_usable = isolation.hints_trusted and isolation.hint_records_left > 0
        if hints_usable and 0 < len(reasons) < len(indices):
            isolation.hint_records_left -= len(indices)
            suspects = [indices[p] for p in sorted(reasons)]
            rest = [index for p, index in enumerate(indices) if p not in reasons]
            self._emit(
                "bisect",
                f"400 named {len(suspects)} of {len(indices)} records: sending those alone, "
                f"then the other {len(rest)}",
                len(indices),
                status=refusal.status,
            )
            return [_Part(suspects, suspects=True), _Part(rest)]
        self._emit(
            "bisect",
            f"400 without usable record indices for {len(indices)} records: sending each half",
            len(indices),
            status=refusal.status,
        )
        return [_Part(half) for half in _halves(indices)]

    def _settle_success(
        self,
        outcome: SendOutcome,
        indices: Sequence[int],
        answer: IngestAnswer,
        records: Sequence[bytes],
    ) -> None:
        """A 200 for the records at ``indices``: the one place a success is accounted."""

        # A 200 means the request was stored; the count in its body is a courtesy the real
        # service may omit or rename (contract section 3). A count below what was sent is
        # another matter: some records may not be stored, and resending would duplicate the
        # others, so they are reported as unconfirmed, never silently trusted or resent.
        sent = len(indices)
        outcome.latencies_s.append(answer.latency_s)
        # An answer that can refuse single rows (Peak v2) says so with row_failures().
        row_failures = getattr(answer, "row_failures", None)
        if row_failures is not None:
            self._settle_row_failures(outcome, indices, row_failures, records)
            return
        counted = answer.records_ingested
        if counted is not None and 0 <= counted < sent:
            outcome.ingested += counted
            outcome.unconfirmed += sent - counted
            self._emit(
                "count_mismatch",
                f"200 for {sent} records said {counted} were ingested: "
                f"{sent - counted} unconfirmed",
                sent,
                status=200,
            )
            return
        outcome.ingested += sent
        if counted is not None and counted != sent:
            self._emit(
                "count_mismatch",
                f"200 for {sent} records said {counted} were ingested; trusting the 200",
                sent,
                status=200,
            )

    def _settle_row_failures(
        self,
        outcome: SendOutcome,
        indices: Sequence[int],
        row_failures: Callable[[Sequence[bytes]], RowFailures],
        records: Sequence[bytes],
    ) -> None:
        # Peak v2: every row not listed was accepted (the counts are hints only). A row
        # listed is rejected, a failure naming no row is kept unattributed; neither is sent
        # again: the batch is acknowledged.
        failures = row_failures([records[i] for i in indices])
        for position, reason in sorted(failures.by_position.items()):
            outcome.rejected.append((indices[position], reason))
        outcome.unattributed.extend(failures.unattributed)
        failed = len(failures.by_position) + len(failures.unattributed)
        outcome.ingested += max(0, len(indices) - failed)

    # ---- one request, retried ---------------------------------------------------------

    async def _send_with_retries(
        self, body: bytes, records: int, outcome: SendOutcome
    ) -> IngestAnswer:
        started = self._clock()
        retry_number = 0
        while True:
            outcome.requests += 1
            try:
                return await self._request(body)
            except ApiError as exc:
                if not exc.retriable:
                    raise
                failure = exc
            delay = self._retry_delay(failure, retry_number)
            self._give_up_if_spent(failure, retry_number, delay, started, records)
            retry_number += 1
            outcome.retries += 1
            if isinstance(failure, TransportError) and failure.in_doubt:
                outcome.in_doubt += 1
                if self._on_event is not None:
                    self._emit(
                        "in_doubt",
                        f"no answer for {records} records, which may have been stored; "
                        "resending may store them twice",
                        records,
                    )
            if isinstance(failure, Throttled):
                self._pause_everyone(delay)
                if self._on_event is not None:
                    self._emit(
                        "throttled",
                        f"429: every request pauses {delay:.1f} s",
                        records,
                        delay_s=delay,
                        status=failure.status,
                    )
                # The wait itself happens in _request, with every other worker's.
                continue
            if self._on_event is not None:
                self._emit(
                    "retry",
                    f"{failure.message}; retry {retry_number} in {delay:.1f} s",
                    records,
                    delay_s=delay,
                    status=failure.status,
                )
            await self._sleep(delay)

    def _retry_delay(self, failure: ApiError, retry_number: int) -> float:
        if isinstance(failure, Throttled) and failure.retry_after_s is not None:
            return max(0.0, failure.retry_after_s)
        return self._policy.delay_s(retry_number, self._rng)

    def _give_up_if_spent(
        self, failure: ApiError, retry_number: int, delay: float, started: float, records: int
    ) -> None:
        elapsed = self._clock() - started
        out_of_attempts = retry_number >= self._policy.max_retries
        out_of_time = elapsed + delay > self._policy.max_retry_time_s
        if not (out_of_attempts or out_of_time):
            return
        attempts = retry_number + 1
        why = (
            ""
            if out_of_attempts
            else f" (waiting {delay:.0f} s more would pass the {self._policy.max_retry_time_s:.0f} s retry limit)"
        )
        raise RetriesExhausted(
            f"sending {records} records to table {self._table!r} gave up after {attempts} "
            f"attempt{'s' if attempts != 1 else ''} over {elapsed:.0f} s{why}: {failure.message}: "
            "the checkpoint is saved; rerun the same command to continue",
            status=failure.status,
            attempts=attempts,
            elapsed_s=elapsed,
        ) from failure

    def _pause_everyone(self, delay: float) -> None:
        # The latest end wins: 30 workers throttled together pause once, not 30 times over.
        self._paused_until = max(self._paused_until, self._clock() + delay)

    async def _wait_out_pause(self) -> None:
        # A loop, because another worker's 429 may push the end out while we wait.
        while (remaining := self._paused_until - self._clock()) > 0:
            await self._sleep(remaining)

    async def _request(self, body: bytes) -> IngestAnswer:
        async with self._slots:
            # Waiting inside the slot is harmless (everyone is paused) and means no request
            # that queued for a slot while a 429 arrived slips out before the pause ends.
            await self._wait_out_pause()
            if self._limiter is not None:
                await self._limiter.acquire()
                await self._wait_out_pause()
            self._in_flight += 1
            try:
                return await self._api.ingest(self._table, body, timeout_s=self._request_timeout_s)
            finally:
                self._in_flight -= 1

    def _emit(
        self,
        kind: SendEventKind,
        message: str,
        records: int,
        *,
        delay_s: float | None = None,
        status: int | None = None,
    ) -> None:
        if self._on_event is not None:
            self._on_event(SendEvent(kind, message, records, delay_s=delay_s, status=status))


# Peak v2 counts the starts in any sliding second (50 at most), so the limiter is a bucket
# of 2 draining at rate * (1 - headroom) - 1 per second: at 50/s, 48.5/s, and the most any
# one second can hold is 2 + floor(48.5) = 50, the 51st start falling 10 ms past it. A
# bucket of R (aiolimiter's usual use) lets R go at once and R more within the same
# second. A bucket of one spaces requests evenly but loses every late wake-up of a busy
# event loop for good: 40.8 of 50 requests/s at 200 ms latency (load average 5), where
# the bucket of 2 makes up for one late wake-up and held 47.2 with a 3% headroom. A limiter
# admitting R starts per sliding window was tried too: its catch-up runs, on a starved
# machine, arrived compressed and met the server's window (20-59 429s per 750 requests).
PACING_HEADROOM = 0.01
PACING_BURST = 2.0


def _rate_limiter(
    rate_limit_per_s: float | None, *, pace_evenly: bool = False
) -> AsyncLimiter | None:
    if rate_limit_per_s is None:
        return None
    if rate_limit_per_s <= 0:
        raise ConfigError(f"--rate must be positive, got {rate_limit_per_s}")
    if pace_evenly:
        # See PACING_BURST: never more than the rate in any one second, whatever came before.
        burst = PACING_BURST if rate_limit_per_s >= 10 else 1.0
        drain_per_s = rate_limit_per_s * (1 - PACING_HEADROOM) - (burst - 1)
        return AsyncLimiter(burst, burst / drain_per_s)
    # A bucket must hold at least one whole request, so a rate below 1/s becomes
    # one request per 1/rate seconds rather than an unfillable fractional bucket.
    capacity = max(1.0, rate_limit_per_s)
    return AsyncLimiter(capacity, capacity / rate_limit_per_s)


def _halves(indices: Sequence[int]) -> tuple[Sequence[int], Sequence[int]]:
    middle = len(indices) // 2
    return indices[:middle], indices[middle:]


def _hinted_reasons(record_errors: Sequence[RecordError], request_size: int) -> dict[int, str]:
    """Reasons by position in the request, from the hints that name a position in it."""
    messages: dict[int, list[str]] = {}
    for error in record_errors:
        position = error.record
        if isinstance(position, bool) or not isinstance(position, int):
            continue
        if not 0 <= position < request_size:
            continue
        text = f"{error.column}: {error.message}" if error.column else error.message
        messages.setdefault(position, []).append(text)
    return {position: "server: " + "; ".join(texts) for position, texts in messages.items()}
