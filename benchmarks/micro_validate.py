"""Per-record cost of the record validator's paths (timeit; not a test).

Run: .venv/bin/python -m benchmarks.micro_validate [--number N]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import timeit
from decimal import Decimal

import msgspec
import orjson

from bulkload.contract.schema import TableSchema
from bulkload.contract.validate import RecordInvalid, RecordValidator

SCHEMA = TableSchema.from_json(
    {
        "tableName": "orders",
        "columns": [
            {"name": "id", "type": "integer"},
            {"name": "amount", "type": "numeric", "precision": 12, "scale": 2},
            {"name": "day", "type": "date"},
            {"name": "seen_at", "type": "timestamp"},
            {"name": "paid", "type": "boolean"},
            {"name": "note", "type": "string"},
            {"name": "meta", "type": "JSON"},
            {"name": "qty", "type": "integer"},
            {"name": "price", "type": "numeric"},
            {"name": "code", "type": "string"},
        ],
    }
)
VALID = (
    b'{"id":123456789,"amount":"1234.50","day":"2024-03-15","seen_at":"2024-03-15 12:34:56",'
    b'"paid":true,"note":"hello world, this is a note: with a colon","meta":{"k":"v","n":[1,2,3]},'
    b'"qty":42,"price":19.99,"code":"ABC-123-XYZ-0000000000000000"}'
)
CHUNK_RECORDS = 2000  # what the readers hand the pipeline at a time
INVALID = VALID.replace(b'"qty":42', b'"qty":4.2')
OBJECT = {
    "id": 123456789,
    "amount": Decimal("1234.50"),
    "day": datetime.date(2024, 3, 15),
    "seen_at": datetime.datetime(2024, 3, 15, 12, 34, 56),
    "paid": True,
    "note": "hello world, this is a note: with a colon",
    "meta": {"k": "v", "n": [1, 2, 3]},
    "qty": 42,
    "price": 19.99,
    "code": "ABC-123-XYZ-0000000000000000",
}
HEADER = list(OBJECT)
ROW = [
    "123456789",
    "1234.50",
    "2024-03-15",
    "2024-03-15 12:34:56",
    "true",
    "hello world, this is a note: with a colon",
    '{"k":"v","n":[1,2,3]}',
    "42",
    "19.99",
    "ABC-123-XYZ-0000000000000000",
]


def _invalid(validator: RecordValidator) -> None:
    with contextlib.suppress(RecordInvalid):
        validator.check_raw(INVALID)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--number", type=int, default=100_000)
    parser.add_argument(
        "--as-loaded",
        action="store_true",
        help="build the validator as a load without options does (field matching on, "
        "coercion hints on), to show those layers cost nothing on valid records",
    )
    args = parser.parse_args()
    number = args.number
    if args.as_loaded:
        from bulkload.contract.matching import FieldMapping

        fields = FieldMapping(SCHEMA.column_names, table=SCHEMA.name)
        validator = RecordValidator(SCHEMA, fields=fields, coerce=False)
    else:
        validator = RecordValidator(SCHEMA)
    encode_row = validator.csv_encoder(HEADER)
    assert validator.check_raw(VALID) is VALID
    chunk = [VALID.replace(b"123456789", str(i).encode()) for i in range(CHUNK_RECORDS)]
    assert validator.check_raw_many(chunk) is chunk
    per_record_cases = {
        f"check_raw_many, {CHUNK_RECORDS} valid records": lambda: validator.check_raw_many(chunk),
    }
    cases = {
        f"check_raw valid ({len(VALID)} B, 10 fields)": lambda: validator.check_raw(VALID),
        "check_raw invalid": lambda: _invalid(validator),
        "check_object (Parquet-like types)": lambda: validator.check_object(OBJECT),
        "csv_encoder row": lambda: encode_row(ROW),
        # Baselines: how fast this machine merely parses the same record.
        "baseline: orjson.loads": lambda: orjson.loads(VALID),
        "baseline: msgspec.json.decode (untyped)": lambda: msgspec.json.decode(VALID),
    }
    for name, call in per_record_cases.items():
        runs = max(1, number // CHUNK_RECORDS)
        best = min(timeit.repeat(call, number=runs, repeat=5)) / runs / CHUNK_RECORDS
        print(f"{name:40s} {best * 1e6:7.2f} µs/record")
    for name, call in cases.items():
        runs = number // 10 if "invalid" in name else number
        best = min(timeit.repeat(call, number=runs, repeat=5)) / runs
        print(f"{name:40s} {best * 1e6:7.2f} µs/record")


if __name__ == "__main__":
    main()
