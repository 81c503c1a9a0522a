"""The Arrow (Parquet) column-at-a-time encoder held to the definition it replaces.

``ArrowChunkEncoder`` (bulkload/contract/arrowfast.py) against ``check_object`` on each row
as pyarrow gives it (``batch.to_pylist()``): byte-identical JSON for every row, the same
reason (and list of problems) for every refused one, the same counters (coerced records,
dropped fields) moved. Tables are generated: every Arrow type a Parquet file holds
(integers of every width against the signed 64-bit range and numeric digits, decimals of
many precisions and scales, floats with NaN and infinities, dates, timestamps of every unit
with and without time zones, strings with quotes, control characters and non-BMP
characters, binary, dictionaries, nested structs and lists for JSON columns, nulls), every
column type and date format, and names exact, case-folded, mapped (--map), dropped or
unknown, with and without --coerce and --ignore-unknown-columns.
"""

from __future__ import annotations

import importlib.abc
import pickle
import sys
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bulkload.contract.arrowfast import ArrowChunkEncoder, ArrowRows, _BatchPlan, _row_outcomes
from bulkload.contract.matching import FieldMapping, NoFieldMatches
from bulkload.contract.schema import TableSchema
from bulkload.contract.validate import RecordInvalid, RecordValidator

DATE_FORMATS = [
    None,
    "YYYY-MM-DD",
    "DD/MM/YYYY",
    "YYYYMMDD",
    'YYYY-MM-DD"T"HH24:MI:SS',
    "YYYY-MM-DD HH24:MI:SS.FF",
    "YYYY-MM-DD HH24:MI:SS.FFTZH:TZM",
    "HH24:MI:SS DD.MM.YYYY",
    '"%"YYYY"\\"MM',
]
NUMERIC_LIMITS = [(None, None), (12, 2), (5, 0), (2, 2), (38, 10), (19, 0), (20, 0), (3, 1)]


def _column(name: str, kind: str, draw: Any) -> dict[str, Any]:
    column: dict[str, Any] = {"name": name, "type": kind}
    if kind == "numeric":
        precision, scale = draw(st.sampled_from(NUMERIC_LIMITS))
        if precision is not None:
            column.update(precision=precision, scale=scale)
    if kind in ("date", "timestamp"):
        fmt = draw(st.sampled_from(DATE_FORMATS))
        if fmt is not None:
            column["dateFormat"] = fmt
    return column


_INT_TYPES = [pa.int8(), pa.int16(), pa.int32(), pa.int64(), pa.uint8(), pa.uint16()]
_INT_TYPES += [pa.uint32(), pa.uint64()]
_UNITS = ["s", "ms", "us", "ns"]
_ZONES = [None, None, "UTC", "+05:30", "Europe/Paris"]
_TEXT = st.text(
    st.one_of(
        st.characters(codec="utf-8"),
        st.sampled_from(['"', "\\", "\n", "\x00", "\x1f", "\x7f", "\u2028", "😀", ":", ","]),
    ),
    max_size=8,
)


# Where Arrow's and orjson's float texts part (exponents, whole numbers), and digit limits.
FLOAT_EDGES = [0.0, -0.0, 1.0, 3.0, -42.0, 1e14, 1e15, 999999999999999.9, 1e16, 1e-5, 9.5e-6]
FLOAT_EDGES += [2.5e-6, 1e-7, 0.1, 123.456, 1e300, 5e-324, 123456789012345.6, 99.995, 0.125]

# Each column type's likely Arrow types, drawn half of the time (else any type).
FITTING = {
    "integer": ["int"],
    "numeric": ["int", "decimal", "float", "number_text"],
    "string": ["string", "dictionary", "large_string"],
    "boolean": ["bool"],
    "JSON": ["struct", "list", "float", "int", "string"],
    "date": ["date32", "timestamp", "date_text"],
    "timestamp": ["date32", "timestamp", "date_text"],
}
INTEGER_EDGES = [0, 1, -1, 2**63 - 1, 2**63, -(2**63), 2**64 - 1, -(2**31), 2**32 - 1]
INTEGER_EDGES += [sign * (10**digits + delta) for digits in (0, 1, 2, 3, 5, 10, 18, 19)
                  for delta in (-1, 0) for sign in (1, -1)]  # fmt: skip


