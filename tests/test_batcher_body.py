"""The request body built in one join is exactly the JSON array of the records."""

from __future__ import annotations

import gc
from array import array

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bulkload.pipeline.batcher import Batcher, BodyRecords, json_array

RECORDS = st.lists(st.binary(min_size=1, max_size=40), max_size=12)


@given(RECORDS)
def test_json_array_is_the_records_joined_in_brackets(records: list[bytes]) -> None:
    assert json_array(records) == b"[" + b",".join(records) + b"]"


def test_json_array_of_real_records_parses_back_to_them() -> None:
    records = [orjson.dumps({"id": i, "note": "é" * i}) for i in range(3)]
    assert orjson.loads(json_array(records)) == [orjson.loads(r) for r in records]
    assert json_array([]) == b"[]"
    assert json_array([b'{"id":1}']) == b'[{"id":1}]'


@given(st.lists(st.binary(min_size=1, max_size=30), min_size=1, max_size=40))
def test_sealed_bodies_are_the_json_array_of_their_records(records: list[bytes]) -> None:
    batcher: Batcher[int] = Batcher(max_records=5, max_bytes=100)
    batches = batcher.add_many(records, list(range(len(records))))
    last = batcher.flush()
    batches += [last] if last is not None else []
    assert [r for batch in batches for r in batch.records] == records
    for batch in batches:
        assert batch.body == b"[" + b",".join(batch.records) + b"]"
        assert len(batch.body) <= 100


@given(
    st.lists(st.binary(min_size=1, max_size=30), min_size=1, max_size=40),
    st.sampled_from(
        [(b"", b""), (b'{"data":', b"}"), (b'{"solutionName":"S","data":', b',"x":1}')]
    ),
)
def test_a_sealed_batch_reads_each_record_back_from_its_body(
    records: list[bytes], wrapper: tuple[bytes, bytes]
) -> None:
    # Records holding commas and brackets of their own are cut where the batcher put them.
    records = [b"[," + r + b"]" for r in records]
    prefix, suffix = wrapper
    batcher: Batcher[int] = Batcher(
        max_records=7, max_bytes=200, body_prefix=prefix, body_suffix=suffix
    )
    batches = batcher.add_many(records, list(range(len(records))))
    last = batcher.flush()
    batches += [last] if last is not None else []
    at = 0
    for batch in batches:
        held = records[at : at + batch.size]
        at += batch.size
        views = batch.records
        assert isinstance(views, BodyRecords) and views == held and len(views) == len(held)
        assert [views[i] for i in range(len(held))] == held
        assert [views[-i] for i in range(1, len(held) + 1)] == held[::-1]
        assert views[1:] == held[1:] and views[::2] == held[::2]
        with pytest.raises(IndexError):
            views[len(held)]
        # Nothing but the body and the offsets: the records' own bytes are not kept twice.
        held_by = [x for x in gc.get_referents(views) if not isinstance(x, type)]
        assert [type(x) for x in held_by] == [bytes, array] and held_by[0] is batch.body
    assert at == len(records)
