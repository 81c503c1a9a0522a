"""A few of the contract's record rules, seen through the emulator's HTTP answers.

The validator's exhaustive tests live with the validator; these check the emulator wires
it in: each rule's failure is a 400 naming the record and column, and nothing is stored.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import aiohttp
import orjson
import pytest

from bulkload.contract.schema import TableSchema
from bulkload.contract.validate import RecordValidator
from bulkload.emulator import EmulatorHandle

TABLE = "/api/v1/tables/typed"
COLUMNS = [
    {"name": "i", "type": "integer"},
    {"name": "n", "type": "numeric", "precision": 5, "scale": 2},
    {"name": "d", "type": "date"},
    {"name": "ts", "type": "timestamp", "dateFormat": 'YYYY-MM-DD"T"HH24:MI:SSTZH:TZM'},
    {"name": "b", "type": "boolean"},
    {"name": "s", "type": "string"},
    {"name": "j", "type": "JSON"},
]


@pytest.fixture
async def typed(emulator_session: aiohttp.ClientSession) -> aiohttp.ClientSession:
    resp = await emulator_session.post(
        "/api/v1/tables", json={"tableName": "typed", "columns": COLUMNS}
    )
    assert resp.status == 201
    return emulator_session


async def post(session: aiohttp.ClientSession, records: list[Any]) -> tuple[int, Any]:
    async with session.post(TABLE, data=orjson.dumps(records)) as resp:
        return resp.status, await resp.json()


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("i", 1.0),
        ("i", 2**63),
        ("i", "1"),
        ("n", "1234.5"),  # 4 digits before the point, precision 5 scale 2 allows 3
        ("n", 1.234),
        ("d", "2023-02-30"),
        ("d", "2023/01/01"),
        ("ts", "2023-01-01T10:00:00"),  # the format requires an offset
        ("b", "true"),
        ("s", 5),
    ],
)
async def test_a_value_breaking_its_column_rule_is_a_400_naming_it(
    emulator: EmulatorHandle, typed: aiohttp.ClientSession, column: str, value: Any
) -> None:
    status, body = await post(typed, [{"i": 1}, {column: value}])
    assert status == 400
    assert body["errors"] == [
        {"record": 1, "column": column, "message": body["errors"][0]["message"]}
    ]
    assert body["errors"][0]["message"]
    assert emulator.row_count("typed") == 0


async def test_valid_values_of_every_type_land_as_sent(
    emulator: EmulatorHandle, typed: aiohttp.ClientSession
) -> None:
    record = {
        "i": -(2**63),
        "n": "-999.99",
        "d": "2024-02-29",
        "ts": "2024-02-29T23:59:59+05:30",
        "b": True,
        "s": 'δ "quoted" ✓',
        "j": {"nested": [1, "two", None, 3.5]},
    }
    status, body = await post(typed, [record, {"n": 12.5, "j": "just a string"}])
    assert (status, body) == (200, {"recordsIngested": 2})
    first, second = emulator.rows("typed")
    assert first == {**record, "n": Decimal("-999.99")}
    assert second["n"] == Decimal("12.5")
    assert second["j"] == "just a string"


async def test_stored_values_match_the_validators_own_decode(
    emulator: EmulatorHandle, emulator_session: aiohttp.ClientSession
) -> None:
    # The emulator reads accepted records with its own fast reader; it must agree with
    # RecordValidator.decode, including for keyword column names and numbers with exponents.
    definition = {
        "tableName": "odd",
        "columns": [
            {"name": "class", "type": "numeric"},
            {"name": "from", "type": "JSON"},
            {"name": "_", "type": "integer"},
        ],
    }
    assert (await emulator_session.post("/api/v1/tables", json=definition)).status == 201
    records = [
        b'{"class": 1.5e2, "from": { "a" : [1, 2] }, "_": -0}',
        b'{"class": "-0012.50", "from": null}',
        b'{"class": null, "from": "\\u00e9"}',
    ]
    body = b"[" + b",".join(records) + b"]"
    async with emulator_session.post("/api/v1/tables/odd", data=body) as resp:
        assert resp.status == 200, await resp.text()
    validator = RecordValidator(TableSchema.from_json(definition))
    expected = [
        {c: validator.decode(raw).get(c) for c in ("class", "from", "_")} for raw in records
    ]
    assert emulator.rows("odd") == expected


async def test_clarified_numeric_values_land_exactly(
    emulator: EmulatorHandle, typed: aiohttp.ClientSession
) -> None:
    # numeric(5,2): trailing zeros of the fraction and leading zeros don't count (contract 2)
    body = b'[{"n":1.230},{"n":"007.5"},{"n":".5"},{"n":"5."},{"n":12.5e1}]'
    async with typed.post(TABLE, data=body) as resp:
        assert (resp.status, await resp.json()) == (200, {"recordsIngested": 5})
    stored = [row["n"] for row in emulator.rows("typed")]
    assert stored == [Decimal("1.230"), Decimal("7.5"), Decimal("0.5"), Decimal(5), Decimal(125)]


async def test_a_body_nested_past_every_parser_is_a_400_naming_the_limit(
    emulator: EmulatorHandle, typed: aiohttp.ClientSession
) -> None:
    deep = b'{"j":' + b"[" * 5000 + b"]" * 5000 + b"}"
    async with typed.post(TABLE, data=b'[{"i":1},' + deep + b"]") as resp:
        assert resp.status == 400
        assert "MAX_JSON_DEPTH" in (await resp.json())["message"]
    just_past = b'{"j":' + b"[" * 501 + b"]" * 501 + b"}"
    status, body = await post(typed, [{"i": 1}, orjson.Fragment(just_past)])
    assert status == 400 and body["errors"][0]["record"] == 1
    assert "MAX_JSON_DEPTH" in body["errors"][0]["message"]
    assert emulator.row_count("typed") == 0