def _limits(kind: pa.DataType) -> tuple[int, int]:
    width = kind.bit_width
    if pa.types.is_unsigned_integer(kind):
        return 0, 2**width - 1
    return -(2 ** (width - 1)), 2 ** (width - 1) - 1


@st.composite
def arrow_column(
    draw: Any, target: dict[str, Any], choice: str | None = None
) -> tuple[pa.DataType, list[Any]]:
    """An Arrow type and a few values of it (some null), biased towards what fits the
    target column, and towards the edges of what does not."""
    size = draw(st.integers(1, 12))
    everything = [
        "int", "bool", "float", "decimal", "string", "dictionary", "date32", "timestamp",
        "binary", "struct", "list", "null", "date_text", "number_text", "map", "large_string",
        "date64",
    ]  # fmt: skip
    fitting = FITTING[target["type"]]
    if choice is None:
        choice = draw(st.sampled_from(fitting) | st.sampled_from(everything))
    precision, scale = target.get("precision"), target.get("scale")
    kind: pa.DataType
    values: st.SearchStrategy[Any]
    if choice == "int":
        kind = draw(st.sampled_from(_INT_TYPES))
        low, high = _limits(kind)
        values = st.one_of(
            st.integers(low, high),
            st.sampled_from(INTEGER_EDGES).filter(lambda v: low <= v <= high),
        )
    elif choice == "bool":
        kind, values = pa.bool_(), st.booleans()
    elif choice == "float":
        width = draw(st.sampled_from([16, 32, 64]))
        kind = {16: pa.float16(), 32: pa.float32(), 64: pa.float64()}[width]
        # One NaN sends a whole column through Python: specials in some columns only.
        specials = draw(st.integers(0, 3)) == 0
        values = st.one_of(
            st.floats(
                width=32 if width == 16 else width, allow_nan=specials, allow_infinity=specials
            ),
            st.sampled_from(FLOAT_EDGES),
            st.integers(-(10**8), 10**8).map(lambda n: n / 100),
        )
    elif choice == "decimal":
        if precision is not None and draw(st.booleans()):  # around the column's own
            precision = max(1, min(40, precision + draw(st.integers(-1, 1))))
            scale = max(0, min(precision, scale + draw(st.integers(-1, 1))))
        else:
            precision = draw(st.integers(1, 40) | st.sampled_from([1, 9, 18, 19, 38, 39]))
            # Arrow writes 1E-7 once the scale passes the digits by 7: scales past 7 too
            scales = {0, 1, 2, 7, 8, 12, precision}
            scale = draw(st.sampled_from(sorted(s for s in scales if s <= precision)))
        kind = (
            pa.decimal128(precision, scale) if precision <= 38 else pa.decimal256(precision, scale)
        )
        largest = 10**precision - 1
        values = st.one_of(
            st.integers(-largest, largest),
            st.sampled_from([0, 1, -1, 10, largest, -largest]).filter(lambda v: abs(v) <= largest),
        ).map(lambda unscaled: Decimal(f"{unscaled}e-{scale}"))  # exact, whatever the context
    elif choice in ("string", "dictionary", "large_string"):
        kind = pa.large_string() if choice == "large_string" else pa.string()
        values = _TEXT
    elif choice == "date32":
        kind = pa.date32()
        values = st.dates()
    elif choice == "date64":
        kind = pa.date64()
        values = st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 1, 1))
    elif choice == "timestamp":
        unit, zone = draw(st.sampled_from(_UNITS)), draw(st.sampled_from(_ZONES))
        kind = pa.timestamp(unit, tz=zone)
        bound = {"s": 2**37, "ms": 2**45, "us": 2**55, "ns": 2**62}[unit]
        values = st.one_of(
            st.integers(-bound, bound),
            st.integers(-(2**31), 2**31).map(lambda v: v * {"s": 1, "ms": 1000}.get(unit, 10**6)),
        )
    elif choice == "binary":
        kind, values = pa.binary(), st.binary(max_size=6)
    elif choice == "struct":
        kind = pa.struct(
            [("source", pa.string()), ("score", pa.int64()), ("tags", pa.list_(pa.string())),
             ("x", pa.float64()), ("deep", pa.struct([("n", pa.null()), ("b", pa.bool_())]))]
        )  # fmt: skip
        values = st.fixed_dictionaries(
            {
                "source": st.none() | _TEXT,
                "score": st.none() | st.integers(-(2**63), 2**63 - 1),
                "tags": st.none() | st.lists(st.none() | _TEXT, max_size=3),
                "x": st.none() | st.floats(),
                "deep": st.none() | st.fixed_dictionaries({"n": st.none(), "b": st.booleans()}),
            }
        )
    elif choice == "list":
        inner = draw(st.sampled_from([pa.int64(), pa.string(), pa.float64()]))
        kind = draw(st.sampled_from([pa.list_(inner), pa.large_list(inner)]))
        element: st.SearchStrategy[Any] = {
            "int64": st.integers(-(2**63), 2**63 - 1),
            "string": _TEXT,
            "double": st.floats(),
        }[str(inner)]
        values = st.lists(st.none() | element, max_size=4)
    elif choice == "map":
        kind = pa.map_(pa.string(), pa.int64())
        values = st.lists(st.tuples(_TEXT, st.integers(-5, 5)), max_size=2)
    elif choice == "null":
        kind, values = pa.null(), st.none()
    elif choice == "date_text":
        kind = pa.string()
        values = st.one_of(
            st.sampled_from(
                ["2024-02-29", "2023-02-29", "2024-01-31 23:59:59", "31/12/2024", "20240131",
                 "2024-01-31T00:00:00", "2024-01-31 10:00:00.5", "2024-04-31", "2024-01-01\n"]
            ),
            st.datetimes().map(lambda d: d.strftime("%Y-%m-%d %H:%M:%S")),
            st.dates().map(str),
            _TEXT,
        )  # fmt: skip
    else:  # number_text
        kind = pa.string()
        values = st.one_of(
            st.from_regex(r"\A[+-]?[0-9]{0,22}(\.[0-9]{0,12})?\Z"),
            st.sampled_from(["1e5", " 1", "NaN", "0x1", "1_000", "١٢", ".", "-"]),
        )
    drawn = draw(st.lists(st.none() | values, min_size=size, max_size=size))
    return (pa.dictionary(pa.int32(), kind) if choice == "dictionary" else kind), drawn


