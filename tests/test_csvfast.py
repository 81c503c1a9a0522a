"""The CSV fast paths held to the definitions they replace, on generated input.

- ``CsvChunkEncoder`` (bulkload/contract/csvfast.py) against ``csv_encoder``, the row
  encoder: byte-identical JSON for every row, the same reason for every refused one.
- The CSV reader's block path (``_CsvLineFeeder.take_block``) against the line-at-a-time
  path: the same chunks (rows, lines, positions, problems); and so the raw blocks that a
  worker parses (``csv_blocks``: ``parse_csv_block``, ``CsvBlockTake``), at block sizes
  that cut rows and quoted fields.

Field values are drawn from the edges of the hostile catalogue (tests/hostile/) and of the
column rules: quoted line breaks, empty = NULL, numeric text kept exact, booleans in every
spelling, JSON columns (arrays split across fields, NaN, deep nesting, big integers),
dates that do not exist, wrong-width rows, invalid UTF-8, lone surrogates, NUL bytes.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bulkload.contract import csvfast
from bulkload.contract.csvfast import CsvChunkEncoder
from bulkload.contract.schema import TableSchema
from bulkload.contract.validate import RecordInvalid, RecordValidator
from bulkload.pipeline.chunkcheck import ChunkChecker
from bulkload.pipeline.readers import Chunk, discover_inputs, read_chunks
from bulkload.pipeline.readers import csv as csv_reader_module
from bulkload.pipeline.readers.csv import _CsvLineFeeder
from bulkload.pipeline.workers import ChunkPool
from tests.hostile.cases import CASES

SCHEMA = TableSchema.from_json(
    {
        "tableName": "edges",
        "columns": [
            {"name": "id", "type": "integer"},
            {"name": "amount", "type": "numeric", "precision": 12, "scale": 2},
            {"name": "ratio", "type": "numeric"},
            {"name": "cents", "type": "numeric", "precision": 2, "scale": 2},
            {"name": "day", "type": "date"},
            {"name": "seen_at", "type": "timestamp"},
            {"name": "at_t", "type": "timestamp", "dateFormat": 'YYYY-MM-DD"T"HH24:MI:SS'},
            {"name": "paid", "type": "boolean"},
            {"name": "note", "type": "string"},
            {"name": "meta", "type": "JSON"},
        ],
    }
)
VALIDATOR = RecordValidator(SCHEMA)
LENIENT = RecordValidator(SCHEMA, ignore_unknown_columns=True)
NAMES = list(SCHEMA.column_names)

_ANY = ["", " ", "NULL", "\x00", "a\nb", "\r", "é", "\ud800", "١٢", "x" * 40]
EDGES: dict[str, list[str]] = {
    "id": [
        "0",
        "1",
        "-1",
        "42",
        "-0",
        "+5",
        "007",
        " 5",
        "5 ",
        "1_000",
        "1.0",
        "1e3",
        "true",
        "9223372036854775807",
        "-9223372036854775808",
        "9223372036854775808",
        "123456789012345678",
        "1234567890123456789",
        "[1]",
        "1,2",
    ],
    "amount": [
        "0",
        "0.00",
        "-0.5",
        "12.50",
        "+1.25",
        "0012.5",
        "9999999999.99",
        "10000000000",
        "1.234",
        ".5",
        "5.",
        "1e3",
        "NaN",
        "Infinity",
        "1,5",
        "-",
        "00000000000001.1",
    ],
    "ratio": [
        "0.177295",
        "-3",
        "1" * 38,
        "1" * 39,
        "0." + "1" * 37,
        "1e999",
        "-0",
        "+.5",
        "123456789012345678.123456789012345678",
    ],
    "cents": ["0.99", "0.5", "1.00", "1", "0", "-0.01", "0.999", "00.10"],
    "day": [
        "2021-11-28",
        "2024-02-29",
        "2023-02-29",
        "2021-04-31",
        "2021-12-31",
        "2021-1-5",
        "2021-11-28 ",
        "20211128",
        "2021-13-01",
        "0000-01-01",
    ],
    "seen_at": [
        "2021-11-28 01:30:06",
        "2021-11-28T01:30:06",
        "2021-11-30 24:00:00",
        "2021-02-30 00:00:00",
        "2021-11-28 01:30:06.5",
        "2021-11-28  01:30:06",
    ],
    "at_t": ["2021-11-28T01:30:06", "2021-11-28 01:30:06", "2020-02-29T23:59:59"],
    "paid": ["true", "false", "TRUE", "False", "1", "0", "yes", "t", "2", "tRuE", " true"],
    "note": [
        "plain",
        "with, comma",
        'a "quote"',
        "back\\slash",
        "tab\there",
        "nul\x00",
        "\x1f",
        "\x7f",
        "caf\u00e9",
        "\u2028",
        "\U0001f600",
        "line\nbreak",
        "cr\r\nlf",
        "\ud83d",
        "%s %d %%",
        "{}",
        "ünï",
    ],
    "meta": [
        '{"a":1}',
        "[1,2]",
        " [1] ",
        "1,[2",
        "3]",
        "[1, NaN]",
        "NaN",
        "123456789012345678901234567890",
        '"s"',
        "null",
        "true",
        '{"a":1,"a":2}',
        "[" * 600 + "]" * 600,
        "[" * 50 + "]" * 50,
        "[1,]",
        '{"k": "\\ud800"}',
        "\u00a0[1]",
        "1e999",
        "[\n1\n]",
        "tru",
        '"\\u0000"',
    ],
}


GOOD: dict[str, list[str]] = {
    "id": ["0", "1", "-1", "42", "123456789012345678"],
    "amount": ["0", "0.00", "-0.5", "12.50", "9999999999.99", "-0"],
    "ratio": ["0.177295", "-3", "1" * 38, "0." + "1" * 36],
    "cents": ["0.99", "0.5", "0", "-0.01"],
    "day": ["2021-11-28", "2024-02-29", "2021-12-31", "2021-01-30"],
    "seen_at": ["2021-11-28 01:30:06", "2020-02-29 23:59:59"],
    "at_t": ["2021-11-28T01:30:06", "2020-02-29T23:59:59"],
    "paid": ["true", "false"],
    "note": ["plain", "caf\u00e9", "\u2028", "\U0001f600", "\x7f", "with, comma"],
    "meta": ['{"a":1}', "[1,2]", '"s"', "null", "123456789012345678901234567890"],
}


@st.composite
def _rows(draw: st.DrawFn, names: list[str]) -> list[list[str]]:
    """Rows whose columns are each either clean (so the bulk check passes and the column
    goes in bulk), clean but for a few edges, or anything at all."""
    pools = []
    for name in names:
        good = GOOD.get(name, ["zz"])
        edgy = EDGES.get(name, ["zz"]) + _ANY
        mode = draw(st.sampled_from(["clean", "one edge", "any"]))
        if mode == "clean":
            pools.append(st.sampled_from(good))
        elif mode == "one edge":
            pools.append(st.one_of(*[st.sampled_from(good)] * 8, st.sampled_from(edgy)))
        else:
            pools.append(
                st.one_of(st.sampled_from(good), st.sampled_from(edgy), st.text(max_size=6))
            )
    row = st.tuples(*pools).map(list)
    odd = st.lists(st.sampled_from(GOOD["id"]), max_size=len(names) + 2)  # a wrong width, mostly
    return draw(st.lists(st.one_of(*[row] * 6, odd), max_size=30))


def _same(validator: RecordValidator, header: list[str], rows: list[list[str]]) -> None:
    encode_row = validator.csv_encoder(header)
    expected: list[Any] = []
    for row in rows:
        try:
            expected.append(encode_row(row))
        except RecordInvalid as exc:
            expected.append(("invalid", exc.reason, exc.column))
    got = [
        ("invalid", out.reason, out.column) if isinstance(out, RecordInvalid) else out
        for out in CsvChunkEncoder(validator, header)(rows)
    ]
    assert got == expected


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=_rows(NAMES))
def test_chunk_encoder_writes_what_the_row_encoder_writes(rows: list[list[str]]) -> None:
    _same(VALIDATOR, NAMES, rows)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=_rows(["note", "zz", "id", "meta"]))
def test_chunk_encoder_with_unknown_columns(rows: list[list[str]]) -> None:
    _same(LENIENT, ["note", "zz", "id", "meta"], rows)  # the unknown column is dropped
    _same(VALIDATOR, ["note", "zz", "id", "meta"], rows)  # every row refused alike


@pytest.mark.parametrize("name", NAMES)
def test_every_edge_among_clean_rows(name: str) -> None:
    """Each edge value alone in a chunk of clean rows (so its column is checked in bulk),
    then next to each other edge value of its column (``1,[2`` then ``3]``...)."""
    good = [GOOD[column][0] for column in NAMES]
    index = NAMES.index(name)

    def with_value(value: str) -> list[str]:
        row = list(good)
        row[index] = value
        return row

    edges = EDGES[name] + _ANY
    for value in edges:
        _same(VALIDATOR, NAMES, [list(good), with_value(value), list(good)])
    for first in edges:
        for second in edges:
            _same(VALIDATOR, NAMES, [with_value(first), with_value(second)])


def test_the_benchmark_shape_goes_through_the_bulk_path_unchanged() -> None:
    """Rows like the benchmark's, all valid: same bytes, and no row left to the row
    encoder (which would make the fast path pointless, not wrong)."""
    rows = [
        [
            str(i),
            "392852.40",
            "0.177295",
            "0.5",
            "2021-11-28",
            "2021-11-28 01:30:06",
            "2021-11-28T01:30:06",
            "true",
            "Zoë Müller",
            '{"source":"phone","tags":["b2b"]}',
        ]
        for i in range(500)
    ]
    encoder = CsvChunkEncoder(VALIDATOR, NAMES)
    calls = 0
    encode_row = encoder._encode_row

    def counting(row: list[str]) -> bytes:
        nonlocal calls
        calls += 1
        return encode_row(row)

    encoder._encode_row = counting
    expected = [VALIDATOR.csv_encoder(NAMES)(row) for row in rows]
    assert encoder(rows) == expected
    assert calls == 0


# -- the reader's block path ------------------------------------------------------------------


def _block_chunks(chunks: Iterator[Chunk]) -> Iterator[Chunk]:
    """Raw blocks (``csv_blocks=True``) taken as the producer takes them: parsed by a chunk
    checker (which keeps every row's fields here), a row cut by a block's end parsed again
    with the next block, cut into the chunks read_csv cuts."""
    checker = ChunkChecker(RecordValidator(SCHEMA), keep_rows_over=-1)
    with ChunkPool(checker, 0) as pool:
        for chunk in chunks:
            ticket = pool.submit(chunk.kind, chunk.header, False, chunk.items)
            for taken, _verdict in ticket.taken(chunk, lambda: None):
                yield taken


def _chunks(
    path: Path, buffer_bytes: int, *, lines_only: bool, blocks: bool = False, limit: int = 1 << 26
) -> list[Any]:
    [input_file] = discover_inputs([str(path)])
    original = _CsvLineFeeder.take_block
    if lines_only:
        _CsvLineFeeder.take_block = lambda self, make_reader: None  # type: ignore[method-assign]
    try:
        out: list[Any] = []
        try:
            chunks = read_chunks(
                input_file,
                chunk_records=7,
                buffer_bytes=buffer_bytes,
                max_record_bytes=limit,
                csv_blocks=blocks,
            )
            for chunk in _block_chunks(chunks) if blocks else chunks:
                out.append(
                    (
                        chunk.items,
                        chunk.lines,
                        chunk.ends,
                        chunk.header,
                        None if blocks else chunk.bytes_consumed,  # when read: not the same
                        chunk.problems,
                    )
                )
        except Exception as exc:  # a file defect: both paths must raise it alike
            out.append(("raised", type(exc).__name__, str(exc)))
        return out
    finally:
        _CsvLineFeeder.take_block = original  # type: ignore[method-assign]


def _same_chunks(path: Path, limit: int = 1 << 26) -> None:
    for buffer_bytes in (16, 64, 1 << 20):
        read = _chunks(path, buffer_bytes, lines_only=False, limit=limit)
        assert read == _chunks(path, buffer_bytes, lines_only=True, limit=limit), buffer_bytes
        # raw blocks, parsed where they are checked: the same chunks but for bytes_consumed
        unread = [(*entry[:4], None, *entry[5:]) if len(entry) == 6 else entry for entry in read]
        blocks = _chunks(path, buffer_bytes, lines_only=False, blocks=True, limit=limit)
        assert blocks == unread, buffer_bytes


@pytest.mark.parametrize(
    "body",
    [
        b"1,2\n" + b"z" * 300 + b"\n3,4\n",  # at a row boundary
        b'1,"open\n' + b"z" * 300 + b'\nclosed"\n3,4\n',  # inside a quoted field
        b'1,"open\n' + b"z" * 300 + b'\nclosed"x\n3,4\n5,6\n',  # inside a malformed row
        b"1,2\n" + b"z" * 300,  # at the end, unterminated
        b'1,"open\n' + b"z" * 300,  # inside a quoted field, at the end
    ],
)
def test_an_over_long_line_reads_alike_as_rows_and_as_raw_blocks(
    tmp_path: Path, body: bytes
) -> None:
    path = tmp_path / "long.csv"
    path.write_bytes(b"a,b\n" + body)
    _same_chunks(path, limit=100)
    read = _chunks(path, 16, lines_only=False, limit=100)  # (a read that holds it whole: no)
    problems = [p for entry in read for p in entry[5]]
    assert any("longer than" in p.reason for p in problems)
    rows = [row for entry in read for row in entry[0]]
    if body.endswith(b"3,4\n5,6\n"):
        assert ["3", "4"] in rows  # the row after a malformed one holding the long line


_CELLS = st.one_of(
    st.sampled_from(["a", "", "1", "x y", 'q"q', "multi\nline", "cr\r\nlf", "é", ",", "\r"]),
    st.text(alphabet='ab,"\n\r é', max_size=5),
)
_RAW_LINES = st.sampled_from(
    [
        b"",
        b"\r",
        b'1,"unclosed',
        b"1,\xff\xfe",
        b"\xef\xbb\xbf1,2",
        b'"a""b",c',
        b"a,b,c,d",
        b'1,"x"y',
        b"1,2\r",
    ]
)


def _csv_bytes(rows: list[list[str]], raw_lines: list[bytes], crlf: bool) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n" if crlf else "\n").writerows(rows)
    data = out.getvalue().encode()
    lines = data.split(b"\n")
    for i, raw in enumerate(raw_lines):
        lines.insert((i * 7) % (len(lines) + 1), raw)
    return b"a,b\n" + b"\n".join(lines)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(st.lists(_CELLS, min_size=1, max_size=3), max_size=30),
    raw_lines=st.lists(_RAW_LINES, max_size=4),
    crlf=st.booleans(),
)
def test_block_path_reads_what_the_line_path_reads(
    tmp_path: Path, rows: list[list[str]], raw_lines: list[bytes], crlf: bool
) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes(_csv_bytes(rows, raw_lines, crlf))
    _same_chunks(path)


def _hostile_csv_cases() -> Iterator[Any]:
    for case in CASES:
        if case.filename.endswith(".csv") and not case.name.startswith("field_50mb"):
            yield pytest.param(case, id=case.name)


@pytest.mark.parametrize("case", list(_hostile_csv_cases()))
def test_hostile_csv_inputs_read_and_encode_alike(case: Any, tmp_path: Path) -> None:
    path = tmp_path / case.filename
    case.write(path)
    _same_chunks(path)
    hostile = RecordValidator(
        TableSchema.from_json(
            {
                "tableName": "hostile",
                "columns": [
                    {"name": "id", "type": "integer"},
                    {"name": "note", "type": "string"},
                    {"name": "n", "type": "numeric"},
                    {"name": "meta", "type": "JSON"},
                ],
            }
        )
    )
    for items, _, _, header, _, _ in _chunks(path, 1 << 20, lines_only=False):
        if header is not None and not hostile.csv_header_problems(header):
            _same(hostile, header, items)


def _counting_line_path(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Counts the lines handed out one at a time (the row-by-row path) and the csv readers
    made (one per block parsed in one go, plus the row-by-row reader)."""
    counts = {"lines": 0, "readers": 0}
    next_line = _CsvLineFeeder.__next__
    make_reader = csv_reader_module._csv_reader

    def counting_next(self: _CsvLineFeeder) -> str:
        line = next_line(self)
        counts["lines"] += 1
        return line

    def counting_reader(lines: Any, dialect: Any) -> Any:
        counts["readers"] += 1
        return make_reader(lines, dialect)

    monkeypatch.setattr(_CsvLineFeeder, "__next__", counting_next)
    monkeypatch.setattr(csv_reader_module, "_csv_reader", counting_reader)
    return counts


def test_the_rows_read_with_the_header_are_parsed_in_one_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first block holds the header and (in a small file) every row: after the header,
    its rows take the block path too, not the row-by-row one."""
    path = tmp_path / "small.csv"
    path.write_bytes(b"a,b\n" + b"".join(b'%d,"x%d"\n' % (i, i) for i in range(300)))
    counts = _counting_line_path(monkeypatch)
    [input_file] = discover_inputs([str(path)])
    chunks = list(read_chunks(input_file, chunk_records=7, buffer_bytes=1 << 20))
    assert [row for chunk in chunks for row in chunk.items] == [
        [str(i), f"x{i}"] for i in range(300)
    ]
    assert [line for chunk in chunks for line in chunk.lines] == list(range(2, 302))
    assert counts["lines"] == 1  # the header's line only


def test_a_block_that_falls_back_to_row_by_row_is_not_parsed_whole_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows with quoted line breaks in the header's block: parsed row by row, and the rest
    of the block is not parsed in one go again at each row boundary (that would cost the
    square of the block's rows)."""
    path = tmp_path / "multiline.csv"
    path.write_bytes(b"a,b\n" + b"".join(b'%d,"x\ny"\n' % i for i in range(300)))
    counts = _counting_line_path(monkeypatch)
    [input_file] = discover_inputs([str(path)])
    chunks = list(read_chunks(input_file, chunk_records=7, buffer_bytes=1 << 20))
    assert [row for chunk in chunks for row in chunk.items] == [
        [str(i), "x\ny"] for i in range(300)
    ]
    assert counts["readers"] <= 3  # the row-by-row reader, the header block's one try


@settings(max_examples=300, deadline=None)
@given(
    values=st.lists(
        st.text(
            alphabet=st.one_of(
                st.sampled_from(['"', "\\", "\x00", "\x1f", "\x7f", "\u2028", "\ud800", "é", "東"]),
                st.characters(),
            ),
            max_size=6,
        ),
        min_size=1,
        max_size=5,
    ),
    ascii_only=st.booleans(),
)
@example(values=["Zoë", 'say "hi"'], ascii_only=False)
@example(values=["東京", "a\\b"], ascii_only=False)
@example(values=["é", "\ud800"], ascii_only=False)
@example(values=["plain", "tab\there"], ascii_only=True)
@example(values=["plain", 'q"'], ascii_only=True)
def test_a_string_column_goes_as_it_is_exactly_when_nothing_needs_escaping(
    values: list[str], ascii_only: bool
) -> None:
    """The string column's quick screens (ASCII: one byte-table pass; else printable and
    no quote or backslash) agree with the definition: the escape pattern's search."""
    if ascii_only:
        values = [value.encode("ascii", "ignore").decode() for value in values]
    pieces, quoted = csvfast._strings(values)
    as_is = csvfast._NEEDS_ESCAPE.search("".join(values)) is None
    assert quoted is as_is
    assert pieces == (values if as_is else [csvfast.encode_basestring(v) for v in values])
