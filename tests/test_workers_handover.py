"""--workers: when the workers start, which chunks the loader checks itself meanwhile, and
what a verdict carries back.

What must hold: ``auto`` starts no worker for an input known to be small, starts them at
once for one known to be large, and waits for proof otherwise; while no worker has answered
and while every worker has a chunk queued, the loader checks the chunk itself; none of it
changes a byte of the batches or a reject's file and line (``_produce`` compares the
producer's whole output with ``--workers 0``); a verdict that travels back as only its
changed outcomes is the verdict the worker made.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import orjson
import pytest

import bulkload.pipeline.workers as pool_module
from bulkload.contract.validate import RecordInvalid, RecordValidator
from bulkload.pipeline.chunkcheck import ChunkChecker, Verdict
from bulkload.pipeline.readers.chunks import ChunkKind
from bulkload.pipeline.readers.discovery import Compression, Format, InputFile
from bulkload.pipeline.workers import (
    AUTO_START_BYTES,
    AutoStart,
    ChangedOutcomes,
    ChunkPool,
    auto_start,
)
from tests.test_workers import SCHEMA, _produce, _write_inputs


def _input(
    fmt: Format,
    size: int | None,
    compression: Compression | None = None,
    *,
    stream: bool = False,
) -> InputFile:
    path = None if size is None and not stream else Path(f"in.{fmt}")
    return InputFile(path, f"in.{fmt}", fmt, compression, size, None, stream=stream)


BIG = AUTO_START_BYTES
SMALL = AUTO_START_BYTES // 4


@pytest.mark.parametrize(
    ("inputs", "csv_blocks", "expected"),
    [
        ([_input("jsonl", SMALL)], False, AutoStart.NEVER),
        ([_input("jsonl", BIG)], False, AutoStart.NOW),
        ([_input("json", SMALL), _input("jsonl", BIG - SMALL)], False, AutoStart.NOW),
        ([_input("jsonl", SMALL), _input("jsonl", SMALL)], False, AutoStart.NEVER),
        ([_input("jsonl", None)], False, AutoStart.PROVEN),  # standard input
        ([_input("jsonl", None, stream=True)], False, AutoStart.PROVEN),  # a FIFO
        ([_input("jsonl", SMALL, "gzip")], False, AutoStart.PROVEN),  # may hold far more
        ([_input("jsonl", BIG, "zstd")], False, AutoStart.NOW),  # holds at least that
        ([_input("jsonl", SMALL), _input("jsonl", None)], False, AutoStart.PROVEN),
        ([_input("jsonl", BIG), _input("jsonl", None)], False, AutoStart.NOW),
        # chunks the loader checks itself do not count
        ([_input("parquet", 4 * BIG)], False, AutoStart.NEVER),
        ([_input("parquet", 4 * BIG), _input("jsonl", SMALL)], False, AutoStart.NEVER),
        ([_input("rejects", 4 * BIG)], False, AutoStart.NEVER),
        ([_input("csv", 4 * BIG)], False, AutoStart.NEVER),  # its rows stay in the loader
        ([_input("csv", BIG)], True, AutoStart.NOW),  # raw blocks go to the workers
        ([_input("csv", None)], True, AutoStart.PROVEN),
        ([], False, AutoStart.NEVER),
    ],
)
def test_auto_decides_from_what_is_known_before_reading(
    inputs: list[InputFile], csv_blocks: bool, expected: AutoStart
) -> None:
    assert auto_start(inputs, csv_blocks=csv_blocks) is expected


def _workers_running() -> list[multiprocessing.process.BaseProcess]:
    return [
        child
        for child in multiprocessing.active_children()
        if "resource_tracker" not in Path(f"/proc/{child.pid}/cmdline").read_text()
    ]


def _chunk(count: int, bad: tuple[int, ...] = ()) -> list[bytes]:
    return [orjson.dumps({"id": "x" if i in bad else i, "note": f"n{i}"}) for i in range(count)]


def _checker() -> ChunkChecker:
    return ChunkChecker(RecordValidator(SCHEMA))


def test_auto_on_an_input_known_small_starts_no_worker() -> None:
    with ChunkPool(_checker(), None, [_input("jsonl", SMALL)]) as pool:
        tickets = [pool.submit(ChunkKind.RAW_JSON, None, False, _chunk(50)) for _ in range(20)]
        assert all(ticket.verdict(lambda: None).outcomes is None for ticket in tickets)
        assert pool.window == 0
        assert not _workers_running()


def test_explicit_workers_all_start_as_the_pool_is_entered() -> None:
    with ChunkPool(_checker(), 2, [_input("jsonl", SMALL)]) as pool:
        assert len(_workers_running()) == 2  # before any chunk
        assert pool.window == 4
    assert not _workers_running()


def test_explicit_workers_do_not_start_for_inputs_that_give_them_no_chunk(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pool_module, "csv_in_workers", lambda count: False)  # CSV rows
    inputs = [_input("parquet", BIG), _input("csv", BIG), _input("rejects", BIG)]
    with ChunkPool(_checker(), 2, inputs) as pool:
        assert not _workers_running()
        assert pool.window == 0


def test_auto_on_a_large_input_checks_here_until_a_worker_has_answered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pool_module, "auto_workers", lambda: 1)
    checker = _checker()
    with ChunkPool(checker, None, [_input("jsonl", BIG)]) as pool:
        assert len(_workers_running()) == 1  # started before the first chunk
        monkeypatch.setattr(ChunkPool, "_worker_up", lambda self: False)
        early = [pool.submit(ChunkKind.RAW_JSON, None, False, _chunk(30, (3,))) for _ in range(3)]
        assert [ticket._future for ticket in early] == [None] * 3  # checked here, at once
        monkeypatch.undo()
        pool._ready.result(timeout=120)  # type: ignore[union-attr]
        late = pool.submit(ChunkKind.RAW_JSON, None, False, _chunk(30, (3,)))
        assert late._future is not None  # a worker is up: it goes there
        verdicts = [ticket.verdict(lambda: None) for ticket in [*early, late]]
    expected = checker.check(ChunkKind.RAW_JSON, None, False, _chunk(30, (3,)))
    assert expected.outcomes is not None
    for verdict in verdicts:
        assert verdict.outcomes is not None
        assert [str(o) for o in verdict.outcomes] == [str(o) for o in expected.outcomes]


def test_a_chunk_is_checked_here_while_every_worker_has_one_queued() -> None:
    with ChunkPool(_checker(), 1) as pool:
        busy: list[Future[Any]] = [Future(), Future()]  # never done: the window is full
        pool._in_flight = busy  # type: ignore[assignment]
        here = pool.submit(ChunkKind.RAW_JSON, None, False, _chunk(10))
        assert here._future is None and here._verdict is not None
        busy[0].set_result(None)  # one done: room for one more
        there = pool.submit(ChunkKind.RAW_JSON, None, False, _chunk(10))
        assert there._future is not None
        assert there.verdict(lambda: None).outcomes is None


def test_what_a_chunk_checked_ahead_raises_is_raised_in_its_turn() -> None:
    class Failing(ChunkChecker):
        def check(self, *args: Any) -> Verdict:
            raise RecordInvalid("boom")

    with ChunkPool(Failing(RecordValidator(SCHEMA)), 1) as pool:
        ticket = pool_module.Ticket.checked_here(pool, (ChunkKind.RAW_JSON, None, False, []))
        with pytest.raises(RecordInvalid, match="boom"):
            ticket.verdict(lambda: None)


def test_a_verdict_travels_back_as_its_changed_outcomes_only() -> None:
    checker = _checker()
    items = _chunk(2_000, bad=(7, 1_500))
    verdict = checker.check(ChunkKind.RAW_JSON, None, False, items)
    assert verdict.outcomes is not None
    expected = list(verdict.outcomes)
    sparse = ChangedOutcomes.of(verdict, items)
    assert sparse is not None and sparse.indices == [7, 1_500]
    assert all(isinstance(o, RecordInvalid) for o in sparse.outcomes)
    again = orjson.loads(orjson.dumps([i.decode() for i in items]))  # the loader's own copies
    restored = sparse.restored([line.encode() for line in again])
    assert restored.outcomes is not None
    assert [str(o) for o in restored.outcomes] == [str(o) for o in expected]
    assert restored.all_bytes is False
    # all new bytes (or nothing to compare with): the verdict goes as it is
    renamed = Verdict([item + b" " for item in items], True)
    assert ChangedOutcomes.of(renamed, items) is None
    assert ChangedOutcomes.of(Verdict(None, True), items) is None


def test_through_a_worker_a_chunk_with_a_few_refused_records_gets_the_loaders_verdict() -> None:
    checker = _checker()
    chunks = [_chunk(2_000, bad=(0,)), _chunk(2_000), _chunk(900, bad=(5, 899))]
    with ChunkPool(checker, 1) as pool:
        tickets = [pool.submit(ChunkKind.RAW_JSON, None, False, items) for items in chunks]
        assert all(ticket._future is not None for ticket in tickets[:2])  # the window's two
        got = [ticket.verdict(lambda: None) for ticket in tickets]
    for verdict, items in zip(got, chunks, strict=True):
        expected = checker.check(ChunkKind.RAW_JSON, None, False, items)
        assert verdict.all_bytes == expected.all_bytes
        shown = None if verdict.outcomes is None else [str(o) for o in verdict.outcomes]
        assert shown == (None if expected.outcomes is None else [str(o) for o in expected.outcomes])


@pytest.mark.parametrize("workers", [1, 2])
def test_auto_started_at_once_cuts_byte_identical_batches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    """Whichever chunks the loader checked itself (while the workers started, or while
    they were behind), the producer's whole output is that of --workers 0."""
    paths = _write_inputs(tmp_path, 5)
    alone = _produce(paths, 0)
    monkeypatch.setattr(pool_module, "AUTO_START_BYTES", 1)
    monkeypatch.setattr(pool_module, "auto_workers", lambda: workers)
    assert _produce(paths, None) == alone
    assert _produce(paths, None, coerce=True) == _produce(paths, 0, coerce=True)


@pytest.mark.parametrize("seed", [11, 12])
def test_any_mix_of_chunks_checked_here_and_in_workers_cuts_the_same_batches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    """The same, with the chunks checked in the loader chosen at random (not by timing):
    a chunk checked ahead here between chunks out in the workers changes nothing."""
    import random

    paths = _write_inputs(tmp_path, seed)
    alone = _produce(paths, 0, max_bad_records=60)
    choice = random.Random(seed)
    routed: list[bool] = []

    def sometimes_up(self: ChunkPool) -> bool:
        routed.append(choice.random() < 0.5)
        return routed[-1]

    monkeypatch.setattr(ChunkPool, "_worker_up", sometimes_up)
    assert _produce(paths, 2, max_bad_records=60) == alone
    assert any(routed) and not all(routed)