def _array(kind: pa.DataType, values: list[Any]) -> pa.Array:
    if pa.types.is_dictionary(kind):
        return pa.array(values, kind.value_type).dictionary_encode()
    if pa.types.is_timestamp(kind):
        return pa.array(values, pa.int64()).cast(kind)
    if pa.types.is_float16(kind):  # no numpy here: through float32
        return pa.array(values, pa.float32()).cast(kind, safe=False)
    if pa.types.is_date64(kind):
        return pa.array(values, pa.date32()).cast(kind)
    return pa.array(values, kind)


def _verdicts(outcomes: list[bytes | RecordInvalid]) -> list[Any]:
    return [
        outcome if isinstance(outcome, bytes) else ("refused", outcome.reason, outcome.problems)
        for outcome in outcomes
    ]


def _row_path(validator: RecordValidator, batch: pa.RecordBatch) -> list[Any]:
    """check_object of each row as ``arrowrows.rows_of`` reads it (``to_pylist``'s, with
    an UnheldValue for a value Python cannot hold, which refuses its row when its field
    loads into a column: tests/test_parquet_values.py holds that part to its reasons)."""
    kept = _BatchPlan(validator, batch.schema).kept
    return _verdicts(_row_outcomes(validator, batch, kept))


def _convertible(array: pa.Array) -> bool:
    try:
        array.to_pylist()
    except (ValueError, OverflowError):
        return False
    return True


