"""JSONL blocks whose every line is a record take a bulk path; it must give exactly what the
line-by-line reading gives: records, line numbers and resume positions."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bulkload.pipeline.readers import discover_inputs, read_chunks

LINES = st.lists(
    st.sampled_from(
        [b'{"a":1}', b'{"b":"xy z"}', b"", b"  ", b"\t", b' {"c":2}', b'{"d":3}\r', b"[]"]
    ),
    max_size=40,
)


def expected(data: bytes) -> list[tuple[bytes, int, int]]:
    """The plain reading of JSON Lines: (record, line number, position after it)."""
    out: list[tuple[bytes, int, int]] = []
    offset = 0
    for number, line in enumerate(data.split(b"\n"), start=1):
        offset += len(line) + 1
        record = line[:-1] if line.endswith(b"\r") else line
        if record and not record.isspace():
            out.append((record, number, min(offset, len(data))))
    return out


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(lines=LINES, trailing_newline=st.booleans(), buffer_bytes=st.integers(1, 64))
def test_bulk_and_line_by_line_reading_agree(
    tmp_path: Path, lines: list[bytes], trailing_newline: bool, buffer_bytes: int
) -> None:
    data = b"\n".join(lines) + (b"\n" if trailing_newline and lines else b"")
    path = tmp_path / "in.jsonl"
    path.write_bytes(data)
    (input_file,) = discover_inputs([str(path)])
    got = [
        (item, line, end)
        for chunk in read_chunks(input_file, buffer_bytes=buffer_bytes, chunk_records=7)
        for item, line, end in zip(chunk.items, chunk.lines, chunk.ends, strict=True)
    ]
    assert got == expected(data)
