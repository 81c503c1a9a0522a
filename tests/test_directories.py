"""Directories through the real CLI: --recursive, one warning naming what was skipped, and
the summary's count of files read."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from loadkit import events_emulator, landed_ids, load_args, run_cli

from bulkload.pipeline.readers import discover

KEY = "directories-test-key"


@pytest.fixture
async def emulator(tmp_path: Path) -> AsyncIterator[Any]:
    async with events_emulator(tmp_path, KEY) as emu:
        yield emu


def export_tree(root: Path) -> Path:
    """data/a.jsonl, data/notes.txt, data/dangling.csv -> nowhere, data/sub/b.csv,
    data/sub/deeper/c.jsonl, data/.hidden.jsonl"""
    data = root / "data"
    (data / "sub" / "deeper").mkdir(parents=True)
    (data / "a.jsonl").write_bytes(orjson.dumps({"id": 1, "note": "a"}) + b"\n")
    (data / "notes.txt").write_text("not data\n")
    (data / ".hidden.jsonl").write_bytes(orjson.dumps({"id": 99, "note": "hidden"}) + b"\n")
    os.symlink(data / "missing.csv", data / "dangling.csv")
    (data / "sub" / "b.csv").write_text("id,note\n2,b\n")
    (data / "sub" / "deeper" / "c.jsonl").write_bytes(orjson.dumps({"id": 3}) + b"\n")
    return data


def state(tmp_path: Path, name: str) -> tuple[str, ...]:
    return ("--checkpoint", str(tmp_path / f"{name}.cp"), "--rejects", str(tmp_path / "r.jsonl"))


async def test_without_recursive_one_warning_names_every_skipped_entry(
    emulator: Any, tmp_path: Path
) -> None:
    data = export_tree(tmp_path)
    code, out, err = await run_cli(load_args(emulator, KEY, data, *state(tmp_path, "flat")))
    assert code == 0, err
    [warning] = [line for line in err.splitlines() if "skipped" in line]
    assert "skipped 3 entries" in warning
    assert f"{data / 'sub'}/ (a directory: pass --recursive)" in warning
    assert f"{data / 'notes.txt'} (unknown extension)" in warning
    assert f"{data / 'dangling.csv'} (an unreadable link)" in warning
    assert ".hidden" not in warning
    assert landed_ids(emulator) == Counter({1: 1})
    assert "records read from 1 file," in out


async def test_recursive_reads_subdirectories_and_counts_the_files(
    emulator: Any, tmp_path: Path
) -> None:
    data = export_tree(tmp_path)
    code, out, err = await run_cli(
        load_args(emulator, KEY, data, *state(tmp_path, "deep"), "--recursive")
    )
    assert code == 0, err
    assert landed_ids(emulator) == Counter({1: 1, 2: 1, 3: 1})
    assert "3 records read from 3 files" in out
    [warning] = [line for line in err.splitlines() if "skipped" in line]
    assert "skipped 2 entries" in warning and "sub/" not in warning


def test_recursive_order_is_name_order_at_every_level(tmp_path: Path) -> None:
    data = export_tree(tmp_path)
    (data / "z.jsonl").write_bytes(b"{}\n")
    names = [f.display_name for f in discover([str(data)], recursive=True).inputs]
    assert names == [
        str(data / "a.jsonl"),
        str(data / "sub" / "b.csv"),
        str(data / "sub" / "deeper" / "c.jsonl"),
        str(data / "z.jsonl"),
    ]


def test_a_link_back_up_the_tree_is_not_followed_forever(tmp_path: Path) -> None:
    data = export_tree(tmp_path)
    os.symlink(data, data / "sub" / "loop")
    found = discover([str(data)], recursive=True)
    assert len(found.inputs) == 3
    assert any(entry.why == "a link back to a directory read" for entry in found.skipped)


async def test_a_directory_of_only_subdirectories_says_recursive(
    emulator: Any, tmp_path: Path
) -> None:
    (tmp_path / "top" / "inner").mkdir(parents=True)
    (tmp_path / "top" / "inner" / "x.jsonl").write_bytes(b'{"id": 1}\n')
    code, _out, err = await run_cli(
        load_args(emulator, KEY, tmp_path / "top", *state(tmp_path, "top"))
    )
    assert code == 2
    assert "has no input files" in err and "--recursive" in err
