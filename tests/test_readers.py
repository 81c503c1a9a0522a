"""Readers: formats, compression, line numbers, positions and resume, file defects."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bulkload.errors import InputError
from bulkload.pipeline import readers
from bulkload.pipeline.readers import (
    Chunk,
    ChunkKind,
    InputFile,
    ReaderProblem,
    discover_inputs,
    fingerprint,
    read_chunks,
)


def zstd_compress(data: bytes) -> bytes:
    compressor: Any = zstandard.ZstdCompressor()
    return bytes(compressor.compress(data))


def bz2_compress(data: bytes) -> bytes:
    return bz2.compress(data, compresslevel=1)  # 100 kB blocks: a cut file keeps some


COMPRESSORS: dict[str | None, tuple[str, Callable[[bytes], bytes]]] = {
    None: ("", bytes),
    "gzip": (".gz", gzip.compress),
    "zstd": (".zst", zstd_compress),
    "bz2": (".bz2", bz2_compress),
}

# Files whose records span lines, blocks and odd bytes, per format.
JSONL_TEXT = (
    b'\xef\xbb\xbf{"id":1,"s":"\xc3\xa9"}\r\n'
    b"\n"
    b"   \t\n"
    b'{"id":2,"s":"a\\nb"}\n'
    b'{"id":3}\r\n'
    b"[1,2]\n"
    b'{"id":5}'
)
JSONL_EXPECTED = [
    (b'{"id":1,"s":"\xc3\xa9"}', 1),
    (b'{"id":2,"s":"a\\nb"}', 4),
    (b'{"id":3}', 5),
    (b"[1,2]", 6),
    (b'{"id":5}', 7),
]
CSV_TEXT = (
    b'\xef\xbb\xbfid,note\r\n1,"two\r\nlines"\r\n\r\n2,"say ""hi"""\n3,"a\nb\nc"\n4,\xe2\x82\xac\n'
)
CSV_EXPECTED = [
    (["1", "two\r\nlines"], 2),
    (["2", 'say "hi"'], 5),
    (["3", "a\nb\nc"], 6),
    (["4", "€"], 9),
]
JSON_TEXT = (
    b"\xef\xbb\xbf [\n"
    b'  {"a": "x]}\\"{[", "b": [1, {"c": null}]},\n'
    b"  2.5e3 ,\n"
    b'  "tail \\\\",\n'
    b"  [\n    [], {}\n  ],\n"
    b"  true, null, {}\n"
    b"]\n"
)
JSON_EXPECTED = [
    (b'{"a": "x]}\\"{[", "b": [1, {"c": null}]}', 2),
    (b"2.5e3", 3),
    (b'"tail \\\\"', 4),
    (b"[\n    [], {}\n  ]", 5),
    (b"true", 8),
    (b"null", 8),
    (b"{}", 8),
]
FORMAT_CASES = {
    "jsonl": (".jsonl", JSONL_TEXT, JSONL_EXPECTED),
    "csv": (".csv", CSV_TEXT, CSV_EXPECTED),
    "json": (".json", JSON_TEXT, JSON_EXPECTED),
}


def write(tmp_path: Path, name: str, data: bytes) -> InputFile:
    path = tmp_path / name
    path.write_bytes(data)
    [input_file] = discover_inputs([str(path)])
    return input_file


def read_all(
    input_file: InputFile, **kwargs: Any
) -> tuple[list[Chunk], list[tuple[Any, int, int]]]:
    chunks = list(read_chunks(input_file, **kwargs))
    records = [
        (item, line, end)
        for chunk in chunks
        for item, line, end in zip(chunk.items, chunk.lines, chunk.ends, strict=True)
    ]
    return chunks, records


def problems_of(chunks: list[Chunk]) -> list[ReaderProblem]:
    return [problem for chunk in chunks for problem in chunk.problems]


# --------------------------------------------------------------------------------------
# each format, each compression, resume from every position


