"""Batcher.add_many must cut exactly the batches that add() one record at a time cuts."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bulkload.pipeline.batcher import Batch, Batcher


def one_by_one(batcher: Batcher[int], records: list[bytes]) -> list[Batch[int]]:
    out: list[Batch[int]] = []
    for tag, record in enumerate(records):
        sealed = batcher.add(record, tag)
        if sealed is not None:
            out.append(sealed)
    return out


def in_groups(batcher: Batcher[int], records: list[bytes], cuts: list[int]) -> list[Batch[int]]:
    out: list[Batch[int]] = []
    bounds = sorted({0, len(records), *(c % (len(records) + 1) for c in cuts)})
    for start, stop in itertools.pairwise(bounds):
        out.extend(batcher.add_many(records[start:stop], list(range(start, stop))))
    return out


@settings(max_examples=300, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 40), max_size=120),
    max_records=st.integers(1, 12),
    max_bytes=st.integers(45, 200),
    cuts=st.lists(st.integers(0, 200), max_size=6),
)
def test_add_many_cuts_the_same_batches_as_add(
    sizes: list[int], max_records: int, max_bytes: int, cuts: list[int]
) -> None:
    records = [b"x" * size for size in sizes]
    single: Batcher[int] = Batcher(max_records=max_records, max_bytes=max_bytes, first_seq=3)
    many: Batcher[int] = Batcher(max_records=max_records, max_bytes=max_bytes, first_seq=3)
    expected = one_by_one(single, records)
    got = in_groups(many, records, cuts)
    assert got == expected
    assert many.flush() == single.flush()


def test_add_many_refuses_a_record_too_large_even_alone_like_add() -> None:
    batcher: Batcher[int] = Batcher(max_records=10, max_bytes=10)
    assert batcher.add_many([b"abc"], [0]) == []
    with pytest.raises(ValueError, match="cannot fit"):
        batcher.add_many([b"x" * 9], [1])
    assert batcher.flush() == Batch(seq=0, records=[b"abc"], tags=[0], body=b"[abc]")
