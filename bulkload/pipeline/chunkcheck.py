"""The per-chunk CPU work of a load: each item of a chunk becomes the JSON bytes to send,
or the reason it is refused. The same code runs in the loader process (``--workers 0``)
and in worker processes (``pipeline/workers.py``), so where it runs cannot change a byte.

It touches nothing but the validator it owns: the order of chunks, the batches and the
rejects stay with the producer, which takes verdicts in input order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from bulkload.contract.arrowrows import ArrowRows
from bulkload.contract.csvfast import CsvChunkEncoder
from bulkload.contract.v2validate import V2RecordValidator
from bulkload.contract.validate import RecordInvalid, RecordValidator
from bulkload.pipeline.readers.chunks import ChunkKind

Validator = RecordValidator | V2RecordValidator
Outcome = bytes | RecordInvalid


@dataclass(slots=True)
class Verdict:
    """What became of one chunk's items, in their order."""

    # None: every item goes as it is (raw JSON that passed whole); else one per item
    outcomes: Sequence[Outcome] | None
    all_bytes: bool  # no item is refused (outcomes None, or bytes only)
    # what the options did to these items (--coerce, --ignore-unknown-columns)
    records_coerced: int = 0
    fields_dropped: dict[str, int] | None = None


def _outcomes(encode: Callable[[Any], bytes], items: Iterable[Any]) -> Iterator[Outcome]:
    """Each item's bytes to send, or why it is refused (what check_raw_many gives in bulk)."""
    for item in items:
        try:
            yield encode(item)
        except RecordInvalid as exc:
            yield exc


class ChunkChecker:
    """Turns chunks into verdicts with one validator and its per-header encoders."""

    def __init__(self, validator: Validator) -> None:
        self.validator = validator
        self._csv_encoders: dict[tuple[str, ...], Callable[[Any], bytes]] = {}
        self._csv_chunk_encoders: dict[tuple[str, ...], CsvChunkEncoder] = {}
        self._arrow_encoder: Callable[[ArrowRows], list[Outcome]] | None = None

    def check(
        self, kind: ChunkKind, header: Sequence[str] | None, exact_header: bool, items: list[Any]
    ) -> Verdict:
        """``exact_header``: every CSV header name is its column's own (no --map, no case
        folding), so the chunk-at-a-time encoder, which knows nothing of a mapping, may
        take the rows. The header's own problems were raised by the caller already."""
        validator = self.validator
        coerced_before, dropped_before = self._counters()
        outcomes: Sequence[Outcome]
        if kind is ChunkKind.RAW_JSON:
            outcomes = validator.check_raw_many(items)
            if outcomes is items:
                return self._verdict(None, True, coerced_before, dropped_before)
        elif kind is ChunkKind.CSV_ROWS:
            names = tuple(header or ())
            if exact_header and isinstance(validator, RecordValidator):
                chunk_encoder = self._csv_chunk_encoders.get(names)
                if chunk_encoder is None:
                    chunk_encoder = CsvChunkEncoder(validator, list(names))
                    self._csv_chunk_encoders[names] = chunk_encoder
                outcomes = chunk_encoder(items)
            else:
                encode = self._csv_encoders.get(names)
                if encode is None:
                    encode = self._csv_encoders[names] = validator.csv_encoder(list(names))
                outcomes = list(_outcomes(encode, items))
        elif isinstance(validator, RecordValidator) and isinstance(items, ArrowRows):
            # Parquet: the record batch a column at a time (contract/arrowfast.py)
            if self._arrow_encoder is None:
                from bulkload.contract.arrowfast import ArrowChunkEncoder  # imports pyarrow

                self._arrow_encoder = ArrowChunkEncoder(validator)
            outcomes = self._arrow_encoder(items)
        else:
            outcomes = list(_outcomes(validator.check_object, items))
        all_bytes = set(map(type, outcomes)) <= {bytes}
        return self._verdict(outcomes, all_bytes, coerced_before, dropped_before)

    def _counters(self) -> tuple[int, Counter[str] | None]:
        validator = self.validator
        if not isinstance(validator, RecordValidator):  # a v2 validator keeps no such counts
            return 0, None
        dropped = validator.dropped_fields
        return validator.records_coerced, (Counter(dropped) if dropped else None)

    def _verdict(
        self,
        outcomes: Sequence[Outcome] | None,
        all_bytes: bool,
        coerced_before: int,
        dropped_before: Counter[str] | None,
    ) -> Verdict:
        validator = self.validator
        if not isinstance(validator, RecordValidator):
            return Verdict(outcomes, all_bytes)
        dropped: dict[str, int] | None = None
        if validator.dropped_fields:
            delta = Counter(validator.dropped_fields)
            if dropped_before:
                delta.subtract(dropped_before)
            dropped = {name: count for name, count in delta.items() if count}
        return Verdict(
            outcomes, all_bytes, validator.records_coerced - coerced_before, dropped or None
        )


__all__ = ["ChunkChecker", "Outcome", "Validator", "Verdict"]