def assert_same(make_validator: Any, batch: pa.RecordBatch) -> list[Any]:
    """The encoder's verdicts and counters are the row path's; returns the verdicts."""
    slow_validator, fast_validator = make_validator(), make_validator()
    try:
        expected = _row_path(slow_validator, batch)
    except (ValueError, OverflowError, NoFieldMatches) as exc:
        # no Python value, or no field is a column: both paths stop alike ...
        try:
            got = _verdicts(ArrowChunkEncoder(fast_validator)(ArrowRows(batch)))
        except type(exc) as raised:
            assert str(raised) == str(exc)
            return []
        # ... except that a field the load ignores is never converted: the row path on
        # the batch with such a field all null must then say the same
        assert not isinstance(exc, NoFieldMatches)
        columns = [
            column if _convertible(column) else pa.nulls(len(column), pa.int64())
            for column in batch.columns
        ]
        slow_validator = make_validator()
        ignored = pa.RecordBatch.from_arrays(columns, names=batch.schema.names)
        expected = _row_path(slow_validator, ignored)
    else:
        got = _verdicts(ArrowChunkEncoder(fast_validator)(ArrowRows(batch)))
    assert got == expected
    assert fast_validator.records_coerced == slow_validator.records_coerced
    assert fast_validator.dropped_fields == slow_validator.dropped_fields
    return got


KINDS = ["integer", "numeric", "string", "boolean", "JSON", "date", "timestamp"]


@st.composite
def case(draw: Any) -> tuple[Any, pa.RecordBatch]:
    """A table of one to three columns, a batch whose fields go to them (or not), and the
    options of the load."""
    count = draw(st.integers(1, 3))
    kinds = [draw(st.sampled_from(KINDS)) for _ in range(count)]
    columns = [_column(f"c{i}_{kind.lower()}", kind, draw) for i, kind in enumerate(kinds)]
    schema = TableSchema.from_json({"tableName": "t", "columns": columns})
    names: list[str] = []
    renames: dict[str, str | None] = {}
    arrays: list[pa.Array] = []
    for column in columns:
        how = draw(st.sampled_from(["exact"] * 6 + ["upper", "mapped", "absent"]))
        name = column["name"]
        if how == "upper":
            name = name.upper()
        elif how == "mapped":
            name = "src_" + name
            renames[name] = column["name"]
        elif how == "absent":
            continue
        names.append(name)
        kind, values = draw(arrow_column(column))
        arrays.append(_array(kind, values))
    size = len(arrays[0]) if arrays else draw(st.integers(0, 3))
    extra = draw(st.sampled_from(["none"] * 4 + ["unknown", "dropped", "twice"]))
    if extra == "unknown":
        names.append("stranger")
        arrays.append(pa.array([1] * size, pa.int64()))
    elif extra == "dropped":
        names.append("skip_me")
        renames["skip_me"] = None
        arrays.append(pa.array(["x"] * size))
    elif extra == "twice" and names:
        names.append(names[0])
        arrays.append(arrays[0])
    sizes = {len(array) for array in arrays}
    if len(sizes) > 1:
        size = min(sizes)
        arrays = [array.slice(0, size) for array in arrays]
    batch = pa.RecordBatch.from_arrays(arrays, names=names) if arrays else _empty(size)
    ignore = draw(st.booleans())
    coerce = draw(st.sampled_from([None, False, True]))
    use_fields = draw(st.booleans()) or bool(renames)

    def make_validator() -> RecordValidator:
        fields = (
            FieldMapping(schema.column_names, renames=renames, table="t") if use_fields else None
        )
        return RecordValidator(schema, ignore_unknown_columns=ignore, fields=fields, coerce=coerce)

    return make_validator, batch


