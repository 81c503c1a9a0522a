"""The request body built in one join is exactly the JSON array of the records."""

from __future__ import annotations

import orjson
from hypothesis import given
from hypothesis import strategies as st

from bulkload.pipeline.batcher import Batcher, json_array

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
