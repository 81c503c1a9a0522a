"""Sending one sealed batch: retries with backoff, the shared 429 pause, split and bisect.

Every pipeline worker calls ``Sender.send`` with the records of one batch. The Sender owns
what all workers share: the slots bounding requests in flight (sub-requests of splits
included), the optional request rate, and the instant until which the tenant is throttled.

How a refused batch is taken apart (each step strictly shrinks the set sent, so the
requests for a batch form a binary tree with at most 2n - 1 nodes):

- 413: send each half; a single record that still gets 413 is rejected.
- 400 whose hint names some in-range records: send the unnamed rest, then the named
  "suspects" on their own. The hint only decides where to cut; a record is rejected when
  a 400 names every record of its request, or refuses it alone. A wrong hint (say,
  1-based indices) then costs requests, never good records.
- 400 with no usable hint: send each half.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

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
    ingested: int = 0  # records acknowledged by 200s
    # (index within the records given to send(), reason)
    rejected: list[tuple[int, str]] = field(default_factory=list)
    requests: int = 0  # HTTP requests for this batch, retries included
    retries: int = 0
    in_doubt: int = 0  # requests that ended without an answer and were resent: maybe duplicates
    latencies_s: list[float] = field(default_factory=list)  # of successful requests


def request_cap(record_count: int) -> int:
    """Most distinct requests one batch may take apart into; 2n - 1 is the honest worst case."""
    return 4 * record_count + 10


@dataclass(slots=True)
class _Batch:
    records: Sequence[bytes]
    outcome: SendOutcome
    parts_left: int


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
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
        on_event: Callable[[SendEvent], None] | None = None,
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
        self._slots = asyncio.Semaphore(concurrency)
        self._limiter = _rate_limiter(rate_limit_per_s)
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
        if not records:
            return outcome
        batch = _Batch(records=records, outcome=outcome, parts_left=request_cap(len(records)))
        await self._send_part(batch, list(range(len(records))), body)
        return outcome

    # ---- taking a refused batch apart -------------------------------------------------

    async def _send_part(self, batch: _Batch, indices: list[int], body: bytes | None) -> None:
        if batch.parts_left <= 0:
            raise ApiError(
                f"a batch of {len(batch.records)} records for table {self._table!r} needed more "
                f"than {request_cap(len(batch.records))} requests to isolate the records the "
                "server refused; the checkpoint is saved: check the server, then rerun"
            )
        batch.parts_left -= 1
        if body is None:
            body = json_array([batch.records[i] for i in indices])
        try:
            answer = await self._send_with_retries(body, len(indices), batch.outcome)
        except RequestTooLarge:
            await self._split_too_large(batch, indices)
        except RecordsRejected as refusal:
            await self._isolate_refused(batch, indices, refusal)
        else:
            self._acknowledge(batch.outcome, len(indices), answer)

    async def _split_too_large(self, batch: _Batch, indices: list[int]) -> None:
        if len(indices) == 1:
            batch.outcome.rejected.append((indices[0], TOO_LARGE_REASON))
            return
        if self._on_event is not None:
            self._emit(
                "split",
                f"413 for {len(indices)} records: sending each half",
                len(indices),
                status=413,
            )
        for half in _halves(indices):
            await self._send_part(batch, half, None)

    async def _isolate_refused(
        self, batch: _Batch, indices: list[int], refusal: RecordsRejected
    ) -> None:
        reasons = _hinted_reasons(refusal.record_errors, len(indices))
        if len(indices) == 1:
            batch.outcome.rejected.append(
                (indices[0], reasons.get(0) or f"server: {refusal.message}")
            )
            return
        if len(reasons) == len(indices):
            batch.outcome.rejected.extend((indices[p], reasons[p]) for p in range(len(indices)))
            return
        if reasons:
            suspects = [indices[p] for p in sorted(reasons)]
            rest = [index for p, index in enumerate(indices) if p not in reasons]
            if self._on_event is not None:
                self._emit(
                    "bisect",
                    f"400 named {len(suspects)} of {len(indices)} records: sending the other "
                    f"{len(rest)}, then the named ones alone",
                    len(indices),
                    status=refusal.status,
                )
            await self._send_part(batch, rest, None)
            await self._send_part(batch, suspects, None)
            return
        if self._on_event is not None:
            self._emit(
                "bisect",
                f"400 without usable record indices for {len(indices)} records: sending each half",
                len(indices),
                status=refusal.status,
            )
        for half in _halves(indices):
            await self._send_part(batch, half, None)

    def _acknowledge(self, outcome: SendOutcome, sent: int, answer: IngestAnswer) -> None:
        # A 200 means the whole request was stored; the count in its body is only a
        # courtesy that the real service may omit or rename (contract section 3).
        outcome.ingested += sent
        outcome.latencies_s.append(answer.latency_s)
        counted = answer.records_ingested
        if counted is not None and counted != sent and self._on_event is not None:
            self._emit(
                "count_mismatch",
                f"200 for {sent} records said {counted} were ingested; trusting the 200",
                sent,
                status=200,
            )

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


def _rate_limiter(rate_limit_per_s: float | None) -> AsyncLimiter | None:
    if rate_limit_per_s is None:
        return None
    if rate_limit_per_s <= 0:
        raise ConfigError(f"--rate must be positive, got {rate_limit_per_s}")
    # A bucket must hold at least one whole request, so a rate below 1/s becomes
    # one request per 1/rate seconds rather than an unfillable fractional bucket.
    capacity = max(1.0, rate_limit_per_s)
    return AsyncLimiter(capacity, capacity / rate_limit_per_s)


def _halves(indices: list[int]) -> tuple[list[int], list[int]]:
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
