"""Issue 10, the field side: real exports load through the real CLI without hand edits.

Names match columns exactly, else case-insensitively; ``--map``/``--map-file`` rename or
drop fields in every format; nothing ever loads as rows of NULLs; ``--coerce`` converts
strings and ISO 8601 dates; every problem of a record is listed, reasons are grouped.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest
from loadkit import run_cli

from bulkload.client.http import PeakClient
from bulkload.config import ApiConfig, Secret
from bulkload.contract.schema import TableSchema
from bulkload.emulator import EmulatorConfig, run_emulator

KEY = "matching-test-key"
ORDERS = TableSchema.from_json(
    {
        "tableName": "orders",
        "columns": [
            {"name": "order_id", "type": "integer"},
            {"name": "customer", "type": "string"},
            {"name": "amount", "type": "numeric", "precision": 12, "scale": 2},
            {"name": "paid", "type": "boolean"},
            {"name": "placed_at", "type": "timestamp"},
        ],
    }
)


@pytest.fixture
async def emulator(tmp_path: Path) -> AsyncIterator[Any]:
    config = EmulatorConfig(api_keys=(KEY,), db_path=tmp_path / "emu.sqlite")
    async with run_emulator(config) as emu:
        async with PeakClient(ApiConfig(base_url=emu.url, api_key=Secret(KEY))) as client:
            await client.create_table(ORDERS)
        yield emu


def load(emu: Any, tmp_path: Path, data: Path, *options: str) -> list[str]:
    return [
        sys.executable, "-m", "bulkload", "load", "orders", str(data),
        "--base-url", emu.url, "--api-key", KEY, "--no-progress",
        "--checkpoint", str(tmp_path / "cp.jsonl"), "--rejects", str(tmp_path / "rej.jsonl"),
        "--summary-json", str(tmp_path / "summary.json"),
        *options,
    ]  # fmt: skip


def summary(tmp_path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = orjson.loads((tmp_path / "summary.json").read_bytes())
    return loaded


def rejects(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "rej.jsonl"
    return [orjson.loads(line) for line in path.read_bytes().splitlines()] if path.exists() else []


def rows(emu: Any) -> list[dict[str, Any]]:
    return sorted(emu.rows("orders"), key=lambda row: row["order_id"])


def jsonl(path: Path, *records: dict[str, Any]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(record) + b"\n" for record in records))
    return path


# ---- matching ----------------------------------------------------------------------------


async def test_an_uppercase_csv_header_loads_its_values_not_nulls(
    emulator: Any, tmp_path: Path
) -> None:
    data = tmp_path / "orders.csv"
    data.write_text("ORDER_ID,Customer,AMOUNT\n1,ann,10.50\n2,bob,3\n")
    code, _out, err = await run_cli(load(emulator, tmp_path, data))
    assert code == 0, err
    assert [(r["order_id"], r["customer"], Decimal(str(r["amount"]))) for r in rows(emulator)] == [
        (1, "ann", Decimal("10.50")),
        (2, "bob", Decimal("3")),
    ]


async def test_jsonl_keys_in_another_case_load_into_their_columns(
    emulator: Any, tmp_path: Path
) -> None:
    data = jsonl(
        tmp_path / "orders.jsonl",
        {"ORDER_ID": 1, "Customer": "ann"},
        {"order_id": 2, "customer": "bob"},
    )
    code, _out, err = await run_cli(load(emulator, tmp_path, data))
    assert code == 0, err
    assert [(r["order_id"], r["customer"]) for r in rows(emulator)] == [(1, "ann"), (2, "bob")]


async def test_two_fields_folding_to_one_column_are_an_error_naming_both(
    emulator: Any, tmp_path: Path
) -> None:
    data = tmp_path / "orders.csv"
    data.write_text("order_id,ORDER_ID,customer\n1,2,ann\n")
    code, _out, err = await run_cli(load(emulator, tmp_path, data))
    assert code == 2, err
    assert "'order_id' and 'ORDER_ID' both map to column 'order_id'" in err
    assert "--ignore-unknown-columns" not in err and "Traceback" not in err
    assert emulator.row_count("orders") == 0

    records = jsonl(tmp_path / "orders.jsonl", {"order_id": 1, "Order_Id": 2}, {"order_id": 3})
    code, _out, err = await run_cli(load(emulator, tmp_path, records, "--restart"))
    assert code == 3, err
    [reject] = rejects(tmp_path)
    assert "'order_id' and 'Order_Id' both map to column 'order_id'" in reject["reason"]
    assert [r["order_id"] for r in rows(emulator)] == [3]


async def test_case_sensitive_turns_the_fallback_off_and_stops_before_a_null_load(
    emulator: Any, tmp_path: Path
) -> None:
    data = tmp_path / "orders.csv"
    data.write_text("ORDER_ID,CUSTOMER,AMOUNT\n1,ann,10.50\n")
    code, _out, err = await run_cli(load(emulator, tmp_path, data, "--case-sensitive"))
    assert code == 2, err
    message = err.strip().splitlines()[-1]
    assert "no field of the CSV header is a column of table 'orders'" in message
    assert "order_id, customer, amount, paid, placed_at" in message  # the table's columns
    assert "'ORDER_ID' for 'order_id'" in message  # the closest input names
    assert "--ignore-unknown-columns" not in err
    # Following the only other advice there could be still loads nothing as NULLs.
    code, _out, err = await run_cli(
        load(emulator, tmp_path, data, "--case-sensitive", "--ignore-unknown-columns", "--restart")
    )
    assert code == 2, err
    assert "would load as NULLs" in err
    assert emulator.row_count("orders") == 0


async def test_a_record_of_which_no_field_is_a_column_stops_the_run(
    emulator: Any, tmp_path: Path
) -> None:
    data = jsonl(tmp_path / "orders.jsonl", {"orderid": 1, "client": "ann"})
    code, _out, err = await run_cli(load(emulator, tmp_path, data, "--ignore-unknown-columns"))
    assert code == 2, err
    line = err.strip().splitlines()[-1]
    assert "input " in line and "orders.jsonl" in line and "would load as NULLs" in line
    assert "'orderid' for 'order_id'" in line
    assert emulator.row_count("orders") == 0


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
async def test_a_record_of_no_fields_loads_as_the_row_of_nulls_it_is(
    emulator: Any, tmp_path: Path, fmt: str
) -> None:
    # Unlike a record whose fields are not columns (stopped above), `{}` or a CSV row of
    # empty fields says every value is NULL: loading it keeps the source's row count.
    data = tmp_path / f"orders.{fmt}"
    if fmt == "jsonl":
        data.write_bytes(b'{"order_id": 1, "customer": "ann"}\n{}\n{"order_id": 3}\n')
    else:
        data.write_bytes(b"order_id,customer\n1,ann\n,\n3,\n")
    code, _out, err = await run_cli(load(emulator, tmp_path, data))
    assert code == 0, err
    stored = sorted(emulator.rows("orders"), key=lambda row: row["order_id"] or 0)
    assert [row["order_id"] for row in stored] == [None, 1, 3]
    assert all(value is None for value in stored[0].values())
    assert summary(tmp_path)["records_ingested"] == 3


# ---- mapping -----------------------------------------------------------------------------


async def test_map_renames_and_drops_fields_in_csv(emulator: Any, tmp_path: Path) -> None:
    data = tmp_path / "orders.csv"
    data.write_text("id,client,internal\n1,ann,x\n2,bob,y\n")
    code, _out, err = await run_cli(
        load(emulator, tmp_path, data, "--map", "id=order_id", "--map", "client=CUSTOMER",
             "--map", "internal=")
    )  # fmt: skip
    assert code == 0, err
    assert [(r["order_id"], r["customer"]) for r in rows(emulator)] == [(1, "ann"), (2, "bob")]


async def test_map_file_applies_to_json_arrays_and_drops_nulls(
    emulator: Any, tmp_path: Path
) -> None:
    data = tmp_path / "orders.json"
    data.write_bytes(orjson.dumps([{"id": 1, "who": "ann", "x": 1}, {"id": 2, "who": "bob"}]))
    mapping = tmp_path / "map.json"
    mapping.write_bytes(orjson.dumps({"id": "order_id", "who": "customer", "x": None}))
    code, _out, err = await run_cli(load(emulator, tmp_path, data, "--map-file", str(mapping)))
    assert code == 0, err
    assert [(r["order_id"], r["customer"]) for r in rows(emulator)] == [(1, "ann"), (2, "bob")]


async def test_map_can_swap_and_drop_column_names_in_jsonl(emulator: Any, tmp_path: Path) -> None:
    # Every name is a column, so only the mapping can tell these records go elsewhere.
    data = jsonl(
        tmp_path / "orders.jsonl",
        {"order_id": 7, "customer": "ann", "paid": True},
        {"order_id": 8, "customer": "bob", "paid": False},
    )
    code, _out, err = await run_cli(load(emulator, tmp_path, data, "--map", "paid="))
    assert code == 0, err
    assert [(r["order_id"], r["paid"]) for r in rows(emulator)] == [(7, None), (8, None)]


async def test_a_map_to_a_missing_column_is_a_one_line_error(emulator: Any, tmp_path: Path) -> None:
    data = jsonl(tmp_path / "orders.jsonl", {"order_id": 1})
    code, _out, err = await run_cli(load(emulator, tmp_path, data, "--map", "id=ordr_id"))
    assert code == 2
    assert "has no column 'ordr_id' (did you mean 'order_id'?)" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    code, _out, err = await run_cli(load(emulator, tmp_path, data, "--map", "nonsense"))
    assert code == 2 and "is not SRC=DST" in err and "Traceback" not in err


async def test_the_mapping_is_part_of_the_checkpoint_identity(
    emulator: Any, tmp_path: Path
) -> None:
    data = tmp_path / "orders.csv"
    data.write_text("id,client\n1,ann\n")
    code, _out, err = await run_cli(load(emulator, tmp_path, data, "--map", "id=order_id",
                                         "--ignore-unknown-columns"))  # fmt: skip
    assert code == 0, err
    code, _out, err = await run_cli(
        load(emulator, tmp_path, data, "--map", "id=order_id", "--map", "client=customer",
             "--ignore-unknown-columns")
    )  # fmt: skip
    assert code == 2, err
    assert "checkpoint" in err and "Traceback" not in err
    code, _out, err = await run_cli(load(emulator, tmp_path, data, "--map", "id=order_id",
                                         "--ignore-unknown-columns"))  # fmt: skip
    assert code == 0, err  # the same options: the finished load is recognised


async def test_ignore_unknown_columns_reports_what_it_dropped(
    emulator: Any, tmp_path: Path
) -> None:
    data = jsonl(
        tmp_path / "orders.jsonl",
        *({"order_id": i, "note": "n", **({"extra": 1} if i % 2 else {})} for i in range(10)),
    )
    code, out, err = await run_cli(load(emulator, tmp_path, data, "--ignore-unknown-columns"))
    assert code == 0, err
    assert summary(tmp_path)["fields_dropped"] == {"note": 10, "extra": 5}
    assert "dropped unknown fields" in out and "'note' in 10 records" in out
    assert emulator.row_count("orders") == 10


async def test_map_and_case_folding_apply_to_parquet(emulator: Any, tmp_path: Path) -> None:
    pyarrow = pytest.importorskip("pyarrow")
    parquet = pytest.importorskip("pyarrow.parquet")
    data = tmp_path / "orders.parquet"
    parquet.write_table(
        pyarrow.table({"ORDER_ID": [1, 2], "who": ["ann", "bob"], "junk": ["x", "y"]}), data
    )
    code, _out, err = await run_cli(
        load(emulator, tmp_path, data, "--map", "who=customer", "--map", "junk=")
    )
    assert code == 0, err
    assert [(r["order_id"], r["customer"]) for r in rows(emulator)] == [(1, "ann"), (2, "bob")]


# ---- coercion ----------------------------------------------------------------------------

EXPORT = (
    {"order_id": "1", "paid": "YES", "amount": "1.5e1", "placed_at": "2024-01-31T10:00:00Z"},
    {"order_id": "2", "paid": "no", "placed_at": "2024-01-31 12:30:00+02:00"},
    {"order_id": 3, "paid": "1", "placed_at": "2024-01-31T10:00:00.000"},
    {"order_id": 4, "placed_at": "2024-01-31T10:00:00.250Z"},  # a fraction the format lacks
)


async def test_coerce_converts_strings_and_iso_timestamps_and_counts_them(
    emulator: Any, tmp_path: Path
) -> None:
    data = jsonl(tmp_path / "orders.jsonl", *EXPORT)
    code, out, err = await run_cli(load(emulator, tmp_path, data, "--coerce"))
    assert code == 3, err
    assert [(r["order_id"], r["paid"], r["placed_at"]) for r in rows(emulator)] == [
        (1, True, "2024-01-31 10:00:00"),
        (2, False, "2024-01-31 10:30:00"),  # the offset became UTC: the format has none
        (3, True, "2024-01-31 10:00:00"),  # a zero fraction loses nothing
    ]
    assert Decimal(str(rows(emulator)[0]["amount"])) == 15
    assert summary(tmp_path)["records_coerced"] == 3 and "3 records had a value" in out
    [reject] = rejects(tmp_path)
    assert reject["record"]["order_id"] == 4
    assert (
        "fraction of a second cannot be held by format YYYY-MM-DD HH24:MI:SS" in (reject["reason"])
    )  # never truncated silently


async def test_without_coerce_the_reason_says_coerce_would_fix_it(
    emulator: Any, tmp_path: Path
) -> None:
    data = jsonl(tmp_path / "orders.jsonl", *EXPORT[:3])
    code, out, err = await run_cli(load(emulator, tmp_path, data))
    assert code == 3, err
    entries = rejects(tmp_path)
    assert len(entries) == 3 and emulator.row_count("orders") == 0
    assert all("(--coerce would convert it)" in e["reason"] for e in entries)
    assert "--coerce would convert it" in out  # the grouped kinds keep the advice


async def test_coerce_rewrites_iso_dates_in_csv_into_the_column_format(
    emulator: Any, tmp_path: Path
) -> None:
    data = tmp_path / "orders.csv"
    data.write_text("order_id,paid,placed_at\n1,yes,2024-01-31T23:30:00-01:00\n")
    code, _out, err = await run_cli(load(emulator, tmp_path, data, "--coerce"))
    assert code == 0, err
    assert [(r["paid"], r["placed_at"]) for r in rows(emulator)] == [(True, "2024-02-01 00:30:00")]


# ---- every problem, grouped reasons --------------------------------------------------------


async def test_every_problem_is_listed_and_reasons_are_grouped_without_values(
    emulator: Any, tmp_path: Path
) -> None:
    bad = [{"order_id": i, "amount": 10**11 + i, "paid": "maybe"} for i in range(30)]
    odd = [{"order_id": 100 + i, f"amount_{i}": 1} for i in range(25)]
    data = jsonl(tmp_path / "orders.jsonl", *bad, *odd)
    code, out, err = await run_cli(load(emulator, tmp_path, data))
    assert code == 3, err
    first = rejects(tmp_path)[0]
    assert len(first["problems"]) == 2
    assert "column 'amount'" in first["problems"][0] and "column 'paid'" in first["problems"][1]
    by_reason = summary(tmp_path)["rejected_by_reason"]
    amount = "column 'amount': more digits before the point than numeric(12,2) allows"
    assert by_reason[amount] == 30 and by_reason["column 'paid': expected true or false"] == 30
    # 25 distinct unknown-column kinds + the 2 above: the top 20, then the rest in one line.
    assert len(by_reason) == 21 and by_reason["7 more kinds"] == 7
    assert f"rejected 30: {amount}" in out and "7 more kinds" in out
    assert sum(1 for line in out.splitlines() if re.match(r"  rejected [0-9]", line)) == 21


# ---- table names and definitions ----------------------------------------------------------


async def test_a_misspelt_table_name_suggests_the_closest_tables(
    emulator: Any, tmp_path: Path
) -> None:
    data = jsonl(tmp_path / "orders.jsonl", {"order_id": 1})
    args = load(emulator, tmp_path, data)
    args[args.index("orders")] = "ordres"
    code, _out, err = await run_cli(args)
    assert code == 1, err
    assert "table 'ordres' does not exist: did you mean 'orders'?" in err
    assert len(err.strip().splitlines()) == 1
    api = ["--base-url", emulator.url, "--api-key", KEY]
    code, _out, err = await run_cli(
        [sys.executable, "-m", "bulkload", "tables", "get", "Order", *api]
    )
    assert code == 1 and "did you mean 'orders'?" in err
    code, _out, err = await run_cli(
        [sys.executable, "-m", "bulkload", "tables", "get", "zzz", *api]
    )
    assert code == 1 and "did you mean" not in err and "does not exist" in err


async def test_tables_create_suggests_integer_and_the_quoting_of_literal_letters(
    emulator: Any, tmp_path: Path
) -> None:
    schema = tmp_path / "schema.json"
    schema.write_bytes(
        orjson.dumps(
            [
                {"name": "id", "type": "int"},
                {"name": "at", "type": "timestamp", "dateFormat": "YYYY-MM-DDTHH:MI:SS"},
            ]
        )
    )
    code, _out, err = await run_cli(
        [sys.executable, "-m", "bulkload", "tables", "create", "t", "--schema", str(schema),
         "--base-url", emulator.url, "--api-key", KEY]
    )  # fmt: skip
    assert code == 2, err
    assert "type 'int' is not one of" in err and "did you mean 'integer'?" in err
    assert 'did you mean "T"HH24?' in err
    assert 'the whole format would then read YYYY-MM-DD"T"HH24:MI:SS' in err


# ---- progress, dry run, finished rerun ----------------------------------------------------


def _read_terminal(master: int) -> bytes:
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the last writer closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks)


async def test_progress_at_80_columns_shows_bar_percent_and_eta(
    emulator: Any, tmp_path: Path
) -> None:
    data = jsonl(tmp_path / "orders.jsonl", *({"order_id": i} for i in range(3000)))
    args = [arg for arg in load(emulator, tmp_path, data) if arg != "--no-progress"]
    master, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    process = await asyncio.create_subprocess_exec(
        *args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=terminal
    )
    os.close(terminal)
    screen, (out, _err) = await asyncio.gather(
        anyio.to_thread.run_sync(_read_terminal, master), process.communicate()
    )
    os.close(master)
    assert process.returncode == 0, screen
    drawn = [
        part.replace(b"\x1b[K", b"").decode().strip()
        for part in screen.replace(b"\r\n", b"\r").split(b"\r")
    ]
    bars = [line for line in drawn if line.startswith("[")]
    assert bars and all(len(line) <= 80 for line in drawn)
    assert re.match(r"\[#{20,}\] 100% · ETA \w+", bars[-1]), bars[-1]
    assert "3,000 ingested" in out.decode()


async def test_a_dry_run_says_would_ingest_and_honours_the_checkpoint(
    emulator: Any, tmp_path: Path
) -> None:
    data = jsonl(tmp_path / "orders.jsonl", *({"order_id": i} for i in range(1000)),
                 {"order_id": "x"})  # fmt: skip
    code, out, err = await run_cli(load(emulator, tmp_path, data, "--dry-run"))
    assert code == 3, err
    assert "1,001 records read from 1 file, 1,000 would ingest, 1 rejected" in out
    assert "rerun" not in out + err and emulator.row_count("orders") == 0
    # After the real load, a dry run of the same command reads the checkpoint: nothing to do.
    code, _out, err = await run_cli(load(emulator, tmp_path, data, "--max-records", "100"))
    assert code == 3, err
    code, out, err = await run_cli(
        load(emulator, tmp_path, data, "--max-records", "100", "--dry-run")
    )
    assert code == 3, err  # the reject is still there
    assert "0 would ingest" in out and "1,000 skipped" in out and "rerun" not in out + err
    assert emulator.row_count("orders") == 1000


async def test_a_finished_load_rerun_still_reports_its_rejects_and_exits_3(
    emulator: Any, tmp_path: Path
) -> None:
    data = jsonl(tmp_path / "orders.jsonl", {"order_id": 1}, {"order_id": "x"}, {"order_id": 2})
    code, _out, err = await run_cli(load(emulator, tmp_path, data))
    assert code == 3, err
    code, out, err = await run_cli(load(emulator, tmp_path, data))
    assert code == 3, err
    assert "1 records were rejected by an earlier run" in out
    assert "rejected records are in" in out
    assert summary(tmp_path)["records_rejected_earlier"] == 1
    assert emulator.row_count("orders") == 2


async def test_infer_names_columns_as_map_will_load_them(emulator: Any, tmp_path: Path) -> None:
    data = tmp_path / "export.csv"
    data.write_text("ORDER_ID,Client,junk\n1,ann,x\n")
    mapping = tmp_path / "map.json"
    mapping.write_bytes(orjson.dumps({"junk": None}))
    code, out, err = await run_cli(
        [sys.executable, "-m", "bulkload", "tables", "create", "mapped", "--infer", str(data),
         "--map", "ORDER_ID=order_id", "--map", "Client=customer", "--map-file", str(mapping),
         "--yes", "--base-url", emulator.url, "--api-key", KEY]
    )  # fmt: skip
    assert code == 0, err
    assert [c["name"] for c in orjson.loads(out)["columns"]] == ["order_id", "customer"]
    code, _out, err = await run_cli(
        [sys.executable, "-m", "bulkload", "load", "mapped", str(data), "--base-url", emulator.url,
         "--api-key", KEY, "--no-progress", "--checkpoint", str(tmp_path / "m.cp"),
         "--map", "Client=customer", "--map-file", str(mapping)]
    )  # fmt: skip
    assert code == 0, err
    assert emulator.rows("mapped") == [{"order_id": 1, "customer": "ann"}]
