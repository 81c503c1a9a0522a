"""The batcher with a v2 body wrapper: limits hold on the exact bytes sent, wrapper included."""

from __future__ import annotations

import itertools

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from bulkload.contract.v2schema import Operation, wrapper_bytes
from bulkload.pipeline.batcher import Batch, Batcher, body_size

json_objects = st.dictionaries(
    st.text(max_size=8),
    st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), st.text(max_size=30)),
    max_size=5,
)


def batches_of(records: list[bytes], batcher: Batcher[int], *, in_bulk: bool) -> list[Batch[int]]:
    out: list[Batch[int]] = []
    if in_bulk:
        out.extend(batcher.add_many(records, list(range(len(records)))))
    else:
        for index, record in enumerate(records):
            sealed = batcher.add(record, index)
            if sealed is not None:
                out.append(sealed)
    last = batcher.flush()
    if last is not None:
        out.append(last)
    return out


@settings(max_examples=300, deadline=None)
@given(
    objects=st.lists(json_objects, max_size=60),
    max_records=st.integers(min_value=1, max_value=12),
    slack=st.integers(min_value=3, max_value=400),
    solution=st.text(max_size=20),
    dry_run=st.booleans(),
    in_bulk=st.booleans(),
)
def test_wrapped_bodies_are_exact_within_limits_and_greedy(
    objects: list[dict[str, object]],
    max_records: int,
    slack: int,
    solution: str,
    dry_run: bool,
    in_bulk: bool,
) -> None:
    prefix, suffix = wrapper_bytes(solution, Operation.UPSERT, dry_run=dry_run)
    max_bytes = len(prefix) + len(suffix) + slack
    batcher: Batcher[int] = Batcher(
        max_records=max_records, max_bytes=max_bytes, body_prefix=prefix, body_suffix=suffix
    )
    records = [orjson.dumps(o) for o in objects]
    fitting = [r for r in records if batcher.fits_alone(r)]
    assert all(len(prefix) + len(r) + 2 + len(suffix) <= max_bytes for r in fitting), (
        "fits_alone counts the wrapper"
    )
    batches = batches_of(fitting, batcher, in_bulk=in_bulk)
    sent: list[bytes] = []
    for batch in batches:
        assert 1 <= batch.size <= max_records
        assert len(batch.body) <= max_bytes
        assert len(batch.body) == body_size(
            map(len, batch.records), wrapper_bytes=len(prefix) + len(suffix)
        )
        body = orjson.loads(batch.body)
        assert body == {
            "solutionName": solution,
            "operationType": "UPSERT",
            "dryRun": dry_run,
            "data": [orjson.loads(r) for r in batch.records],
        }
        sent.extend(batch.records)
    assert sent == fitting
    # Greedy: no batch could have taken the next batch's first record.
    for batch, following in itertools.pairwise(batches):
        grown = len(batch.body) + 1 + len(following.records[0])
        assert batch.size == max_records or grown > max_bytes


def test_a_record_too_large_for_the_wrapped_body_does_not_fit_alone() -> None:
    prefix, suffix = wrapper_bytes("S", Operation.APPEND, dry_run=False)
    limit = len(prefix) + len(suffix) + 14  # the brackets and one 12-byte record, exactly
    batcher: Batcher[int] = Batcher(max_bytes=limit, body_prefix=prefix, body_suffix=suffix)
    assert batcher.fits_alone(b'{"a":"1234"}')
    assert not batcher.fits_alone(b'{"a":"12345"}')
    assert batcher.add(b'{"a":"1234"}', 0) is None  # not full yet: nothing sealed
    sealed = batcher.flush()
    assert sealed is not None and len(sealed.body) == limit
