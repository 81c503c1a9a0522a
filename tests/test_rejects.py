from __future__ import annotations

import datetime as dt
import decimal
import json
import os
from pathlib import Path
from typing import Any

import pytest

from bulkload.errors import ConfigError
from bulkload.pipeline.rejects import MAX_RAW_RECORD_CHARS, RejectsFile, unescape_bytes


def read_entries(path: Path) -> list[dict[str, Any]]:
    data = path.read_text(encoding="utf-8")
    assert data == "" or data.endswith("\n")
    return [json.loads(line) for line in data.splitlines()]


def test_valid_json_record_is_embedded_as_json_byte_for_byte(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    record = b'{"id": 1, "name": "caf\xc3\xa9", "big": 123456789012345678901234567890}'
    with RejectsFile.open(path) as rejects:
        assert rejects.add(
            source="data.jsonl", line=3, reason="column 'id': expected string", record=record
        )
    [entry] = read_entries(path)
    assert entry == {
        "source": "data.jsonl",
        "line": 3,
        "reason": "column 'id': expected string",
        "problems": ["column 'id': expected string"],
        "record": {"id": 1, "name": "café", "big": 123456789012345678901234567890},
    }
    assert record in path.read_bytes()  # not re-serialized: big integers keep every digit


def test_pretty_printed_json_record_stays_on_one_line(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    with RejectsFile.open(path) as rejects:
        rejects.add(source="a.json", line=2, reason="bad", record=b'{\n  "id": 1\n}')
    assert read_entries(path) == [
        {"source": "a.json", "line": 2, "reason": "bad", "problems": ["bad"], "record": {"id": 1}}
    ]


def test_invalid_json_is_stored_as_raw_text(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    with RejectsFile.open(path) as rejects:
        rejects.add(source="d.jsonl", line=1, reason="not JSON", record=b'{"id": 1,')
    [entry] = read_entries(path)
    assert entry["record"] == '{"id": 1,'
    assert entry["raw"] is True


def test_invalid_utf8_keeps_every_byte_escaped(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    original = b'{"name": "\xff\xfe", "path": "C:\\x41"}'
    with RejectsFile.open(path) as rejects:
        rejects.add(source="d.jsonl", line=9, reason="not UTF-8", record=original)
    [entry] = read_entries(path)
    assert entry["record"] == '{"name": "\\xff\\xfe", "path": "C:\\\\x41"}'
    assert entry["raw"] is True and entry["escaped"] is True
    assert unescape_bytes(entry["record"]) == original


def test_very_long_raw_text_is_capped_with_a_note(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    with RejectsFile.open(path) as rejects:
        rejects.add(source="d.jsonl", line=1, reason="too long", record=b"x" * 50_000)
    [entry] = read_entries(path)
    assert len(entry["record"]) == MAX_RAW_RECORD_CHARS
    assert "50,000" in entry["note"]


def test_parsed_value_is_serialized_with_odd_types_as_text(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    value = {
        "when": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        "price": decimal.Decimal("1.10"),
        "n": None,
        7: "non-string key",
    }
    with RejectsFile.open(path) as rejects:
        rejects.add(source="d.csv", line=4, reason="bad price", value=value)
        rejects.add(source="d.csv", line=5, reason="huge", value={"n": 1 << 70})
        rejects.add(source="d.csv", line=6, reason="nothing to show")
    first, second, third = read_entries(path)
    assert first["record"] == {
        "when": "2024-01-02T03:04:05+00:00",
        "price": "1.10",
        "n": None,
        "7": "non-string key",
    }
    assert second["raw"] is True and str(1 << 70) in second["record"]
    assert third["record"] is None


def test_duplicates_are_skipped_within_a_run_and_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    with RejectsFile.open(path) as rejects:
        assert rejects.add(source="a.jsonl", line=1, reason="x", record=b"{}")
        assert not rejects.add(source="a.jsonl", line=1, reason="x again", record=b"{}")
        assert rejects.add(source="b.jsonl", line=1, reason="x", record=b"{}")
        assert rejects.count == 2
    with RejectsFile.open(path) as rejects:
        assert rejects.count == 0
        assert ("a.jsonl", 1) in rejects
        assert not rejects.add(source="a.jsonl", line=1, reason="x", record=b"{}")
        assert rejects.add(source="a.jsonl", line=2, reason="y", record=b"{}")
        assert rejects.count == 1
    assert [(e["source"], e["line"]) for e in read_entries(path)] == [
        ("a.jsonl", 1),
        ("b.jsonl", 1),
        ("a.jsonl", 2),
    ]


def test_torn_last_line_is_dropped_and_truncated(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    with RejectsFile.open(path) as rejects:
        rejects.add(source="a.jsonl", line=1, reason="x", record=b'{"a":1}')
        rejects.add(source="a.jsonl", line=2, reason="x", record=b'{"a":2}')
    path.write_bytes(path.read_bytes()[:-10])
    with RejectsFile.open(path) as rejects:
        assert len(rejects.warnings) == 1 and str(path) in rejects.warnings[0]
        assert rejects.add(source="a.jsonl", line=2, reason="x", record=b'{"a":2}')
    assert [e["line"] for e in read_entries(path)] == [1, 2]


def test_foreign_lines_are_kept_and_reported(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text('a note someone added\n{"source":"a.jsonl","line":4,"reason":"x"}\n')
    with RejectsFile.open(path) as rejects:
        assert not rejects.add(source="a.jsonl", line=4, reason="x")
        assert "1 line(s)" in rejects.warnings[0]
    assert path.read_text().startswith("a note someone added\n")


def test_restart_truncates(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    with RejectsFile.open(path) as rejects:
        rejects.add(source="a.jsonl", line=1, reason="x", record=b"{}")
    with RejectsFile.open(path, restart=True) as rejects:
        assert rejects.add(source="a.jsonl", line=1, reason="x", record=b"{}")
    assert len(read_entries(path)) == 1


def test_flush_makes_lines_visible_before_close(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "r.jsonl"
    rejects = RejectsFile.open(path)
    assert rejects.path == path and path.exists()
    rejects.add(source="a.jsonl", line=1, reason="x", record=b"{}")
    rejects.flush(durable=True)
    assert len(read_entries(path)) == 1
    rejects.close()


def test_durable_flush_fsyncs_only_what_was_written_since_the_last_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[int] = []
    real_fsync = os.fsync

    def counting_fsync(fd: int) -> None:
        synced.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", counting_fsync)
    with RejectsFile.open(tmp_path / "r.jsonl") as rejects:
        synced.clear()  # opening probes the disk with an fsync of its own
        rejects.flush(durable=True)  # the first one always: open may have truncated a torn line
        rejects.flush(durable=True)  # nothing new: no fsync
        assert len(synced) == 1
        rejects.add(source="a.jsonl", line=1, reason="x", record=b"{}")
        rejects.flush()  # not durable: no fsync, and the line stays owed one
        assert len(synced) == 1
        rejects.flush(durable=True)
        rejects.flush(durable=True)
        assert len(synced) == 2
        rejects.add_unattributed(source="a.jsonl", lines=(1, 2), reason="y")
        rejects.flush(durable=True)
        assert len(synced) == 3


def test_unwritable_path_fails_at_open_with_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "afile"
    blocker.write_text("a regular file where a directory should be")
    path = blocker / "x.rejects.jsonl"
    with pytest.raises(ConfigError) as info:
        RejectsFile.open(path)
    message = str(info.value)
    assert str(path) in message and "--rejects" in message and "\n" not in message
