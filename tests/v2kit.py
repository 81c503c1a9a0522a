"""What the v2 tests share: the contract's example solution and objects, an emulator
serving them, and rows that fit."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from bulkload.contract.v2schema import Solution, parse_schema
from bulkload.emulator import EmulatorConfig, EmulatorHandle, run_emulator

SOLUTION = Solution(solution_name="QP_OOTB", prefix="QP_", suffix="_OOTB")
CUSTOMER_TABLE = "QP_CUSTOMER_OOTB"
EVENT_TABLE = "QP_EVENT_OOTB"

# The contract's schema example, plus an object without a primary key (APPEND only).
SCHEMA_JSON: dict[str, Any] = {
    "solutionName": "QP_OOTB",
    "objects": [
        {
            "objectName": "CUSTOMER",
            "tableName": "QP_CUSTOMER_OOTB",
            "primaryKeys": ["CUSTOMER_ID", "UPDATED_AT"],
            "columns": [
                {
                    "name": "CUSTOMER_ID",
                    "dataType": "string",
                    "nullable": False,
                    "validations": [{"type": "nonNull"}, {"type": "maxLength", "value": 64}],
                },
                {"name": "CREDIT_LIMIT", "dataType": "numeric", "precision": 12, "scale": 2},
                {
                    "name": "UPDATED_AT",
                    "dataType": "timestamp",
                    "nullable": False,
                    "validations": [{"type": "timestampFormat", "format": "YYYY-MM-DD HH:MI:SS"}],
                },
            ],
        },
        {
            "objectName": "EVENT",
            "columns": [
                {"name": "EVENT_ID", "dataType": "integer", "nullable": False},
                {"name": "SCORE", "dataType": "float"},
                {"name": "DAY", "dataType": "date"},
                {"name": "PAYLOAD", "dataType": "json"},
                {"name": "FLAG", "dataType": "boolean"},
            ],
        },
    ],
}
SCHEMA = parse_schema(SCHEMA_JSON, solution=SOLUTION)
CUSTOMER = SCHEMA.objects[0]
EVENT = SOLUTION.place(SCHEMA.objects[1])


def customer(i: int, *, limit: str = "10.50") -> dict[str, Any]:
    return {"CUSTOMER_ID": f"C{i}", "CREDIT_LIMIT": limit, "UPDATED_AT": "2026-01-02 03:04:05"}


def v2_config(tmp_path: Path, key: str, **knobs: Any) -> EmulatorConfig:
    return EmulatorConfig(
        api_keys=(key,),
        db_path=tmp_path / "emu.sqlite",
        v2_solutions=(SOLUTION, Solution(solution_name="RAW")),
        v2_objects=SCHEMA.objects,
        **knobs,
    )


@contextlib.asynccontextmanager
async def v2_emulator(tmp_path: Path, key: str, **knobs: Any) -> AsyncIterator[EmulatorHandle]:
    async with run_emulator(v2_config(tmp_path, key, **knobs)) as emu:
        yield emu
