"""A short fuzz run: arbitrary bytes as JSONL / CSV / JSON-array files (plain and gzip) and
as single records. The only exceptions allowed are the documented ones — InputError for a
defect of the whole file, RecordInvalid for one record — and every record read is either
encodable or refused with a one-line reason. Sizes are bounded, so nothing can hang."""

from __future__ import annotations

import gzip
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bulkload.contract.schema import TableSchema
from bulkload.contract.validate import RecordInvalid, RecordValidator
from bulkload.errors import InputError
from bulkload.pipeline.readers import ChunkKind, discover_inputs, read_chunks

SCHEMA = TableSchema.from_json(
    {
        "tableName": "fuzz",
        "columns": [
            {"name": "id", "type": "integer"},
            {"name": "note", "type": "string"},
            {"name": "n", "type": "numeric", "precision": 10, "scale": 2},
            {"name": "d", "type": "timestamp", "dateFormat": 'YYYY-MM-DD"T"HH24:MI:SS.FF'},
            {"name": "b", "type": "boolean"},
            {"name": "meta", "type": "JSON"},
        ],
    }
)
VALIDATOR = RecordValidator(SCHEMA)
LENIENT = RecordValidator(SCHEMA, ignore_unknown_columns=True)
FUZZ = settings(
    max_examples=500,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

# Bytes that are mostly near the formats' own syntax, so the fuzzing reaches deep paths.
SYNTAX = st.sampled_from(
    [b"{", b"}", b"[", b"]", b",", b":", b'"', b"\\", b"\n", b"\r\n", b"\xef\xbb\xbf", b"\x00",
     b'"id"', b'"note"', b'"n"', b'"meta"', b"1", b"-1.5e3", b"null", b"true", b"NaN",
     b"\xff", b"\xc3\xa9", b"\\u00e9", b"\\ud800", b"id,note,n\n", b" ", b"9" * 25]
)  # fmt: skip
FUZZ_BYTES = st.one_of(st.binary(max_size=400), st.lists(SYNTAX, max_size=60).map(b"".join))


def check_file(directory: Path, name: str, data: bytes, *, buffer_bytes: int) -> None:
    path = directory / name
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    (input_file,) = discover_inputs([str(path)])
    try:
        for chunk in read_chunks(input_file, buffer_bytes=buffer_bytes):
            assert len(chunk.items) == len(chunk.lines) == len(chunk.ends)
            for problem in chunk.problems:
                assert problem.reason and "\n" not in problem.reason
            if chunk.kind is ChunkKind.CSV_ROWS:
                assert chunk.header is not None
                if LENIENT.csv_header_problems(list(chunk.header)):
                    continue
                encode: Any = LENIENT.csv_encoder(list(chunk.header))
            else:
                encode = VALIDATOR.check_raw
            for item in chunk.items:
                try:
                    encode(item)
                except RecordInvalid as exc:
                    assert exc.reason and "\n" not in exc.reason
    except InputError as exc:
        assert "\n" not in str(exc)


@FUZZ
@given(
    data=FUZZ_BYTES,
    name=st.sampled_from(["f.jsonl", "f.csv", "f.json", "f.jsonl.gz", "f.json.gz"]),
    buffer_bytes=st.sampled_from([7, 64, 1 << 20]),
)
def test_readers_and_validator_raise_only_documented_errors(
    data: bytes, name: str, buffer_bytes: int
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        check_file(Path(directory), name, data, buffer_bytes=buffer_bytes)


@FUZZ
@given(FUZZ_BYTES)
@example(b"10e999999999999999999")  # found by this test: a top-level number, huge exponent
def test_any_bytes_as_a_record_are_accepted_or_refused_with_a_reason(raw: bytes) -> None:
    for validator in (VALIDATOR, LENIENT):
        try:
            accepted = validator.check_raw(raw)
        except RecordInvalid as exc:
            assert exc.reason and "\n" not in exc.reason
        else:
            # what is accepted is a record the validator accepts again, unchanged
            assert validator.check_raw(accepted) == accepted


@FUZZ
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner),
        max_leaves=12,
    )
)
def test_any_python_value_as_a_record_is_accepted_or_refused_with_a_reason(value: Any) -> None:
    try:
        accepted = VALIDATOR.check_object(value)
    except RecordInvalid as exc:
        assert exc.reason and "\n" not in exc.reason
    else:
        assert VALIDATOR.check_raw(accepted) == accepted