@pytest.mark.parametrize("compression", list(COMPRESSORS))
@pytest.mark.parametrize("file_format", list(FORMAT_CASES))
def test_every_format_and_compression_reads_records_with_lines(
    tmp_path: Path, file_format: str, compression: str | None
) -> None:
    extension, text, expected = FORMAT_CASES[file_format]
    suffix, compress = COMPRESSORS[compression]
    input_file = write(tmp_path, f"data{extension}{suffix}", compress(text))
    assert (input_file.format, input_file.compression) == (file_format, compression)

    chunks, records = read_all(input_file, chunk_records=2)

    assert [(item, line) for item, line, _ in records] == expected
    assert all(len(chunk.items) <= 2 for chunk in chunks)
    assert problems_of(chunks) == []
    kind = ChunkKind.CSV_ROWS if file_format == "csv" else ChunkKind.RAW_JSON
    assert {chunk.kind for chunk in chunks} == {kind}
    if file_format == "csv":
        assert all(chunk.header == ["id", "note"] for chunk in chunks)
    assert chunks[-1].bytes_consumed == input_file.size_bytes
    ends = [end for _, _, end in records]
    assert ends == sorted(ends) and ends[-1] <= len(text)


def test_only_the_decompressor_an_input_needs_is_imported(tmp_path: Path) -> None:
    """Importing zstandard and isal costs ~7 ms of start-up: a fresh interpreter with the whole
    load imported reads a plain file without either, and each compressed input
    brings in its own decompressor."""
    (tmp_path / "plain.jsonl").write_bytes(b'{"id": 1}\n')
    (tmp_path / "packed.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(b'{"id": 2}\n'))
    (tmp_path / "packed.jsonl.gz").write_bytes(gzip.compress(b'{"id": 3}\n'))
    code = textwrap.dedent(
        """
        import json, sys
        import bulkload.cli, bulkload.pipeline.run
        from bulkload.pipeline.readers import discover_inputs, read_chunks

        def loaded():
            return sorted({name.split(".")[0] for name in sys.modules} & {"zstandard", "isal"})

        seen = {}
        for name in ("plain.jsonl", "packed.jsonl.zst", "packed.jsonl.gz"):
            [input_file] = discover_inputs([name])
            items = [bytes(i) for c in read_chunks(input_file) for i in c.items]
            seen[name] = [loaded(), [i.decode() for i in items]]
        print(json.dumps(seen))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    seen = json.loads(done.stdout.splitlines()[-1])
    assert seen == {
        "plain.jsonl": [[], ['{"id": 1}']],
        "packed.jsonl.zst": [["zstandard"], ['{"id": 2}']],
        "packed.jsonl.gz": [["isal", "zstandard"], ['{"id": 3}']],
    }


@pytest.mark.parametrize("buffer_bytes", [1, 5, 1 << 20])
@pytest.mark.parametrize("compression", list(COMPRESSORS))
@pytest.mark.parametrize("file_format", list(FORMAT_CASES))
def test_resume_from_every_position_yields_exactly_the_rest(
    tmp_path: Path, file_format: str, compression: str | None, buffer_bytes: int
) -> None:
    extension, text, expected = FORMAT_CASES[file_format]
    suffix, compress = COMPRESSORS[compression]
    input_file = write(tmp_path, f"data{extension}{suffix}", compress(text))
    _, records = read_all(input_file, buffer_bytes=buffer_bytes)
    assert [(item, line) for item, line, _ in records] == expected

    for index, (_, line, end) in enumerate(records):
        # what the pipeline stores: the end and the line of the last record it took
        _, rest = read_all(input_file, start=end, start_line=line, buffer_bytes=buffer_bytes)
        assert rest == records[index + 1 :], f"resume after record {index}"
        # and without a line hint, the reader counts lines itself
        _, rest = read_all(input_file, start=end, buffer_bytes=buffer_bytes)
        assert rest == records[index + 1 :]


def test_jsonl_end_is_the_offset_after_the_line_end(tmp_path: Path) -> None:
    text = b'{"a":1}\r\n{"b":2}\n'
    _, records = read_all(write(tmp_path, "x.jsonl", text))
    assert [end for _, _, end in records] == [9, len(text)]
    assert text[:9].endswith(b"\r\n")


def test_resume_past_the_end_is_refused(tmp_path: Path) -> None:
    input_file = write(tmp_path, "x.jsonl", b'{"a":1}\n')
    with pytest.raises(InputError, match=r"x\.jsonl.*past its end.*--restart"):
        list(read_chunks(input_file, start=100))
    zipped = write(tmp_path, "y.jsonl.gz", gzip.compress(b'{"a":1}\n'))
    with pytest.raises(InputError, match=r"y\.jsonl\.gz.*past its end"):
        list(read_chunks(zipped, start=100))


def test_chunks_cut_at_chunk_records_and_problems_stay_with_their_neighbours(
    tmp_path: Path,
) -> None:
    lines = [b'{"n":%d}' % n for n in range(7)]
    lines[4] = b"x" * 50  # too long for the limit below
    input_file = write(tmp_path, "x.jsonl", b"\n".join(lines) + b"\n")
    chunks = list(read_chunks(input_file, chunk_records=3, max_record_bytes=20))
    assert [len(chunk.items) for chunk in chunks] == [3, 3]
    assert chunks[0].problems == []
    [problem] = chunks[1].problems
    assert problem.line == 5
    assert chunks[1].ends[0] < problem.end < chunks[1].ends[1]


# --------------------------------------------------------------------------------------
# JSONL


def test_long_jsonl_line_becomes_a_problem_and_reading_resyncs(tmp_path: Path) -> None:
    long_line = b'{"big":"' + b"x" * 300 + b'"}'
    text = b'{"a":1}\n' + long_line + b'\n{"a":2}\n' + long_line  # last one has no newline
    input_file = write(tmp_path, "x.jsonl", text)
    for buffer_bytes in (7, 64, 1 << 20):
        chunks, records = read_all(input_file, buffer_bytes=buffer_bytes, max_record_bytes=100)
        assert [(item, line) for item, line, _ in records] == [(b'{"a":1}', 1), (b'{"a":2}', 3)]
        first, last = problems_of(chunks)
        assert (first.line, last.line) == (2, 4)
        assert first.end == len(b'{"a":1}\n') + len(long_line) + 1
        assert last.end == len(text)
        assert "longer than 100 bytes" in first.reason
        assert first.raw == long_line[: len(first.raw)] and 0 < len(first.raw) <= len(long_line)
        # resuming right after the problem continues with the next record
        chunks, rest = read_all(
            input_file, start=first.end, start_line=first.line, max_record_bytes=100
        )
        assert rest == [(b'{"a":2}', 3, records[1][2])]
        assert problems_of(chunks) == [last]


def test_long_line_is_not_held_in_memory(tmp_path: Path) -> None:
    # 8 MiB without a newline, 1 KiB limit: the problem keeps only a short prefix.
    text = b'{"a":1}\n' + b"y" * (8 << 20) + b'\n{"a":2}\n'
    chunks, records = read_all(
        write(tmp_path, "x.jsonl", text), buffer_bytes=1 << 16, max_record_bytes=1024
    )
    assert [item for item, _, _ in records] == [b'{"a":1}', b'{"a":2}']
    [problem] = problems_of(chunks)
    assert len(problem.raw) <= readers.PROBLEM_RAW_PREFIX_BYTES


def test_empty_and_blank_jsonl_files_have_no_records(tmp_path: Path) -> None:
    assert read_all(write(tmp_path, "empty.jsonl", b""))[0] == []
    assert read_all(write(tmp_path, "blank.jsonl", b"\n \r\n\t\n"))[0] == []


def test_stdin_is_read_as_jsonl_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    class FakeStdin:
        buffer = io.BytesIO(b'{"a":1}\n\n{"a":2}\n')

    monkeypatch.setattr(sys, "stdin", FakeStdin())
    [input_file] = discover_inputs(["-"])
    assert input_file.path is None and input_file.display_name == "<stdin>"
    assert input_file.format == "jsonl"
    _, records = read_all(input_file)
    assert records == [(b'{"a":1}', 1, 8), (b'{"a":2}', 3, 17)]


# --------------------------------------------------------------------------------------
# CSV


def test_csv_header_only_and_empty_file_have_no_records(tmp_path: Path) -> None:
    assert read_all(write(tmp_path, "h.csv", b"id,name\n"))[0] == []
    assert read_all(write(tmp_path, "h2.csv", b"id,name"))[0] == []
    assert read_all(write(tmp_path, "e.csv", b""))[0] == []


def test_csv_invalid_utf8_row_is_a_problem_and_the_rest_is_read(tmp_path: Path) -> None:
    text = b'id,s\n1,ok\n2,"bad\xff\nrow"\n3,fine\n'
    chunks, records = read_all(write(tmp_path, "x.csv", text))
    assert [(item, line) for item, line, _ in records] == [(["1", "ok"], 2), (["3", "fine"], 5)]
    [problem] = problems_of(chunks)
    assert problem.line == 3 and "UTF-8" in problem.reason
    assert problem.raw == b'2,"bad\xff\nrow"'
    assert problem.end == text.index(b"3,fine")


def test_csv_unterminated_quote_at_eof_is_a_problem(tmp_path: Path) -> None:
    text = b'id,s\n1,ok\n2,"never closed\nmore\n'
    chunks, records = read_all(write(tmp_path, "x.csv", text))
    assert [item for item, _, _ in records] == [["1", "ok"]]
    [problem] = problems_of(chunks)
    assert problem.line == 3 and problem.end == len(text)
    assert problem.raw.startswith(b'2,"never closed')


def test_csv_invalid_utf8_header_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"x\.csv.*header.*UTF-8"):
        list(read_chunks(write(tmp_path, "x.csv", b"id,\xff\n1,2\n")))


def test_csv_resume_inside_header_is_refused(tmp_path: Path) -> None:
    input_file = write(tmp_path, "x.csv", b"id,name\n1,a\n")
    with pytest.raises(InputError, match=r"CSV header.*--restart"):
        list(read_chunks(input_file, start=3))


def test_csv_resume_from_stdin_discards_whole_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    class FakeStdin:
        buffer = io.BytesIO(CSV_TEXT)

    monkeypatch.setattr(sys, "stdin", FakeStdin())
    [input_file] = discover_inputs(["-"], input_format="csv")
    start = CSV_TEXT.index(b"2,")
    chunks, records = read_all(input_file, start=start)
    assert [(item, line) for item, line, _ in records] == CSV_EXPECTED[1:]
    assert chunks[0].header == ["id", "note"]


# --------------------------------------------------------------------------------------
# JSON array


def test_json_not_an_array_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"obj\.json.*expected a JSON array.*--format jsonl"):
        list(read_chunks(write(tmp_path, "obj.json", b'{"a": 1}\n{"a": 2}\n')))


def test_json_empty_array_and_empty_file_have_no_records(tmp_path: Path) -> None:
    assert read_all(write(tmp_path, "a.json", b" [ \n ] \n"))[0] == []
    assert read_all(write(tmp_path, "b.json", b""))[0] == []


def test_truncated_json_array_yields_complete_elements_then_fails(tmp_path: Path) -> None:
    input_file = write(tmp_path, "t.json", b'[{"a":1},\n{"a":2},\n{"a":')
    seen: list[Any] = []
    with pytest.raises(InputError, match=r"t\.json.*ends early at line 3.*truncated"):
        for chunk in read_chunks(input_file):
            seen.extend(chunk.items)
    assert seen == [b'{"a":1}', b'{"a":2}']


def test_json_data_after_the_array_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="after the JSON array at line 2"):
        list(read_chunks(write(tmp_path, "x.json", b"[1]\n[2]\n")))


def test_json_empty_element_is_a_problem_and_trailing_comma_is_tolerated(tmp_path: Path) -> None:
    chunks, records = read_all(write(tmp_path, "x.json", b"[1,\n,2,]"))
    assert [(item, line) for item, line, _ in records] == [(b"1", 1), (b"2", 2)]
    [problem] = problems_of(chunks)
    assert problem.line == 2 and "empty array element" in problem.reason


def test_json_oversized_element_is_a_problem_not_held_whole(tmp_path: Path) -> None:
    big = b'{"s":"' + b'\\"' * 500 + b'", "t": [1, {"u": "]"}]}'
    chunks, records = read_all(
        write(tmp_path, "x.json", b"[" + big + b',\n{"ok":1}]'),
        buffer_bytes=16,
        max_record_bytes=200,
    )
    assert [(item, line) for item, line, _ in records] == [(b'{"ok":1}', 2)]
    [problem] = problems_of(chunks)
    assert problem.line == 1 and problem.end == 1 + len(big)
    assert big.startswith(problem.raw)


def test_json_deep_nesting_and_stray_brace_are_delimited(tmp_path: Path) -> None:
    deep = b'{"a":{"b":{"c":{"d":{"e":[1,{"f":"],"}]}}}}}'
    text = b"[[[[[[1,2]]]]], " + deep + b', {"x":1}}, 3]'
    _, records = read_all(write(tmp_path, "d.json", text))
    # a stray '}' stays inside its element, for the validator to reject
    assert [item for item, _, _ in records] == [b"[[[[[1,2]]]]]", deep, b'{"x":1}}', b"3"]
    assert orjson.loads(deep)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.sampled_from('ab"\\[]{},: \n\té€'), max_size=12),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(alphabet='k"\\]', max_size=4), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    values=st.lists(json_values, max_size=8),
    indent=st.booleans(),
    buffer_bytes=st.integers(min_value=1, max_value=40),
)
def test_json_array_scanner_finds_every_element(
    tmp_path: Path, values: list[Any], indent: bool, buffer_bytes: int
) -> None:
    text = json.dumps(values, indent=2 if indent else None, ensure_ascii=False).encode()
    input_file = write(tmp_path, "p.json", text)
    chunks, records = read_all(input_file, buffer_bytes=buffer_bytes)
    assert problems_of(chunks) == []
    # stdlib json, not orjson: orjson reads integers beyond 64 bits as floats
    assert [json.loads(item) for item, _, _ in records] == values
    for item, line, end in records:
        assert text[end - len(item) : end] == item
        assert line == text[: end - len(item)].count(b"\n") + 1


# --------------------------------------------------------------------------------------
# compression defects


@pytest.mark.parametrize("compression", ["gzip", "zstd", "bz2"])
def test_truncated_compressed_stream_is_an_input_error_after_earlier_records(
    tmp_path: Path, compression: str
) -> None:
    suffix, compress = COMPRESSORS[compression]
    text = b"".join(
        b'{"n":%d,"pad":"%s"}\n' % (n, os.urandom(20).hex().encode()) for n in range(5000)
    )
    data = compress(text)
    input_file = write(tmp_path, f"t.jsonl{suffix}", data[: len(data) * 3 // 4])
    seen = 0
    with pytest.raises(InputError, match=r"t\.jsonl.*compressed stream ends early"):
        for chunk in read_chunks(input_file, buffer_bytes=1 << 14, chunk_records=100):
            seen += len(chunk.items)
            assert all(orjson.loads(item) for item in chunk.items)
    assert 0 < seen < 5000


def test_corrupt_gzip_is_an_input_error(tmp_path: Path) -> None:
    input_file = write(tmp_path, "bad.jsonl.gz", b"this is not gzip at all")
    with pytest.raises(InputError, match=r"bad\.jsonl\.gz cannot be read"):
        list(read_chunks(input_file))


def test_multi_frame_zstd_and_multi_member_gzip_are_read_whole(tmp_path: Path) -> None:
    parts = [b'{"a":1}\n', b'{"a":2}\n']
    zstd = b"".join(zstd_compress(p) for p in parts)
    gz = b"".join(gzip.compress(p) for p in parts)
    for name, data in (("m.jsonl.zst", zstd), ("m.jsonl.gz", gz)):
        _, records = read_all(write(tmp_path, name, data))
        assert [item for item, _, _ in records] == [b'{"a":1}', b'{"a":2}']


# --------------------------------------------------------------------------------------
# parquet


def test_parquet_rows_and_resume_across_row_groups(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    table = pa.table({"id": list(range(10)), "name": [f"n{i}" for i in range(10)]})
    path = tmp_path / "t.parquet"
    pq.write_table(table, path, row_group_size=3)
    [input_file] = discover_inputs([str(path)])
    chunks, records = read_all(input_file, chunk_records=4)
    assert {chunk.kind for chunk in chunks} == {ChunkKind.OBJECTS}
    assert [item for item, _, _ in records] == table.to_pylist()
    assert [(line, end) for _, line, end in records] == [(i, i) for i in range(1, 11)]
    for start in range(11):
        _, rest = read_all(input_file, start=start, chunk_records=4)
        assert rest == records[start:]
    with pytest.raises(InputError, match="past its 10 rows"):
        list(read_chunks(input_file, start=11))


def test_not_a_parquet_file_is_an_input_error(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    input_file = write(tmp_path, "x.parquet", b"nope")
    with pytest.raises(InputError, match=r"x\.parquet cannot be read as parquet"):
        list(read_chunks(input_file))


# --------------------------------------------------------------------------------------
# discovery and fingerprints


def test_directory_gives_supported_files_in_name_order(tmp_path: Path) -> None:
    for name in ["b.csv", "a.jsonl.gz", "c.json", "d.NDJSON", "z.txt", ".hidden.jsonl"]:
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "sub.jsonl").mkdir()
    inputs = discover_inputs([str(tmp_path)])
    assert [Path(f.display_name).name for f in inputs] == [
        "a.jsonl.gz",
        "b.csv",
        "c.json",
        "d.NDJSON",
    ]
    assert [(f.format, f.compression) for f in inputs] == [
        ("jsonl", "gzip"),
        ("csv", None),
        ("json", None),
        ("jsonl", None),
    ]


def test_a_file_reached_twice_is_read_once(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_bytes(b"")
    inputs = discover_inputs([str(tmp_path / "a.jsonl"), str(tmp_path)])
    assert len(inputs) == 1


def test_unknown_extension_missing_path_and_empty_directory_are_input_errors(
    tmp_path: Path,
) -> None:
    (tmp_path / "data.txt").write_bytes(b"{}\n")
    with pytest.raises(InputError, match=r"data\.txt.*unknown extension.*--format"):
        discover_inputs([str(tmp_path / "data.txt")])
    with pytest.raises(InputError, match=r"nope\.jsonl.*does not exist"):
        discover_inputs([str(tmp_path / "nope.jsonl")])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match=r"empty.*no input files"):
        discover_inputs([str(empty)])
    with pytest.raises(InputError, match="--format 'xml'"):
        discover_inputs([str(tmp_path)], input_format="xml")


def test_format_option_overrides_the_extension(tmp_path: Path) -> None:
    (tmp_path / "data.txt.gz").write_bytes(gzip.compress(b"id\n1\n"))
    [input_file] = discover_inputs([str(tmp_path / "data.txt.gz")], input_format="csv")
    assert (input_file.format, input_file.compression) == ("csv", "gzip")
    _, records = read_all(input_file)
    assert [item for item, _, _ in records] == [["1"]]


def test_parquet_without_pyarrow_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "t.parquet").write_bytes(b"")
    monkeypatch.setattr(readers.discovery, "parquet_available", lambda: False)
    with pytest.raises(InputError, match=r"t\.parquet.*install bulkload\[parquet\]"):
        discover_inputs([str(tmp_path / "t.parquet")])
    with pytest.raises(InputError, match="standard input"):
        discover_inputs(["-"], input_format="parquet")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_unreadable_file_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "secret.jsonl"
    path.write_bytes(b"{}\n")
    path.chmod(0)
    with pytest.raises(InputError, match=r"secret\.jsonl.*cannot be read"):
        discover_inputs([str(path)])


def test_fingerprint_is_json_and_changes_with_the_content(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    head = b'{"a":1}\n' * 300_000  # over 2 MiB: head and tail are hashed separately
    path.write_bytes(head)
    [input_file] = discover_inputs([str(path)])
    first = fingerprint(input_file)
    assert json.loads(json.dumps(first)) == first
    assert first["size"] == len(head) and first["mtime_ns"] == path.stat().st_mtime_ns
    assert fingerprint(input_file) == first
    with path.open("r+b") as handle:  # same size, last byte changed
        handle.seek(len(head) - 2)
        handle.write(b"2")
    os.utime(path, ns=(first["mtime_ns"], first["mtime_ns"]))
    assert fingerprint(input_file)["blake2b"] != first["blake2b"]
