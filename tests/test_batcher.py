"""The batcher: limits, exact body bytes, order, and the greedy batch count."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bulkload.pipeline.batcher import Batch, Batcher, body_size


def run_batcher(records: list[bytes], *, max_records: int, max_bytes: int) -> list[Batch[int]]:
    batcher: Batcher[int] = Batcher(max_records=max_records, max_bytes=max_bytes, first_seq=7)
    batches = []
    for index, record in enumerate(records):
        sealed = batcher.add(record, index)
        if sealed is not None:
            batches.append(sealed)
    last = batcher.flush()
    if last is not None:
        batches.append(last)
    return batches


def greedy_batch_count(sizes: list[int], *, max_records: int, max_bytes: int) -> int:
    """Independent greedy packing: open a new batch whenever the next record breaks a limit."""
    count = 0
    in_batch = 0
    body = 0
    for size in sizes:
        if in_batch and (in_batch + 1 > max_records or body + 1 + size > max_bytes):
            in_batch = 0
        if in_batch == 0:
            count += 1
            in_batch, body = 1, 2 + size
        else:
            in_batch, body = in_batch + 1, body + 1 + size
    return count


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.text(max_size=30),  # includes multi-byte UTF-8
)
json_objects = st.dictionaries(st.text(max_size=8), json_scalars, max_size=5)


@settings(max_examples=300, deadline=None)
@given(
    objects=st.lists(json_objects, max_size=80),
    max_records=st.integers(min_value=1, max_value=12),
    max_bytes=st.integers(min_value=3, max_value=400),
)
def test_batches_respect_limits_keep_order_and_match_greedy_count(
    objects: list[dict[str, object]], max_records: int, max_bytes: int
) -> None:
    batcher: Batcher[int] = Batcher(max_records=max_records, max_bytes=max_bytes)
    serialized = [orjson.dumps(obj) for obj in objects]
    accepted = [record for record in serialized if batcher.fits_alone(record)]
    assert all(len(r) + 2 > max_bytes for r in serialized if r not in accepted)

    batches = run_batcher(accepted, max_records=max_records, max_bytes=max_bytes)

    for batch in batches:
        assert 1 <= batch.size <= max_records
        assert len(batch.body) <= max_bytes
        assert len(batch.body) == body_size(len(r) for r in batch.records)
        assert orjson.loads(batch.body) == [orjson.loads(r) for r in batch.records]
        assert len(batch.tags) == batch.size
    assert [r for batch in batches for r in batch.records] == accepted
    assert [t for batch in batches for t in batch.tags] == list(range(len(accepted)))
    assert [batch.seq for batch in batches] == list(range(7, 7 + len(batches)))
    sizes = [len(r) for r in accepted]
    assert len(batches) == greedy_batch_count(sizes, max_records=max_records, max_bytes=max_bytes)


def test_body_size_counts_brackets_and_commas() -> None:
    assert body_size([]) == 2
    assert body_size([2]) == 4  # [{}]
    assert body_size([2, 2, 2]) == 2 + 6 + 2
    assert len(b"[" + b",".join([b"{}"] * 3) + b"]") == body_size([2, 2, 2])


def test_record_exactly_at_the_limit_fits_and_one_byte_over_does_not() -> None:
    max_bytes = 20
    at_limit = b'{"k":"' + b"x" * 10 + b'"}'  # 18 bytes: [..] is exactly 20
    assert len(at_limit) + 2 == max_bytes
    over = b'{"k":"' + b"x" * 11 + b'"}'
    batcher: Batcher[str] = Batcher(max_records=10, max_bytes=max_bytes)
    assert batcher.fits_alone(at_limit)
    assert not batcher.fits_alone(over)
    with pytest.raises(ValueError, match="fits_alone"):
        batcher.add(over, "over")
    assert batcher.add(at_limit, "a") is None
    sealed = batcher.add(b"{}", "b")  # does not fit next to the full-size record
    assert sealed is not None and sealed.body == b"[" + at_limit + b"]"
    assert len(sealed.body) == max_bytes
    last = batcher.flush()
    assert last is not None and last.body == b"[{}]" and last.tags == ["b"]


def test_oversized_record_does_not_lose_the_open_batch() -> None:
    batcher: Batcher[int] = Batcher(max_records=10, max_bytes=10)
    assert batcher.add(b"{}", 1) is None
    with pytest.raises(ValueError):
        batcher.add(b'{"a":"bcdefgh"}', 2)
    last = batcher.flush()
    assert last is not None and last.tags == [1]


def test_full_batch_is_sealed_by_the_record_that_fills_it() -> None:
    batcher: Batcher[int] = Batcher(max_records=3, max_bytes=1_000)
    assert batcher.add(b"{}", 0) is None
    assert batcher.add(b"{}", 1) is None
    sealed = batcher.add(b"{}", 2)
    assert sealed is not None and sealed.tags == [0, 1, 2] and sealed.body == b"[{},{},{}]"
    assert batcher.flush() is None


def test_max_records_one_gives_one_batch_per_record() -> None:
    records = [b"{}", b'{"a":1}', b'{"\xc3\xa9":"\xe2\x82\xac"}']
    batches = run_batcher(records, max_records=1, max_bytes=1_000)
    assert [b.records for b in batches] == [[r] for r in records]
    assert [b.seq for b in batches] == [7, 8, 9]


def test_tiny_max_bytes_packs_empty_objects_exactly() -> None:
    # "[{},{}]" is 7 bytes: two empty objects per 7-byte body, never three.
    batches = run_batcher([b"{}"] * 5, max_records=500, max_bytes=7)
    assert [b.body for b in batches] == [b"[{},{}]", b"[{},{}]", b"[{}]"]


def test_multibyte_utf8_is_measured_in_bytes_not_characters() -> None:
    record = '{"s":"€€€"}'.encode()  # 11 characters, 17 bytes
    assert len(record) == 17
    batcher: Batcher[int] = Batcher(max_records=10, max_bytes=18)
    assert not batcher.fits_alone(record)
    assert Batcher[int](max_records=10, max_bytes=19).fits_alone(record)


def test_flush_on_empty_batcher_returns_nothing() -> None:
    assert Batcher[int]().flush() is None


@pytest.mark.parametrize("kwargs", [{"max_records": 0}, {"max_bytes": 2}])
def test_impossible_limits_are_refused(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        Batcher[int](**kwargs)