def _empty(size: int) -> pa.RecordBatch:
    return pa.RecordBatch.from_pydict({"c0_integer": pa.nulls(size, pa.int64())})


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(case())
def test_the_encoder_is_the_row_path(generated: tuple[Any, pa.RecordBatch]) -> None:
    """Several columns, names exact, folded, mapped, dropped or unknown, every option."""
    make_validator, batch = generated
    assert_same(make_validator, batch)


# Every column type against each Arrow type it has a path for, and a few it refuses.
PATHS = [(kind, choice) for kind, choices in FITTING.items() for choice in choices]
PATHS += [("JSON", "map"), ("JSON", "binary"), ("JSON", "decimal"), ("JSON", "date32")]
PATHS += [("string", "int"), ("integer", "float"), ("date", "date64"), ("boolean", "string")]


@pytest.mark.parametrize(("kind", "choice"), PATHS)
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_each_path_is_the_row_path(kind: str, choice: str, data: st.DataObject) -> None:
    """One column at a time, so that each path meets its own edges often."""
    column = _column("c", kind, data.draw)
    schema = TableSchema.from_json({"tableName": "t", "columns": [column]})
    arrow_type, values = data.draw(arrow_column(column, choice))
    batch = pa.RecordBatch.from_arrays([_array(arrow_type, values)], names=["c"])
    coerce = data.draw(st.sampled_from([None, False, True]))
    assert_same(lambda: RecordValidator(schema, coerce=coerce), batch)


BENCH = TableSchema.from_json(
    {
        "tableName": "bench",
        "columns": [
            {"name": "id", "type": "integer"},
            {"name": "amount", "type": "numeric", "precision": 12, "scale": 2},
            {"name": "ratio", "type": "numeric"},
            {"name": "customer", "type": "string"},
            {"name": "active", "type": "boolean"},
            {"name": "day", "type": "date"},
            {"name": "seen_at", "type": "timestamp", "dateFormat": "YYYY-MM-DD HH24:MI:SS.FF"},
            {"name": "meta", "type": "JSON"},
        ],
    }
)


def _bench_batch(rows: int, *, bad_every: int = 0) -> pa.RecordBatch:
    amounts = [Decimal(n * 37 % 100_000).scaleb(-2) for n in range(rows)]
    if bad_every:  # a numeric(12,2) column holding a too-wide decimal now and then
        amounts = [a * 10**10 if n % bad_every == 1 else a for n, a in enumerate(amounts)]
    return pa.RecordBatch.from_pydict(
        {
            "id": pa.array(range(rows), pa.int64()),
            "amount": pa.array(amounts, pa.decimal128(20, 2)),
            "ratio": pa.array([n / 7 if n % 5 else None for n in range(rows)], pa.float64()),
            "customer": pa.array([f'Zoë "{n}"\n😀' for n in range(rows)]),
            "active": pa.array([n % 3 == 0 for n in range(rows)]),
            "day": pa.array([date(2024, 1 + n % 12, 1 + n % 28) for n in range(rows)]),
            "seen_at": pa.array(
                [datetime(2024, 2, 29, n % 24, 0, 0, n % 1000) for n in range(rows)],
                pa.timestamp("us"),
            ),
            "meta": pa.array(
                [{"source": "web", "tags": ["a", None][: n % 3], "score": n} for n in range(rows)]
            ),
        }
    )


def test_a_large_batch_goes_in_bulk_and_its_refused_rows_slowly() -> None:
    """Whole chunks (the fast path's own scale), all valid, then with a refused row in every
    hundred: same bytes and reasons, and the refused ones name the column."""
    make = lambda: RecordValidator(BENCH)  # noqa: E731
    assert all(isinstance(v, bytes) for v in assert_same(make, _bench_batch(2000)))
    # a resumed read slices its first batch: offsets inside the nested columns too
    assert_same(make, _bench_batch(50).slice(7, 30))
    verdicts = assert_same(make, _bench_batch(2000, bad_every=100))
    refused = [v for v in verdicts if not isinstance(v, bytes)]
    assert len(refused) >= 10 and all("column 'amount'" in r[1] for r in refused)


