"""Replay through the real CLI: a rejects file is an input (recognised by its content, or
--format rejects) whose records load again, with its own checkpoint and rejects file; CSV
rejects carry the typed record besides the raw row."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from loadkit import events_emulator, landed_ids, load_args, run_cli

from bulkload.client.http import PeakClient
from bulkload.config import ApiConfig, CsvDialect, Secret
from bulkload.contract.schema import TableSchema
from bulkload.pipeline.readers import discover_inputs, read_chunks

KEY = "replay-test-key"
ORDERS = TableSchema.from_json(
    {
        "tableName": "orders",
        "columns": [
            {"name": "order_id", "type": "integer"},
            {"name": "amount", "type": "numeric", "precision": 6, "scale": 2},
            {"name": "paid", "type": "boolean"},
        ],
    }
)


@pytest.fixture
async def emulator(tmp_path: Path) -> AsyncIterator[Any]:
    async with events_emulator(tmp_path, KEY) as emu:
        async with PeakClient(ApiConfig(base_url=emu.url, api_key=Secret(KEY))) as client:
            await client.create_table(ORDERS)
        yield emu


def run_args(emu: Any, table: str, data: Path, name: str, *options: str) -> list[str]:
    args = load_args(emu, KEY, data, "--checkpoint", str(data.parent / f"{name}.cp"), *options)
    args[args.index("events")] = table
    return [*args, "--rejects", str(data.parent / f"{name}.rejects.jsonl")]


def entries(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


async def test_csv_reject_carries_the_typed_record_and_the_row(
    emulator: Any, tmp_path: Path
) -> None:
    data = tmp_path / "orders.csv"
    data.write_text("order_id,amount,paid\n300,12345.678,true\n301,1.50,false\n")
    code, _out, err = await run_cli(run_args(emulator, "orders", data, "first"))
    assert code == 3, err
    [reject] = entries(tmp_path / "first.rejects.jsonl")
    assert reject["record"] == {"order_id": 300, "amount": "12345.678", "paid": True}
    assert reject["row"] == {"order_id": "300", "amount": "12345.678", "paid": "true"}
    assert (reject["source"], reject["line"]) == (str(data), 2)


async def test_a_fixed_rejects_file_replays_with_its_own_checkpoint_and_rejects(
    emulator: Any, tmp_path: Path
) -> None:
    data = tmp_path / "orders.csv"
    data.write_text("order_id,amount,paid\n300,12345.678,true\n301,1.50,false\n302,x,true\n")
    code, _out, err = await run_cli(run_args(emulator, "orders", data, "first"))
    assert code == 3, err
    first_rejects = tmp_path / "first.rejects.jsonl"
    # The user fixes one record in the rejects file; the other stays wrong.
    fixed = first_rejects.read_text().replace('"amount":"12345.678"', '"amount":"1234.56"')
    first_rejects.write_text(fixed)
    before = first_rejects.read_bytes()
    # recognised by its content: no --format
    replay = run_args(emulator, "orders", first_rejects, "replay")
    code, out, err = await run_cli(replay)
    assert code == 3, err
    assert "1 ingested, 1 rejected" in out
    ids = sorted(int(row["order_id"]) for row in emulator.rows("orders"))
    assert ids == [300, 301]
    assert first_rejects.read_bytes() == before  # the replay wrote its own rejects file
    [again] = entries(tmp_path / "replay.rejects.jsonl")
    [line_of_302] = [
        number
        for number, entry in enumerate(entries(first_rejects), start=1)
        if entry["record"]["order_id"] == 302
    ]
    assert again["source"] == str(first_rejects) and again["line"] == line_of_302
    assert again["record"]["order_id"] == 302
    # its own checkpoint: a rerun of the replay sends nothing again
    code, out, err = await run_cli(replay)
    assert code in (0, 3) and "0 ingested" in out, err
    assert len(emulator.rows("orders")) == 2


async def test_json_rejects_replay_with_format_rejects(emulator: Any, tmp_path: Path) -> None:
    data = tmp_path / "events.jsonl"
    data.write_bytes(b'{"id": 1, "note": "ok"}\n{"id": 2, "note": 7}\n')
    code, _out, err = await run_cli(run_args(emulator, "events", data, "first"))
    assert code == 3, err
    renamed = tmp_path / "to-fix.txt"  # no .jsonl: only --format says what it is
    renamed.write_text((tmp_path / "first.rejects.jsonl").read_text().replace("7}", '"seven"}'))
    code, _out, err = await run_cli(
        run_args(emulator, "events", renamed, "replay", "--format", "rejects")
    )
    assert code == 0, err
    assert landed_ids(emulator) == Counter({1: 1, 2: 1})


async def test_undecodable_rows_replay_with_encoding_and_nothing_twice(
    emulator: Any, tmp_path: Path
) -> None:
    data = tmp_path / "latin1.csv"
    data.write_bytes("id,note\n1,plain\n2,José\n3,Zoë, the \\ one\n".replace(", the", " the")
                     .encode("latin-1"))  # fmt: skip
    code, _out, err = await run_cli(run_args(emulator, "events", data, "first"))
    assert code == 3, err
    assert landed_ids(emulator) == Counter({1: 1})
    code, _out, err = await run_cli(
        run_args(emulator, "events", tmp_path / "first.rejects.jsonl", "replay", "--encoding",
                 "latin-1")
    )  # fmt: skip
    assert code == 0, err
    assert landed_ids(emulator) == Counter({1: 1, 2: 1, 3: 1})
    notes = {int(row["id"]): row["note"] for row in emulator.rows("events")}
    assert notes[2] == "José" and notes[3] == "Zoë the \\ one"


def test_a_jsonl_file_that_is_not_rejects_stays_jsonl(tmp_path: Path) -> None:
    data = tmp_path / "d.jsonl"
    data.write_bytes(b'{"source": "web", "line": 3, "reason": "promo"}\n')  # no "record"
    [input_file] = discover_inputs([str(data)])
    assert input_file.format == "jsonl"
    [as_told] = discover_inputs([str(tmp_path / "d.jsonl")], "jsonl")
    assert as_told.format == "jsonl"


def test_only_bytes_that_were_not_utf8_are_decoded_with_encoding(tmp_path: Path) -> None:
    rejects = tmp_path / "r.jsonl"
    rejects.write_bytes(
        orjson.dumps({"source": "a.jsonl", "line": 1, "reason": "not JSON",
                      "record": "café, not JSON", "raw": True}) + b"\n"
        + orjson.dumps({"source": "a.jsonl", "line": 2, "reason": "not UTF-8",
                        "record": '{"note": "Jos\\xe9"}', "raw": True, "escaped": True}) + b"\n"
    )  # fmt: skip
    [input_file] = discover_inputs([str(rejects)])
    assert input_file.format == "rejects"
    items = [
        item
        for chunk in read_chunks(input_file, csv_dialect=CsvDialect(encoding="latin-1"))
        for item in chunk.items
    ]
    assert items == ["café, not JSON".encode(), '{"note": "José"}'.encode()]
