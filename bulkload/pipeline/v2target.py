"""Loading a Peak v2 object: what the pipeline needs to know beyond a v1 table.

``V2Target`` is the caller's choice (solution, operation, validate-only); ``resolve``
fetches the object and settles the operation (UPSERT when the object has a primary key,
else APPEND); ``V2Plan`` then gives the rest of the pipeline what differs from v1: the
row validator, the body wrapper the batcher counts, the checkpoint identity, and an
adapter that makes PeakV2Client's answers read like the sender's (rows refused on their
own, tied to their position in the request, or kept as failures naming no row).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from bulkload.client.v2 import V2IngestResult, attribute_failures
from bulkload.contract.v2schema import Operation, V2Object, wrapper_bytes
from bulkload.contract.v2validate import V2RecordValidator
from bulkload.errors import ConfigError
from bulkload.pipeline.sender import RowFailures

API_VERSION = "v2"
UNATTRIBUTED_PREFIX = "server reported a failure naming no row of the request: "


@dataclass(frozen=True, slots=True)
class V2Target:
    """Load an object of a Peak v2 solution (``bulkload load OBJECT --solution S``)."""

    solution: str
    operation: Operation | None = None  # None: UPSERT when the object has a primary key
    validate_only: bool = False  # every batch with dryRun: true; nothing is written


class V2Api(Protocol):
    async def get_object(self, solution: str, name: str) -> V2Object: ...

    async def ingest_v2(
        self, table_name: str, body: bytes, *, timeout_s: float | None = None
    ) -> V2IngestResult: ...


@dataclass(frozen=True, slots=True)
class V2Plan:
    target: V2Target
    object: V2Object
    operation: Operation

    @property
    def table_name(self) -> str:
        return self.object.table_name

    def body_wrapper(self) -> tuple[bytes, bytes]:
        return wrapper_bytes(
            self.target.solution, self.operation, dry_run=self.target.validate_only
        )

    def validator(self, *, ignore_unknown_columns: bool) -> V2RecordValidator:
        return V2RecordValidator(self.object, ignore_unknown_columns=ignore_unknown_columns)

    def identity(self) -> dict[str, Any]:
        """What a checkpoint must match to be resumed: another solution, object, operation
        or a validate-only run is another load."""
        return {
            "api": API_VERSION,
            "solution": self.target.solution,
            "object": self.object.object_name,
            "table": self.object.table_name,
            "operation": self.operation.value,
            "validate_only": self.target.validate_only,
            "schema": self.object.to_json(),
        }

    def describe(self) -> str:
        return (
            f"object {self.object.object_name} (table {self.object.table_name}) of solution "
            f"{self.target.solution}"
        )


async def resolve(api: V2Api, object_name: str, target: V2Target) -> V2Plan:
    obj = await api.get_object(target.solution, object_name)
    operation = target.operation or obj.default_operation()
    if operation is Operation.UPSERT and not obj.primary_keys:
        raise ConfigError(
            f"object {obj.object_name!r} of solution {target.solution!r} has no primary key, "
            "so rows can't be upserted: load it with --operation append"
        )
    return V2Plan(target=target, object=obj, operation=operation)


@dataclass(frozen=True, slots=True)
class V2Answer:
    """A v2 200 as the sender reads it (see ``Sender._settle_success``)."""

    result: V2IngestResult

    @property
    def records_ingested(self) -> int | None:
        return None  # every row not failed counts; the answer's counts are hints only

    @property
    def latency_s(self) -> float:
        return self.result.latency_s

    def row_failures(self, records: Sequence[bytes]) -> RowFailures:
        attributed = attribute_failures(self.result.failed, records)
        return RowFailures(
            by_position={
                position: "server: " + "; ".join(entry.describe() for entry in entries)
                for position, entries in attributed.by_position.items()
            },
            unattributed=[
                UNATTRIBUTED_PREFIX + entry.describe() for entry in attributed.unattributed
            ],
        )


class V2Ingest:
    """PeakV2Client as the sender's IngestApi: ``table`` is the object's table name."""

    def __init__(self, api: V2Api) -> None:
        self._api = api

    async def ingest(self, table: str, body: bytes, *, timeout_s: float | None = None) -> V2Answer:
        return V2Answer(await self._api.ingest_v2(table, body, timeout_s=timeout_s))
