"""A Parquet chunk's rows: a record batch that reads as a list of dicts only when asked.

Kept apart from arrowfast.py, and free of any pyarrow import, so that the chunk checker
can recognise these rows (and hand them to ``ArrowChunkEncoder``, imported only then)
without every load importing pyarrow.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


class ArrowRows(list[dict[str, Any]]):
    """A record batch's rows for a Chunk: dicts (pyarrow's ``to_pylist``) only once someone
    iterates or indexes them; ``ArrowChunkEncoder`` reads ``batch``'s columns instead. It
    pickles as the batch (Arrow buffers), not as dicts of Python objects."""

    __slots__ = ("_filled", "batch")

    def __init__(self, batch: Any) -> None:
        super().__init__()
        self.batch = batch
        self._filled = False

    def _rows(self) -> list[dict[str, Any]]:
        if not self._filled:
            self._filled = True
            list.extend(self, self.batch.to_pylist())
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


__all__ = ["ArrowRows"]
