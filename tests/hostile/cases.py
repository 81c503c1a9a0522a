"""The hostile inputs, as generators: each writes its file into a directory at test time."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import orjson

SCHEMA_JSON = {
    "tableName": "hostile",
    "columns": [
        {"name": "id", "type": "integer"},
        {"name": "note", "type": "string"},
        {"name": "n", "type": "numeric"},
        {"name": "meta", "type": "JSON"},
    ],
}
BIG = 50_000_000


class Outcome(Enum):
    LOADS = "loads"  # everything valid lands, nothing rejected
    REJECTED = "rejected"  # the hostile record(s) go to the rejects file with a reason
    FILE_ERROR = "file_error"  # the whole file is refused with a one-line error


@dataclass(frozen=True)
class HostileCase:
    name: str
    filename: str
    write: Callable[[Path], None]
    outcome: Outcome
    reason: str  # substring of the rejection reason or of the file error; "" for LOADS
    ingested: int  # records that must land
    rejected: int = 0

    def __str__(self) -> str:
        return self.name


def _bytes(data: bytes) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        path.write_bytes(data)

    return write


def _around(middle: bytes) -> bytes:
    """A hostile line between two good ones (ids 1 and 2)."""
    return b'{"id":1}\n' + middle + b'\n{"id":2}\n'


def _huge_line(prefix: bytes, filler: bytes, suffix: bytes) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        with path.open("wb") as out:
            out.write(prefix)
            piece = filler * (1 << 20)
            for _ in range(BIG // len(piece)):
                out.write(piece)
            out.write(suffix)

    return write


def _truncated_gzip(path: Path) -> None:
    lines = b"".join(orjson.dumps({"id": i, "note": f"n{i}" * 8}) + b"\n" for i in range(20_000))
    path.write_bytes(gzip.compress(lines)[:-200])


CASES: list[HostileCase] = [
    HostileCase(
        "invalid_utf8", "a.jsonl", _bytes(_around(b'{"id":3,"note":"a\xff\xfeb"}')),
        Outcome.REJECTED, "not valid UTF-8", ingested=2, rejected=1,
    ),
    HostileCase(
        "invalid_utf8_csv", "a.csv", _bytes(b"id,note\n1,a\n3,b\xffc\n2,d\n"),
        Outcome.REJECTED, "not valid UTF-8", ingested=2, rejected=1,
    ),
    HostileCase(
        "nul_byte_raw", "a.jsonl", _bytes(_around(b'{"id":3,"note":"a\x00b"}')),
        Outcome.REJECTED, "not valid JSON", ingested=2, rejected=1,
    ),
    HostileCase(
        "nul_byte_escaped", "a.jsonl", _bytes(_around(b'{"id":3,"note":"a\\u0000b"}')),
        Outcome.LOADS, "", ingested=3,
    ),
    HostileCase(
        "nul_byte_csv", "a.csv", _bytes(b"id,note\n1,a\n3,a\x00b\n2,d\n"),
        Outcome.LOADS, "", ingested=3,
    ),
    HostileCase(
        "line_50mb_json", "a.jsonl", _huge_line(b'{"id":1}\n{"id":3,"note":"', b"x", b'"}\n{"id":2}\n'),
        Outcome.REJECTED, "one request holds at most 1,000,000 bytes", ingested=2, rejected=1,
    ),
    HostileCase(
        "line_50mb_garbage", "a.jsonl", _huge_line(b'{"id":1}\n', b"y", b'\n{"id":2}\n'),
        Outcome.REJECTED, "not valid JSON", ingested=2, rejected=1,
    ),
    HostileCase(
        "field_50mb_csv", "a.csv", _huge_line(b'id,note\n1,a\n3,"', b"z", b'"\n2,c\n'),
        Outcome.REJECTED, "field larger than field limit", ingested=2, rejected=1,
    ),
    HostileCase(
        "deep_nesting", "a.jsonl",
        _bytes(_around(b'{"id":3,"meta":' + b"[" * 100_000 + b"]" * 100_000 + b"}")),
        Outcome.REJECTED, "nested more than 500 levels deep", ingested=2, rejected=1,
    ),
    HostileCase(
        "int_overflow", "a.jsonl",
        _bytes(_around(b'{"id":9223372036854775808}\n{"id":-9223372036854775809}')),
        Outcome.REJECTED, "signed 64-bit range", ingested=2, rejected=2,
    ),
    HostileCase(
        "number_overflow", "a.jsonl", _bytes(_around(b'{"id":3,"n":1e400}')),
        Outcome.REJECTED, "1e400 has 401 digits", ingested=2, rejected=1,
    ),
    HostileCase(
        "huge_int_in_json", "a.jsonl",
        _bytes(_around(b'{"id":3,"meta":123456789012345678901234567890}')),
        Outcome.LOADS, "", ingested=3,
    ),
    HostileCase(
        "nan_infinity", "a.jsonl",
        _bytes(_around(b'{"id":3,"n":NaN}\n{"id":4,"n":Infinity}\n{"id":5,"meta":-Infinity}')),
        Outcome.REJECTED, "not valid JSON", ingested=2, rejected=3,
    ),
    HostileCase(
        "nan_as_numeric_text", "a.jsonl", _bytes(_around(b'{"id":3,"n":"NaN"}')),
        Outcome.REJECTED, "plain decimal", ingested=2, rejected=1,
    ),
    HostileCase(
        "duplicate_keys", "a.jsonl", _bytes(_around(b'{"id":3,"id":4}')),
        Outcome.REJECTED, "duplicate key", ingested=2, rejected=1,
    ),
    HostileCase(
        "bom_jsonl", "a.jsonl", _bytes(b'\xef\xbb\xbf{"id":1}\n{"id":2}\n'), Outcome.LOADS, "", 2
    ),
    HostileCase(
        "bom_csv", "a.csv", _bytes(b"\xef\xbb\xbfid,note\n1,a\n2,b\n"), Outcome.LOADS, "", 2
    ),
    HostileCase(
        "crlf_jsonl", "a.jsonl", _bytes(b'{"id":1,"note":"a"}\r\n{"id":2,"note":"b"}\r\n'),
        Outcome.LOADS, "", ingested=2,
    ),
    HostileCase(
        "crlf_csv", "a.csv", _bytes(b"id,note\r\n1,a\r\n2,b\r\n"), Outcome.LOADS, "", ingested=2
    ),
    HostileCase("empty_jsonl", "a.jsonl", _bytes(b""), Outcome.LOADS, "", ingested=0),
    HostileCase("empty_csv", "a.csv", _bytes(b""), Outcome.LOADS, "", ingested=0),
    HostileCase("empty_json", "a.json", _bytes(b""), Outcome.LOADS, "", ingested=0),
    HostileCase("header_only_csv", "a.csv", _bytes(b"id,note\n"), Outcome.LOADS, "", ingested=0),
    HostileCase(
        "unbalanced_quote_csv", "a.csv", _bytes(b'id,note\n1,a\n3,"abc\n2,def\n'),
        Outcome.REJECTED, "malformed CSV row", ingested=1, rejected=1,
    ),
    HostileCase(
        "duplicate_header_csv", "a.csv", _bytes(b"id,id\n1,2\n"),
        Outcome.FILE_ERROR, "names column 'id' twice", ingested=0,
    ),
    HostileCase(
        "truncated_gzip", "a.jsonl.gz", _truncated_gzip,
        Outcome.FILE_ERROR, "compressed stream ends early", ingested=0,
    ),
    HostileCase(
        "not_an_array_json", "a.json", _bytes(b'{"id": 1}'),
        Outcome.FILE_ERROR, "expected a JSON array", ingested=0,
    ),
    HostileCase(
        "unclosed_array_json", "a.json", _bytes(b'[{"id": 1}, {"id": 2}'),
        Outcome.FILE_ERROR, "ends early", ingested=0,
    ),
]  # fmt: skip