class _ImportRecorder(importlib.abc.MetaPathFinder):
    """First on sys.meta_path: notes each module an import looks for, and says dateutil
    does not exist (as where it is not installed, whatever this machine has)."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> None:
        self.names.append(fullname)
        if fullname.split(".")[0] == "dateutil":
            raise ModuleNotFoundError(fullname)
        return None


def test_encoding_a_batch_looks_for_no_module(monkeypatch: pytest.MonkeyPatch) -> None:
    """The kernels get typed scalars: a Python number there is inferred by pyarrow, which
    tries `import dateutil` on every call, a search of sys.path each time where it is not
    installed (~90 µs a call). Floats, every timestamp unit and nanoseconds included."""
    batch = _bench_batch(50)
    nanos = pa.array([1_700_000_000_000_000_000 + n * 1000 for n in range(50)], pa.timestamp("ns"))
    batch = batch.append_column("seen_ns", nanos).append_column(
        "seen_ms", pa.array([1_700_000_000_000 + n for n in range(50)], pa.timestamp("ms"))
    )
    schema = TableSchema.from_json(
        {
            "tableName": "t",
            "columns": [
                *BENCH.to_json()["columns"],
                {"name": "seen_ns", "type": "timestamp"},
                {"name": "seen_ms", "type": "timestamp", "dateFormat": "YYYY-MM-DD HH24:MI:SS.FF"},
            ],
        }
    )
    plan = _BatchPlan(RecordValidator(schema), batch.schema)
    plan.encode(batch)  # first use may import what the encoder imports lazily
    for name in [n for n in sys.modules if n.split(".")[0] == "dateutil"]:
        monkeypatch.delitem(sys.modules, name)
    recorder = _ImportRecorder()
    monkeypatch.setattr(sys, "meta_path", [recorder, *sys.meta_path])
    outcomes = plan.encode(batch)
    assert all(isinstance(outcome, bytes) for outcome in outcomes)
    assert recorder.names == []


def test_rows_pickle_as_the_batch_and_read_as_dicts() -> None:
    batch = _bench_batch(3)
    rows = ArrowRows(batch)
    assert len(rows) == 3 and rows
    copy = pickle.loads(pickle.dumps(rows))
    assert isinstance(copy, ArrowRows) and copy.batch.equals(batch)
    assert list(copy) == batch.to_pylist() and rows[1] == batch.to_pylist()[1]


_NAN, _INF = float("nan"), float("inf")
_DAY_ZERO = -62135596800  # 0001-01-01 in seconds since 1970
# (column, Arrow type, edges, a clean value): the rules' edges where the paths part.
EDGES: list[tuple[dict[str, Any], pa.DataType, list[Any], Any]] = [
    ({"type": "integer"}, pa.uint64(), [0, 2**63 - 1, 2**63, 2**64 - 1], 7),
    ({"type": "integer"}, pa.int64(), [-(2**63), 2**63 - 1], 7),
    ({"type": "numeric", "precision": 5, "scale": 0}, pa.int64(), [99999, 10**5, -(10**5)], 7),
    ({"type": "numeric", "precision": 2, "scale": 2}, pa.int32(), [0, 1, -1], 0),
    ({"type": "numeric", "precision": 19, "scale": 0}, pa.uint64(), [10**19 - 1, 10**19], 7),
    (
        {"type": "numeric", "precision": 12, "scale": 2},
        pa.float64(),
        [99.995, 123.45, 1e10, 1e9 + 0.5, 1e-5, 9.5e-6, _NAN, _INF, 3.0, -0.0, 0.125],
        1.5,
    ),
    (
        {"type": "numeric"},
        pa.float64(),
        [1e15, 999999999999999.9, 1e16, 1e-5, 9.5e-6, 2.5e-6, 1e-7, 0.1, -_INF, 1e300],
        1.5,
    ),
    ({"type": "numeric", "precision": 3, "scale": 1}, pa.float32(), [0.1, 0.25, 99.9, 100.0], 1.5),
    ({"type": "JSON"}, pa.float64(), [_NAN, _INF, 1e-5, 9.5e-6, 1e15, 1.0, -0.0, 5e-324], 1.5),
    (
        {"type": "numeric"},
        pa.decimal128(10, 8),
        [Decimal("1e-8"), Decimal("0E-8"), Decimal("1e-7"), Decimal("12.5")],
        Decimal("1.5"),
    ),
    (
        {"type": "numeric", "precision": 12, "scale": 2},
        pa.decimal128(12, 3),
        [Decimal("1.230"), Decimal("1.234"), Decimal("0.000"), Decimal("-0.001")],
        Decimal("1.5"),
    ),
    (
        {"type": "numeric", "precision": 5, "scale": 2},
        pa.decimal128(6, 2),
        [Decimal("999.99"), Decimal("1000.00"), Decimal("-1000.00")],
        Decimal("1.5"),
    ),
    ({"type": "timestamp"}, pa.timestamp("ns"), [0, 1, 1000, -1, -1000, 999], 10**9),
    (
        {"type": "timestamp", "dateFormat": "YYYY-MM-DD HH24:MI:SS.FF"},
        pa.timestamp("us"),
        [-1, 0, 1, 999_999, 10**6 * 86_400 - 1],
        10**6,
    ),
    (
        {"type": "timestamp", "dateFormat": 'YYYY-MM-DD"T"HH24:MI:SS'},
        pa.timestamp("ms"),
        [-1, 1, -86_400_000],
        1000,
    ),
    (
        {"type": "date", "dateFormat": "DD/MM/YYYY"},
        pa.timestamp("s"),
        [_DAY_ZERO, _DAY_ZERO - 1, 253402300799, 253402300800, 951782400],
        0,
    ),
    (
        {"type": "timestamp", "dateFormat": "YYYY-MM-DD HH24:MI:SS.FFTZH:TZM"},
        pa.timestamp("s", tz="+05:30"),
        [0, 951782400],
        0,
    ),
    ({"type": "timestamp"}, pa.timestamp("s", tz="Europe/Paris"), [0, 1711846800], 0),
    (
        {"type": "string"},
        pa.string(),
        ['"', "\\", "\x00", "\x1f", "\x7f", "😀", "\u2028", 'a"b\\c\nd', ""],
        "x",
    ),
    (
        {"type": "JSON"},
        pa.struct([("a", pa.list_(pa.float64())), ("b", pa.struct([("c", pa.string())]))]),
        [{"a": [_NAN, None, 1.0], "b": None}, {"a": None, "b": {"c": '"\n'}}, {"a": [], "b": {}}],
        {"a": [1.5], "b": {"c": "x"}},
    ),
]


@pytest.mark.parametrize(("column", "arrow_type", "edges", "clean"), EDGES)
def test_each_edge_alone_and_together(
    column: dict[str, Any], arrow_type: pa.DataType, edges: list[Any], clean: Any
) -> None:
    """All of a column's edges in one batch, then each alone among clean values (a value
    a path is unsure of sends the whole column another way, which could hide the next)."""
    schema = TableSchema.from_json({"tableName": "t", "columns": [{"name": "c", **column}]})
    batches = [[*edges, None]] + [[clean, edge, clean, None] for edge in edges]
    for values in batches:
        if pa.types.is_timestamp(arrow_type):
            array = pa.array(values, pa.int64()).cast(arrow_type)
        else:
            array = pa.array(values, arrow_type)
        batch = pa.RecordBatch.from_arrays([array], names=["c"])
        for coerce in (None, True):
            assert_same(lambda coerce=coerce: RecordValidator(schema, coerce=coerce), batch)
