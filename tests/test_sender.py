"""The sender against fake APIs, on a virtual clock: nothing here really sleeps."""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import anyio
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bulkload.errors import (
    ApiError,
    AuthError,
    ConfigError,
    NotFound,
    RecordError,
    RecordsRejected,
    RequestTooLarge,
    RetriesExhausted,
    ServerFault,
    Throttled,
    TransportError,
)
from bulkload.pipeline import sender as sender_module
from bulkload.pipeline.sender import (
    TOO_LARGE_REASON,
    IngestApi,
    RetryPolicy,
    Sender,
    SendEvent,
)

SEED = 1234


# ---- fakes ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Answer:
    records_ingested: int | None
    status: int = 200
    latency_s: float = 0.25


@dataclass(frozen=True, slots=True)
class Call:
    table: str
    body: bytes
    at: float
    timeout_s: float | None

    @property
    def ids(self) -> list[int]:
        return [record["id"] for record in orjson.loads(self.body)]


class VirtualClock:
    """Time moves only when told: by each sleep itself (auto), or by advance_to()."""

    def __init__(self, *, auto_advance: bool = True) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        self._auto_advance = auto_advance
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []
        self._changed = asyncio.Condition()

    def __call__(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.sleeps.append(delay)
        if self._auto_advance:
            self.now += delay
            return
        wake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append((self.now + delay, wake))
        async with self._changed:
            self._changed.notify_all()
        await wake

    async def wait_for_sleepers(self, count: int, *, sends: Iterable[asyncio.Task[Any]]) -> None:
        """Return once ``count`` sleep; fail if one of ``sends`` finishes first (none waited)."""
        finished_first = False

        async with anyio.create_task_group() as group:

            async def fail_if_finished(send: asyncio.Task[Any]) -> None:
                nonlocal finished_first
                await asyncio.wait({send})  # waits for it; cancelling this does not cancel it
                finished_first = True
                group.cancel_scope.cancel()

            for send in sends:
                group.start_soon(fail_if_finished, send)
            async with self._changed:
                await self._changed.wait_for(lambda: len(self._sleepers) >= count)
            group.cancel_scope.cancel()
        if finished_first:
            raise AssertionError(f"a send finished while {count} were expected to sleep")

    def advance_to(self, instant: float) -> None:
        self.now = instant
        due = [sleeper for sleeper in self._sleepers if sleeper[0] <= instant]
        self._sleepers = [sleeper for sleeper in self._sleepers if sleeper[0] > instant]
        for _, wake in due:
            wake.set_result(None)


Step = Callable[[], Exception | Answer | None]


class ScriptedApi:
    """Answers call k with script[k]() (an exception raises; None is a plain 200), then `then`."""

    def __init__(self, clock: VirtualClock, *script: Step, then: Step = lambda: None) -> None:
        self.clock = clock
        self.script = list(script)
        self.then = then
        self.calls: list[Call] = []

    async def ingest(self, table: str, body: bytes, *, timeout_s: float | None = None) -> Answer:
        self.calls.append(Call(table, body, self.clock(), timeout_s))
        step = self.script.pop(0) if self.script else self.then
        result = step()
        if isinstance(result, Exception):
            raise result
        return result or Answer(len(orjson.loads(body)))


HintQuality = str  # one of HINT_QUALITIES
HINT_QUALITIES = (
    "none",
    "full",
    "partial",
    "out_of_range",
    "one_based",
    "partial_and_garbage",
    "always_zero",
    "every_index",
    "first_only",
)


def make_hints(
    quality: HintQuality, bad_positions: list[int], request_size: int, rng: random.Random
) -> list[RecordError]:
    def named(positions: Iterable[int | None]) -> list[RecordError]:
        return [RecordError(p, "id", f"bad record at {p}") for p in positions]

    garbage: list[int | None] = [request_size, request_size + 7, -1, None]
    if quality == "none":
        return []
    if quality == "full":
        return named(bad_positions)
    if quality == "partial":
        return named(p for p in bad_positions if rng.random() < 0.5)
    if quality == "out_of_range":
        return named(rng.sample(garbage, k=rng.randint(1, len(garbage))))
    if quality == "one_based":
        return named(p + 1 for p in bad_positions)
    if quality == "partial_and_garbage":
        return named([*(p for p in bad_positions if rng.random() < 0.5), *garbage])
    if quality == "always_zero":
        return named([0])
    if quality == "every_index":
        return named(range(request_size))
    if quality == "first_only":  # a server that stops validating at the first failure
        return named(bad_positions[:1])
    raise AssertionError(quality)


class RefusingApi:
    """A validating fake: 400 for any request holding a bad id, with hints of some quality."""

    def __init__(
        self,
        bad_ids: set[int],
        qualities: Iterable[HintQuality] = ("none",),
        *,
        rng: random.Random | None = None,
        max_body_bytes: int | None = None,
    ) -> None:
        self.bad_ids = bad_ids
        self.qualities = list(qualities)
        self.rng = rng or random.Random(SEED)
        self.max_body_bytes = max_body_bytes
        self.calls: list[Call] = []

    async def ingest(self, table: str, body: bytes, *, timeout_s: float | None = None) -> Answer:
        call = Call(table, body, 0.0, timeout_s)
        self.calls.append(call)
        if self.max_body_bytes is not None and len(body) > self.max_body_bytes:
            raise RequestTooLarge("body over the limit", status=413)
        ids = call.ids
        bad_positions = [p for p, record_id in enumerate(ids) if record_id in self.bad_ids]
        if bad_positions:
            quality = self.rng.choice(self.qualities)
            raise RecordsRejected(
                f"{len(bad_positions)} records failed validation",
                record_errors=make_hints(quality, bad_positions, len(ids), self.rng),
            )
        return Answer(len(ids))


def records(count: int, *, big: Iterable[int] = ()) -> list[bytes]:
    oversized = set(big)
    return [
        orjson.dumps({"id": i, "pad": "x" * 200} if i in oversized else {"id": i})
        for i in range(count)
    ]


def make_sender(api: IngestApi, clock: VirtualClock, **options: Any) -> Sender:
    return Sender(api, "orders", clock=clock, sleep=clock.sleep, rng=random.Random(SEED), **options)


def expected_delays(policy: RetryPolicy, count: int) -> list[float]:
    rng = random.Random(SEED)
    return [policy.delay_s(n, rng) for n in range(count)]


# ---- success and retries ------------------------------------------------------------------


async def test_success_first_time_sends_the_given_body_verbatim() -> None:
    clock = VirtualClock()
    api = ScriptedApi(clock)
    batch = records(3)
    body = b"[" + b", ".join(batch) + b"]"  # differs from what the sender would build

    outcome = await make_sender(api, clock, request_timeout_s=12.5).send(batch, body)

    assert [call.body for call in api.calls] == [body]
    assert api.calls[0].table == "orders"
    assert api.calls[0].timeout_s == 12.5
    assert (outcome.ingested, outcome.requests, outcome.retries, outcome.in_doubt) == (3, 1, 0, 0)
    assert outcome.rejected == []
    assert outcome.latencies_s == [0.25]
    assert clock.sleeps == []


async def test_body_is_built_when_not_given() -> None:
    clock = VirtualClock()
    api = ScriptedApi(clock)
    batch = records(2)

    await make_sender(api, clock).send(batch)

    assert api.calls[0].body == b'[{"id":0},{"id":1}]'


async def test_empty_batch_sends_nothing() -> None:
    clock = VirtualClock()
    api = ScriptedApi(clock)

    outcome = await make_sender(api, clock).send([])

    assert api.calls == []
    assert outcome.requests == 0


async def test_503_three_times_then_success_backs_off_with_full_jitter() -> None:
    clock = VirtualClock()
    fault = lambda: ServerFault("server fault 503", status=503)  # noqa: E731
    api = ScriptedApi(clock, fault, fault, fault)
    events: list[SendEvent] = []
    policy = RetryPolicy(initial_s=0.5, max_s=60.0)

    outcome = await make_sender(api, clock, policy=policy, on_event=events.append).send(records(4))

    assert (outcome.ingested, outcome.requests, outcome.retries) == (4, 4, 3)
    assert clock.sleeps == expected_delays(policy, 3)
    for n, delay in enumerate(clock.sleeps):
        assert 0.0 <= delay <= 0.5 * 2**n
    assert [event.kind for event in events] == ["retry"] * 3
    assert [event.delay_s for event in events] == clock.sleeps
    assert all(event.status == 503 for event in events)
    assert [call.at for call in api.calls[1:]] == [sum(clock.sleeps[: n + 1]) for n in range(3)]


def test_delay_is_uniform_between_zero_and_the_exponential_cap() -> None:
    policy = RetryPolicy(initial_s=0.5, max_s=10.0)
    rng = random.Random(SEED)
    for retry_number in range(12):
        cap = min(10.0, 0.5 * 2**retry_number)
        samples = [policy.delay_s(retry_number, rng) for _ in range(300)]
        assert all(0.0 <= sample <= cap for sample in samples)
        # Full jitter, not "cap plus a little": draws cover the whole range.
        assert min(samples) < 0.1 * cap
        assert max(samples) > 0.9 * cap
    assert policy.cap_s(10_000) == 10.0


def test_policy_refuses_negative_bounds() -> None:
    with pytest.raises(ConfigError, match="max-retries"):
        RetryPolicy(max_retries=-1)
    with pytest.raises(ConfigError, match="backoff"):
        RetryPolicy(initial_s=-0.5)


async def test_retries_exhausted_after_max_retries_plus_one_attempts() -> None:
    clock = VirtualClock()
    api = ScriptedApi(clock, then=lambda: ServerFault("server fault 503: busy", status=503))
    sender = make_sender(api, clock, policy=RetryPolicy(max_retries=3))

    with pytest.raises(RetriesExhausted) as caught:
        await sender.send(records(5))

    assert len(api.calls) == 4
    assert caught.value.attempts == 4
    assert caught.value.status == 503
    assert len(clock.sleeps) == 3
    message = str(caught.value)
    assert "4 attempts" in message
    assert "server fault 503: busy" in message
    assert "rerun the same command" in message
    assert "\n" not in message


async def test_max_retry_time_bounds_the_retrying() -> None:
    clock = VirtualClock()
    api = ScriptedApi(clock, then=lambda: TransportError("connection reset", in_doubt=False))
    policy = RetryPolicy(max_retries=1000, max_retry_time_s=10.0, initial_s=1.0, max_s=4.0)

    with pytest.raises(RetriesExhausted) as caught:
        await make_sender(api, clock, policy=policy).send(records(1))

    assert clock.now <= 10.0
    assert caught.value.elapsed_s <= 10.0
    assert 2 < len(api.calls) < 1000
    assert "retry limit" in str(caught.value)


async def test_retry_after_beyond_the_time_limit_gives_up_without_waiting() -> None:
    clock = VirtualClock()
    api = ScriptedApi(clock, then=lambda: Throttled("throttled 429", retry_after_s=3600.0))
    policy = RetryPolicy(max_retry_time_s=900.0)

    with pytest.raises(RetriesExhausted, match="1 attempt over 0 s"):
        await make_sender(api, clock, policy=policy).send(records(1))

    assert len(api.calls) == 1
    assert clock.sleeps == []


# ---- 429: the shared pause ----------------------------------------------------------------


async def test_429_retry_after_pauses_this_and_every_other_worker() -> None:
    clock = VirtualClock(auto_advance=False)
    api = ScriptedApi(clock, lambda: Throttled("throttled 429", retry_after_s=7.0))
    events: list[SendEvent] = []
    sender = make_sender(api, clock, on_event=events.append)

    first = asyncio.create_task(sender.send(records(3)))
    await clock.wait_for_sleepers(1, sends=[first])  # the first worker got its 429 and waits
    second = asyncio.create_task(sender.send(records(2)))
    await clock.wait_for_sleepers(
        2, sends=[first, second]
    )  # the second waits too, before sending anything

    assert len(api.calls) == 1
    assert sender.paused_until == 7.0
    assert clock.sleeps == [7.0, 7.0]
    clock.advance_to(7.0)
    first_outcome, second_outcome = await asyncio.gather(first, second)

    assert [call.at for call in api.calls] == [0.0, 7.0, 7.0]
    assert first_outcome.retries == 1
    assert second_outcome.retries == 0
    assert (first_outcome.ingested, second_outcome.ingested) == (3, 2)
    assert [(event.kind, event.delay_s, event.status) for event in events] == [
        ("throttled", 7.0, 429)
    ]


async def test_429_without_retry_after_pauses_for_the_backoff_delay() -> None:
    clock = VirtualClock()
    api = ScriptedApi(clock, lambda: Throttled("throttled 429", retry_after_s=None))
    policy = RetryPolicy()
    sender = make_sender(api, clock, policy=policy)

    outcome = await sender.send(records(2))

    (delay,) = expected_delays(policy, 1)
    assert clock.sleeps == [delay]
    assert sender.paused_until == delay
    assert api.calls[1].at == delay
    assert outcome.retries == 1


@pytest.mark.parametrize("retry_after_s", [7.0, None])
async def test_simultaneous_429s_pause_once_not_once_per_worker(
    retry_after_s: float | None,
) -> None:
    workers = 30
    clock = VirtualClock(auto_advance=False)
    all_in = asyncio.Event()
    calls_at: list[float] = []

    class ThrottleAllAtOnce:
        async def ingest(
            self, table: str, body: bytes, *, timeout_s: float | None = None
        ) -> Answer:
            calls_at.append(clock())
            if len(calls_at) > workers:
                return Answer(1)
            if len(calls_at) == workers:
                all_in.set()
            await all_in.wait()
            raise Throttled("throttled 429", retry_after_s=retry_after_s)

    sender = make_sender(ThrottleAllAtOnce(), clock, concurrency=workers)
    sends = [asyncio.create_task(sender.send(records(1))) for _ in range(workers)]
    await clock.wait_for_sleepers(workers, sends=sends)

    longest_single_pause = 7.0 if retry_after_s is not None else RetryPolicy().cap_s(0)
    assert 0.0 < sender.paused_until <= longest_single_pause
    # Every worker waits for the same end, which is the longest of their delays.
    assert len(set(clock.sleeps)) == 1
    clock.advance_to(sender.paused_until)
    outcomes = await asyncio.gather(*sends)

    assert sum(outcome.ingested for outcome in outcomes) == workers
    assert set(calls_at[workers:]) == {sender.paused_until}


# ---- 413: split ---------------------------------------------------------------------------


async def test_413_splits_down_to_the_single_oversize_record() -> None:
    clock = VirtualClock()
    api = RefusingApi(set(), max_body_bytes=120)
    events: list[SendEvent] = []

    outcome = await make_sender(api, clock, on_event=events.append).send(records(8, big=[5]))

    assert outcome.rejected == [(5, TOO_LARGE_REASON)]
    assert outcome.ingested == 7
    assert {"split"} == {event.kind for event in events}
    assert [call.ids for call in api.calls] == [
        list(range(8)),
        [0, 1, 2, 3],
        [4, 5, 6, 7],
        [4, 5],
        [4],
        [5],
        [6, 7],
    ]


# ---- 400: isolate the refused records ----------------------------------------------------


async def test_400_with_indices_rejects_exactly_those_and_sends_the_rest() -> None:
    clock = VirtualClock()
    api = RefusingApi({2, 7}, ["full"])

    outcome = await make_sender(api, clock).send(records(10))

    # A hint decides where to cut, never what is rejected: each named record is rejected
    # once a request of just that record is refused.
    assert sorted(outcome.rejected) == [
        (2, "server: id: bad record at 0"),
        (7, "server: id: bad record at 0"),
    ]
    assert outcome.ingested == 8
    # the batch, the named records together, each alone, then the unnamed rest
    assert [call.ids for call in api.calls] == [
        list(range(10)),
        [2, 7],
        [2],
        [7],
        [0, 1, 3, 4, 5, 6, 8, 9],
    ]


@pytest.mark.parametrize("bad_count", [1, 2, 3])
async def test_400_without_indices_bisects_to_exactly_the_bad_records(bad_count: int) -> None:
    clock = VirtualClock()
    bad = set(random.Random(bad_count).sample(range(500), bad_count))
    api = RefusingApi(bad, ["none"])
    events: list[SendEvent] = []

    outcome = await make_sender(api, clock, on_event=events.append).send(records(500))

    assert {index for index, _ in outcome.rejected} == bad
    assert all(reason == "server: 1 records failed validation" for _, reason in outcome.rejected)
    assert outcome.ingested == 500 - bad_count
    assert outcome.requests == len(api.calls)
    assert outcome.requests <= 2 * bad_count * math.ceil(math.log2(500)) + 1
    assert "bisect" in {event.kind for event in events}


@pytest.mark.parametrize("quality", ["out_of_range", "one_based", "partial_and_garbage"])
async def test_400_with_wrong_indices_still_finds_exactly_the_bad_records(quality: str) -> None:
    clock = VirtualClock()
    bad = {0, 13, 14, 99}
    api = RefusingApi(bad, [quality])

    outcome = await make_sender(api, clock).send(records(100))

    assert {index for index, _ in outcome.rejected} == bad
    assert outcome.ingested == 96
    assert outcome.requests <= 2 * 100 - 1


async def test_a_server_that_always_refuses_ends_with_every_record_rejected() -> None:
    clock = VirtualClock()
    api = ScriptedApi(clock, then=lambda: RecordsRejected("bad request"))

    outcome = await make_sender(api, clock).send(records(37))

    assert sorted(index for index, _ in outcome.rejected) == list(range(37))
    assert outcome.ingested == 0
    assert len(api.calls) == 2 * 37 - 1  # a full bisection tree, no more


async def test_too_many_requests_for_one_batch_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = VirtualClock()
    api = ScriptedApi(clock, then=lambda: RecordsRejected("bad request"))
    monkeypatch.setattr(sender_module, "request_cap", lambda record_count: 3)

    with pytest.raises(ApiError, match="needed more than 3 requests"):
        await make_sender(api, clock).send(records(8))

    assert len(api.calls) == 3


@pytest.mark.parametrize(
    "error",
    [
        AuthError("credential not accepted (401)", status=401),
        NotFound("no table 'orders'", status=404),
    ],
)
async def test_auth_and_not_found_propagate_without_retry(error: ApiError) -> None:
    clock = VirtualClock()
    api = ScriptedApi(clock, lambda: error)

    with pytest.raises(type(error)):
        await make_sender(api, clock).send(records(3))

    assert len(api.calls) == 1
    assert clock.sleeps == []


@pytest.mark.parametrize(
    "quality", ["one_based", "always_zero", "out_of_range", "every_index", "first_only"]
)
@pytest.mark.parametrize("bad", [{499}, {0, 250, 499}, set(range(0, 500, 7))])
async def test_hostile_hints_on_500_records_cost_bounded_work_and_reject_only_the_bad(
    quality: str, bad: set[int]
) -> None:
    clock = VirtualClock()
    api = RefusingApi(bad, [quality])

    outcome = await make_sender(api, clock).send(records(500))

    assert {index for index, _ in outcome.rejected} == bad
    assert outcome.ingested == 500 - len(bad)
    assert len(api.calls) <= 2 * 500 - 1  # a tree of disjoint parts, whatever the hints
    records_sent = sum(len(call.ids) for call in api.calls)
    assert records_sent <= 3 * 500 * (math.ceil(math.log2(500)) + 1)  # O(n log n), not O(n²)


# ---- concurrency, in-doubt, counts --------------------------------------------------------


async def test_requests_in_flight_never_exceed_concurrency() -> None:
    concurrency, batches = 7, 40
    clock = VirtualClock()
    changed = asyncio.Condition()
    waiting: list[asyncio.Future[None]] = []
    in_flight = max_in_flight = 0

    class HeldApi:
        async def ingest(
            self, table: str, body: bytes, *, timeout_s: float | None = None
        ) -> Answer:
            nonlocal in_flight, max_in_flight
            in_flight += 1
            max_in_flight = max(max_in_flight, in_flight)
            release: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            waiting.append(release)
            async with changed:
                changed.notify_all()
            try:
                await release
            finally:
                in_flight -= 1
            return Answer(1)

    sender = make_sender(HeldApi(), clock, concurrency=concurrency)
    sends = [asyncio.create_task(sender.send(records(1))) for _ in range(batches)]
    for released in range(batches):
        expected = min(concurrency, batches - released)
        async with changed:
            await changed.wait_for(lambda: len(waiting) == expected)  # noqa: B023
        assert sender.in_flight <= concurrency
        waiting.pop(0).set_result(None)
    outcomes = await asyncio.gather(*sends)

    assert max_in_flight == concurrency
    assert sum(outcome.ingested for outcome in outcomes) == batches
    assert sender.in_flight == 0


async def test_lost_answers_that_may_have_been_stored_are_counted_in_doubt() -> None:
    clock = VirtualClock()
    api = ScriptedApi(
        clock,
        lambda: TransportError("answer lost after sending", in_doubt=True),
        lambda: TransportError("connection refused", in_doubt=False),
        lambda: TransportError("timed out waiting for the answer", in_doubt=True),
    )
    events: list[SendEvent] = []

    outcome = await make_sender(api, clock, on_event=events.append).send(records(4))

    assert (outcome.in_doubt, outcome.retries, outcome.requests, outcome.ingested) == (2, 3, 4, 4)
    assert [event.kind for event in events] == ["in_doubt", "retry", "retry", "in_doubt", "retry"]


async def test_in_doubt_is_not_counted_when_the_request_is_not_resent() -> None:
    clock = VirtualClock()
    api = ScriptedApi(clock, then=lambda: TransportError("answer lost", in_doubt=True))

    with pytest.raises(RetriesExhausted):
        await make_sender(api, clock, policy=RetryPolicy(max_retries=0)).send(records(1))

    assert len(api.calls) == 1


@pytest.mark.parametrize(
    ("counted", "ingested", "unconfirmed"), [(None, 5, 0), (7, 5, 0), (2, 2, 3)]
)
async def test_a_200_counting_fewer_records_than_sent_leaves_the_rest_unconfirmed(
    counted: int | None, ingested: int, unconfirmed: int
) -> None:
    clock = VirtualClock()
    api = ScriptedApi(clock, lambda: Answer(counted))
    events: list[SendEvent] = []

    outcome = await make_sender(api, clock, on_event=events.append).send(records(5))

    assert (outcome.ingested, outcome.unconfirmed) == (ingested, unconfirmed)
    assert len(api.calls) == 1  # acknowledged: never resent (that would duplicate the rest)
    expected_kinds = [] if counted is None else ["count_mismatch"]
    assert [event.kind for event in events] == expected_kinds


async def test_fractional_rate_limit_still_sends_and_nonpositive_is_refused() -> None:
    clock = VirtualClock()
    api = ScriptedApi(clock)

    outcome = await make_sender(api, clock, rate_limit_per_s=0.5).send(records(2))

    assert outcome.ingested == 2
    with pytest.raises(ConfigError, match="--rate"):
        make_sender(api, clock, rate_limit_per_s=0.0)


# ---- property: whatever the hints, exactly the bad records are rejected -------------------


@settings(max_examples=80, deadline=None)
@given(
    data=st.data(),
    size=st.integers(min_value=1, max_value=120),
    qualities=st.lists(st.sampled_from(HINT_QUALITIES), min_size=1, max_size=4),
    rng=st.randoms(use_true_random=False),
)
def test_rejected_is_exactly_the_bad_set(
    data: st.DataObject, size: int, qualities: list[str], rng: random.Random
) -> None:
    bad = data.draw(st.sets(st.integers(min_value=0, max_value=size - 1), max_size=size))
    api = RefusingApi(bad, qualities, rng=rng)

    async def run() -> object:
        clock = VirtualClock()
        return await make_sender(api, clock).send(records(size))

    outcome = asyncio.run(run())

    assert isinstance(outcome, sender_module.SendOutcome)
    rejected = [index for index, _ in outcome.rejected]
    assert sorted(rejected) == sorted(bad)  # each bad record once, no good one
    assert outcome.ingested == size - len(bad)
    assert outcome.requests == len(api.calls) <= 2 * size - 1
    stored = [record_id for call in api.calls for record_id in call.ids if not set(call.ids) & bad]
    assert sorted(stored) == sorted(set(range(size)) - bad)  # each good record stored once
