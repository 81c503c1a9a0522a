"""CSV dialects through the real CLI against the emulator: --delimiter (and tab), --quote,
--encoding, --no-header --columns, --null-marker, and the errors that point at them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from loadkit import events_emulator, load_args, run_cli

from bulkload.config import CsvDialect
from bulkload.errors import ConfigError
from bulkload.pipeline.readers import discover_inputs, read_chunks

KEY = "csv-dialect-test-key"


@pytest.fixture
async def emulator(tmp_path: Path) -> AsyncIterator[Any]:
    async with events_emulator(tmp_path, KEY) as emu:
        yield emu


def state(tmp_path: Path) -> tuple[str, ...]:
    return ("--checkpoint", str(tmp_path / "cp.jsonl"), "--rejects", str(tmp_path / "rej.jsonl"))


def notes(emu: Any) -> dict[int, Any]:
    return {int(row["id"]): row["note"] for row in emu.rows("events")}


def rejects(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "rej.jsonl"
    return [orjson.loads(line) for line in path.read_bytes().splitlines()] if path.exists() else []


async def test_semicolon_and_tab_delimiters(emulator: Any, tmp_path: Path) -> None:
    semicolons = tmp_path / "semi.csv"
    semicolons.write_text('id;note\n1;"a;b"\n2;plain\n')
    code, _out, err = await run_cli(
        load_args(emulator, KEY, semicolons, *state(tmp_path), "--delimiter", ";")
    )
    assert code == 0, err
    tabs = tmp_path / "tabs.csv"
    tabs.write_text("id\tnote\n3\twith, comma\n")
    code, _out, err = await run_cli(
        load_args(
            emulator, KEY, tabs, "--delimiter", "tab", "--checkpoint", str(tmp_path / "cp2.jsonl")
        )
    )
    assert code == 0, err
    assert notes(emulator) == {1: "a;b", 2: "plain", 3: "with, comma"}


async def test_a_one_field_header_with_a_semicolon_suggests_the_delimiter(
    emulator: Any, tmp_path: Path
) -> None:
    data = tmp_path / "semi.csv"
    data.write_text("id;note\n1;x\n")
    code, _out, err = await run_cli(load_args(emulator, KEY, data, *state(tmp_path)))
    assert code == 2
    [line] = [line for line in err.splitlines() if line.startswith("bulkload: error")]
    assert "one field 'id;note'" in line and "--delimiter ';'" in line
    assert emulator.rows("events") == []
    assert "Traceback" not in err
    # following the advice, with the same checkpoint, just works
    code, _out, err = await run_cli(
        load_args(emulator, KEY, data, *state(tmp_path), "--delimiter", ";")
    )
    assert code == 0, err
    assert notes(emulator) == {1: "x"}


async def test_quote_character(emulator: Any, tmp_path: Path) -> None:
    data = tmp_path / "single.csv"
    data.write_text("id,note\n1,'it, is ''quoted'''\n")
    code, _out, err = await run_cli(
        load_args(emulator, KEY, data, *state(tmp_path), "--quote", "'")
    )
    assert code == 0, err
    assert notes(emulator) == {1: "it, is 'quoted'"}


async def test_latin1_and_utf16_with_encoding(emulator: Any, tmp_path: Path) -> None:
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("id,note\n1,José\n2,Müller\n".encode("latin-1"))
    code, _out, err = await run_cli(
        load_args(emulator, KEY, latin1, *state(tmp_path), "--encoding", "latin-1")
    )
    assert code == 0, err
    utf16 = tmp_path / "utf16.csv"
    utf16.write_bytes("id,note\r\n3,naïve ☃\r\n".encode("utf-16"))  # with its BOM
    code, _out, err = await run_cli(
        load_args(
            emulator, KEY, utf16, "--encoding", "utf-16", "--checkpoint", str(tmp_path / "c2")
        )
    )
    assert code == 0, err
    assert notes(emulator) == {1: "José", 2: "Müller", 3: "naïve ☃"}


async def test_latin1_without_encoding_keeps_the_bytes_and_says_encoding(
    emulator: Any, tmp_path: Path
) -> None:
    data = tmp_path / "latin1.csv"
    data.write_bytes("id,note\n1,ok\n2,José\n".encode("latin-1"))
    code, _out, err = await run_cli(load_args(emulator, KEY, data, *state(tmp_path)))
    assert code == 3, err
    assert notes(emulator) == {1: "ok"}
    [reject] = rejects(tmp_path)
    assert reject["record"] == "2,Jos\\xe9"  # the original byte, escaped
    assert reject["escaped"] is True and reject["csv_header"] == ["id", "note"]
    assert "not valid UTF-8" in reject["reason"] and "--encoding" in reject["reason"]
    assert "0xe9" in reject["reason"]


async def test_no_header_with_columns(emulator: Any, tmp_path: Path) -> None:
    data = tmp_path / "bare.csv"
    data.write_text("1,first\n2,second\n")
    code, _out, err = await run_cli(
        load_args(emulator, KEY, data, *state(tmp_path), "--no-header", "--columns", "id,note")
    )
    assert code == 0, err
    assert notes(emulator) == {1: "first", 2: "second"}


async def test_no_header_resumes_after_the_checkpoint(emulator: Any, tmp_path: Path) -> None:
    data = tmp_path / "bare.csv"
    data.write_text("".join(f"{i},n{i}\n" for i in range(50)))
    args = load_args(
        emulator, KEY, data, *state(tmp_path), "--no-header", "--columns", "id,note", batch=10
    )
    code, _out, err = await run_cli(args)
    assert code == 0, err
    code, out, err = await run_cli(args)  # a finished load: everything skipped
    assert code == 0, err
    assert "50 skipped" in out
    assert sorted(notes(emulator)) == list(range(50))


async def test_null_markers(emulator: Any, tmp_path: Path) -> None:
    data = tmp_path / "nulls.csv"
    data.write_text("id,note\n1,NULL\n2,\\N\n3,\n4,null-ish\n")
    code, _out, err = await run_cli(
        load_args(
            emulator, KEY, data, *state(tmp_path), "--null-marker", "NULL", "--null-marker", "\\N"
        )
    )
    assert code == 0, err
    assert notes(emulator) == {1: None, 2: None, 3: None, 4: "null-ish"}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (("--columns", "id,note"), "--columns names the fields of a file without a header"),
        (("--no-header",), "--no-header needs --columns"),
        (("--delimiter", "ab"), "--delimiter must be one character"),
        (("--encoding", "klingon"), "--encoding 'klingon' is not a known encoding"),
        (("--delimiter", "'", "--quote", "'"), "both"),
    ],
)
async def test_dialect_mistakes_are_one_line_errors(
    emulator: Any, tmp_path: Path, options: tuple[str, ...], message: str
) -> None:
    data = tmp_path / "d.csv"
    data.write_text("id,note\n1,x\n")
    code, _out, err = await run_cli(load_args(emulator, KEY, data, *state(tmp_path), *options))
    assert code == 2
    [line] = err.strip().splitlines()
    assert message in line
    assert emulator.rows("events") == []


def test_transcoded_csv_resumes_at_the_same_rows(tmp_path: Path) -> None:
    """Positions of a transcoded file count transcoded bytes: a resume from any row's end
    gives exactly the rows after it."""
    data = tmp_path / "t.csv"
    data.write_bytes(("id,note\n" + "".join(f"{i},é{i}\n" for i in range(30))).encode("cp1252"))
    dialect = CsvDialect(encoding="cp1252")
    [input_file] = discover_inputs([str(data)])
    chunks = list(read_chunks(input_file, chunk_records=7, csv_dialect=dialect))
    rows = [row for chunk in chunks for row in chunk.items]
    ends = [end for chunk in chunks for end in chunk.ends]
    assert rows[0] == ["0", "é0"] and len(rows) == 30
    for index in (0, 13, 28):
        resumed = list(read_chunks(input_file, start=ends[index], csv_dialect=dialect))
        assert [row for chunk in resumed for row in chunk.items] == rows[index + 1 :]


def test_tab_is_a_delimiter_name_in_the_library_too() -> None:
    assert CsvDialect(delimiter="tab").delimiter == "\t"
    with pytest.raises(ConfigError, match="--delimiter"):
        CsvDialect(delimiter="\n")


async def test_a_header_in_another_encoding_says_encoding_and_the_rerun_works(
    emulator: Any, tmp_path: Path
) -> None:
    data = tmp_path / "cp1252.csv"
    data.write_bytes("id,note\n1,5 €\n".replace("note", "nöte").encode("cp1252"))
    code, _out, err = await run_cli(load_args(emulator, KEY, data, *state(tmp_path)))
    assert code == 2
    [line] = [line for line in err.splitlines() if line.startswith("bulkload: error")]
    assert "header is not valid UTF-8 (byte 0xf6" in line and "--encoding" in line
    code, _out, err = await run_cli(
        load_args(emulator, KEY, data, *state(tmp_path), "--encoding", "cp1252")
    )
    # the header decodes now; its field is no column of the table, said in one line
    assert code == 2 and "nöte" in err and "--encoding" not in err
