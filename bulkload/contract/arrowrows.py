"""A Parquet chunk's rows: a record batch that reads as a list of dicts only when asked.

Kept apart from arrowfast.py, and free of any pyarrow import at module level, so that the
chunk checker can recognise these rows (and hand them to ``ArrowChunkEncoder``, imported
only then) without every load importing pyarrow.

A Parquet file can hold values Python cannot: timestamps, times and durations with
nanoseconds (Python's datetime holds microseconds), dates and timestamps outside years
1-9999. pyarrow's ``to_pylist`` raises on the first of them, which would end the whole
load; ``rows_of`` reads each such value as an ``UnheldValue`` instead (Arrow's text of it
and why), so only its record is refused (``unheld_problems`` words the reason).
Nanosecond values are read here, never by pyarrow, so that a whole-microsecond one is a
datetime and any other one is refused whether or not pandas is installed (with pandas,
pyarrow would hand back a pandas Timestamp and the nanoseconds would be lost silently).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


class UnheldValue(str):
    """A value Python cannot hold, as Arrow writes it ("2017-07-14 02:40:00.123456789");
    ``why`` completes the reason. A str, so the rejects file writes the record as read."""

    why: str

    def __new__(cls, text: str, why: str) -> UnheldValue:
        value = super().__new__(cls, text)
        value.why = why
        return value

    def __reduce__(self) -> tuple[Any, ...]:
        return (UnheldValue, (str(self), self.why))


NANOSECONDS = "has nanoseconds, finer than the microseconds a value can hold"
OUT_OF_RANGE = "is outside the years 1-9999 a value can hold"


def rows_of(batch: Any) -> tuple[list[dict[str, Any]], bool]:
    """The batch's rows as dicts (``to_pylist``'s), and whether any holds an UnheldValue."""
    columns = [batch.column(index) for index in range(batch.num_columns)]
    if not any(map(_has_nanoseconds, (column.type for column in columns))):
        try:
            return batch.to_pylist(), False
        except _errors():
            pass
    names = batch.schema.names
    values = [_values_of(column) for column in columns]
    if not values:
        return [{} for _ in range(batch.num_rows)], False
    rows: list[dict[str, Any]] = []
    unheld = False
    for row in zip(*values, strict=True):
        if any(map(_holds_unheld, row)):
            rows.append(UnheldRow(zip(names, row, strict=True)))
            unheld = True
        else:
            rows.append(dict(zip(names, row, strict=True)))
    return rows, unheld


class UnheldRow(dict[str, Any]):
    """A row holding at least one UnheldValue (``rows_of`` makes them): a validator that
    takes rows one by one sees by its type alone, without looking at every value, that
    the row needs ``first_unheld`` (v2validate does)."""

    __slots__ = ()


def unheld_problems(row: dict[str, Any]) -> list[str]:
    """One problem per field whose value (or a value inside it) is an UnheldValue."""
    problems = []
    for key, value in row.items():
        found = first_unheld(value)
        if found is not None:
            problems.append(f"column {key!r}: {str(found)!r} {found.why}")
    return problems


def _errors() -> tuple[type[BaseException], ...]:
    import pyarrow

    return (ValueError, OverflowError, TypeError, pyarrow.ArrowException)


def _has_nanoseconds(arrow_type: Any) -> bool:
    import pyarrow as pa

    types = pa.types
    if types.is_timestamp(arrow_type) or types.is_duration(arrow_type):
        return bool(arrow_type.unit == "ns")
    if types.is_time64(arrow_type):
        return bool(arrow_type.unit == "ns")
    if types.is_dictionary(arrow_type):
        return _has_nanoseconds(arrow_type.value_type)
    fields = getattr(arrow_type, "num_fields", 0)
    return any(_has_nanoseconds(arrow_type.field(index).type) for index in range(fields))


def _values_of(array: Any) -> list[Any]:
    """``array.to_pylist()``, with an UnheldValue where a value cannot be a Python one."""
    import pyarrow as pa

    kind = array.type
    if pa.types.is_dictionary(kind):
        return _values_of(array.dictionary_decode())
    if _has_nanoseconds(kind) and (
        pa.types.is_timestamp(kind) or pa.types.is_duration(kind) or pa.types.is_time64(kind)
    ):
        return _nanosecond_values(array)
    if not _has_nanoseconds(kind):
        try:
            values: list[Any] = array.to_pylist()
            return values
        except _errors():
            pass
    if pa.types.is_struct(kind):
        names = [kind.field(index).name for index in range(kind.num_fields)]
        # flatten(), unlike field(), honours a sliced array's offset
        children = [_values_of(child) for child in array.flatten()]
        valid = array.is_valid().to_pylist()
        return [
            dict(zip(names, row, strict=True)) if ok else None
            for ok, row in zip(valid, zip(*children, strict=True), strict=True)
        ] if children else [{} if ok else None for ok in valid]  # fmt: skip
    if pa.types.is_map(kind):
        # keys and items are the whole children, which the offsets index (a slice too)
        pairs = zip(_values_of(array.keys), _values_of(array.items), strict=True)
        return _split(array, list(pairs), 0)
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        # flatten() starts at the first offset
        offsets = array.offsets
        return _split(array, _values_of(array.flatten()), offsets[0].as_py() if len(offsets) else 0)
    return [_value_of(array[index]) for index in range(len(array))]


def _split(array: Any, flat: list[Any], first: int) -> list[Any]:
    """A list array's values, ``flat`` (its child's from offset ``first``) cut at its
    offsets."""
    offsets = array.offsets.to_pylist()
    valid = array.is_valid().to_pylist()
    return [
        flat[start - first : stop - first] if ok else None
        for ok, start, stop in zip(valid, offsets, offsets[1:], strict=False)
    ]


def _nanosecond_values(array: Any) -> list[Any]:
    """Timestamps, times and durations in ns: each a Python value where it is whole
    microseconds, else an UnheldValue."""
    import pyarrow as pa

    kind = array.type
    if pa.types.is_timestamp(kind):
        micro = pa.timestamp("us", kind.tz)
    elif pa.types.is_duration(kind):
        micro = pa.duration("us")
    else:
        micro = pa.time64("us")
    counts = array.cast(pa.int64()).to_pylist()
    values: list[Any] = array.cast(micro, safe=False).to_pylist()
    unit = "ns" if pa.types.is_duration(kind) else ""  # Arrow writes a duration as a count
    for index, count in enumerate(counts):
        if count is not None and count % 1000:
            values[index] = UnheldValue(_text(array[index]) + unit, NANOSECONDS)
    return values


def _value_of(scalar: Any) -> Any:
    try:
        return scalar.as_py()
    except OverflowError:
        return UnheldValue(_text(scalar), OUT_OF_RANGE)
    except _errors() as exc:
        message = " ".join(str(exc).split())
        return UnheldValue(_text(scalar), f"cannot be read as a value ({message})")


def _text(scalar: Any) -> str:
    import pyarrow as pa

    try:
        text = scalar.cast(pa.string()).as_py()
    except _errors():
        text = None
    return str(scalar) if text is None else str(text)


def _holds_unheld(value: Any) -> bool:
    return first_unheld(value) is not None


def first_unheld(value: Any) -> UnheldValue | None:
    """The first UnheldValue that ``value`` is or holds (inside lists and dicts), or None."""
    if isinstance(value, UnheldValue):
        return value
    if isinstance(value, dict):
        value = value.values()
    elif not isinstance(value, list | tuple):
        return None
    for inner in value:
        found = first_unheld(inner)
        if found is not None:
            return found
    return None


class ArrowRows(list[dict[str, Any]]):
    """A record batch's rows for a Chunk: dicts (``rows_of``) only once someone iterates
    or indexes them; ``ArrowChunkEncoder`` reads ``batch``'s columns instead. It pickles as
    the batch (Arrow buffers), not as dicts of Python objects."""

    __slots__ = ("_filled", "batch")

    def __init__(self, batch: Any) -> None:
        super().__init__()
        self.batch = batch
        self._filled = False

    def _rows(self) -> list[dict[str, Any]]:
        if not self._filled:
            self._filled = True
            list.extend(self, rows_of(self.batch)[0])
        return self

    def __len__(self) -> int:
        return int(self.batch.num_rows)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return list.__iter__(self._rows())

    def __getitem__(self, index: Any) -> Any:
        return list.__getitem__(self._rows(), index)

    def __contains__(self, value: object) -> bool:
        return list.__contains__(self._rows(), value)

    def __eq__(self, other: object) -> bool:
        return list.__eq__(self._rows(), other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"ArrowRows({self.batch.num_rows} rows)"

    def __reduce__(self) -> tuple[Any, ...]:
        return (ArrowRows, (self.batch,))


__all__ = ["ArrowRows", "UnheldRow", "UnheldValue", "first_unheld", "rows_of", "unheld_problems"]
