"""The emulated Peak v2 API (contract v2 section 2): solutions, schemas, object ingest.

Order of checks on ingest, cheapest refusal first: credential (401, the shared
middleware) -> the tenant's 50 requests/s sliding window (429, not counted) -> object
table (404) -> in-flight cap (429) -> body size (413) -> latency and faults -> the body as
a whole (400) -> every row on its own (the answer's ``failed``) -> one transaction for the
accepted rows and ``<table>_failed_rows`` (none of it on a dry run) -> maybe lose the answer.

The server is strict where the client is forgiving: a row must carry every attribute key
in the schema's exact spelling (else DI_E_00101), and its values must pass the object's
rules (else DI_E_00102, naming the column).
"""

from __future__ import annotations

import collections
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec
from aiohttp import web

from bulkload.contract.schema import MAX_BODY_BYTES
from bulkload.contract.v2schema import Operation, Solution, V2Object
from bulkload.contract.v2validate import V2RecordValidator
from bulkload.contract.validate import RecordInvalid
from bulkload.emulator.faults import THROTTLE_RETRY_AFTER_S, Fault, FaultInjector
from bulkload.emulator.stats import EmulatorStats
from bulkload.emulator.v2store import FailedRowRecord, V2Store

CODE_STRUCTURE = "DI_E_00101"  # not an object, a missing or unknown attribute key
CODE_VALUE = "DI_E_00102"  # a value breaks its attribute's rules
CATEGORY = "VALIDATION"
WINDOW_S = 1.0

_decode_members = msgspec.json.Decoder(dict[str, msgspec.Raw]).decode
_decode_rows = msgspec.json.Decoder(list[msgspec.Raw]).decode
_encode = msgspec.json.encode


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status, body=_encode(body), content_type="application/json", headers=headers
    )


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return _json(status, {"message": message}, headers)


class SlidingWindow:
    """At most ``limit`` calls started in any window of ``window_s`` seconds; a refused
    call does not count (contract v2: every v2 call counts, refused ones do not)."""

    def __init__(self, limit: int, window_s: float, clock: Callable[[], float]) -> None:
        self.limit = limit
        self._window_s = window_s
        self._clock = clock
        self._starts: collections.deque[float] = collections.deque()

    def admit(self) -> float | None:
        """None when admitted; else seconds until a slot frees up."""
        now = self._clock()
        starts = self._starts
        while starts and starts[0] <= now - self._window_s:
            starts.popleft()
        if len(starts) >= self.limit:
            return max(0.0, starts[0] + self._window_s - now)
        starts.append(now)
        return None


@dataclass(frozen=True, slots=True)
class _ObjectTable:
    solution: Solution
    object: V2Object
    validator: V2RecordValidator
    names: frozenset[str]


class V2Service:
    """The v2 routes of one emulated tenant (state shared with the v1 service: the
    credential check, in-flight count, faults and stats)."""

    def __init__(
        self,
        *,
        solutions: tuple[Solution, ...],
        objects: tuple[V2Object, ...],
        store: V2Store | None,
        stats: EmulatorStats,
        faults: FaultInjector,
        max_in_flight: int,
        max_rows: int,
        rate_per_s: int,
        clock: Callable[[], float],
    ) -> None:
        self.solutions = solutions
        self.stats = stats
        self.faults = faults
        self.store = store
        self.max_in_flight = max_in_flight
        self.max_rows = max_rows
        self.window = SlidingWindow(rate_per_s, WINDOW_S, clock)
        self.tables: dict[str, _ObjectTable] = {}
        self.objects_by_solution: dict[str, tuple[V2Object, ...]] = {}
        for solution in solutions:
            placed = tuple(solution.place(o) for o in objects)
            self.objects_by_solution[solution.solution_name] = placed
            for obj in placed:
                self.tables[obj.table_name] = _ObjectTable(
                    solution=solution,
                    object=obj,
                    validator=V2RecordValidator(obj),
                    names=frozenset(obj.column_names),
                )

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/api/v2/schema/solutions", self.list_solutions)
        app.router.add_get("/api/v2/schema", self.get_schema)
        app.router.add_post("/api/v2/objects/{table}", self.ingest)

    def _over_rate(self) -> web.Response | None:
        wait_s = self.window.admit()
        if wait_s is None:
            self.stats.v2_requests += 1
            return None
        self.stats.over_v2_rate_limit += 1
        return _error(
            429,
            f"more than {self.window.limit} requests in one second for this tenant",
            headers={"Retry-After": str(max(THROTTLE_RETRY_AFTER_S, round(wait_s)))},
        )

    # --- schema ------------------------------------------------------------------------

    async def list_solutions(self, request: web.Request) -> web.Response:
        refused = self._over_rate()
        if refused is not None:
            return refused
        return _json(
            200,
            {
                "solutions": [
                    {
                        **s.to_json(),
                        "tableCount": len(self.objects_by_solution[s.solution_name]),
                    }
                    for s in self.solutions
                ]
            },
        )

    async def get_schema(self, request: web.Request) -> web.Response:
        refused = self._over_rate()
        if refused is not None:
            return refused
        name = request.query.get("solutionName")
        if not name:
            return _error(400, "give the solution: /api/v2/schema?solutionName=NAME")
        objects = self.objects_by_solution.get(name)
        if objects is None:
            return _error(404, f"solution {name!r} is not rolled out for this tenant")
        return _json(200, {"solutionName": name, "objects": [o.to_json() for o in objects]})

    # --- ingest ------------------------------------------------------------------------

    async def ingest(self, request: web.Request) -> web.Response:
        refused = self._over_rate()
        if refused is not None:
            return refused
        name = request.match_info["table"]
        table = self.tables.get(name)
        if table is None:
            return _error(404, f"object table {name!r} does not exist in any solution")
        if self.stats.in_flight >= self.max_in_flight:
            self.stats.over_in_flight_limit += 1
            return _error(
                429,
                f"more than {self.max_in_flight} requests in flight for this tenant",
                headers={"Retry-After": str(THROTTLE_RETRY_AFTER_S)},
            )
        self.stats.request_started()
        try:
            return await self._ingest_in_flight(request, table)
        finally:
            self.stats.request_finished()

    async def _ingest_in_flight(self, request: web.Request, table: _ObjectTable) -> web.Response:
        from bulkload.emulator.app import hang_up, read_capped  # app imports this module

        body = await read_capped(request, MAX_BODY_BYTES)
        if body is None:
            self.stats.over_1mb += 1
            return _error(413, f"request body over {MAX_BODY_BYTES:,} bytes: split it")
        self.stats.body_seen(len(body))
        await self.faults.delay()
        fault = self.faults.pick_fault()
        if fault is Fault.THROTTLE:
            self.stats.faults_throttled += 1
            return _error(
                429, "rate limited", headers={"Retry-After": self.faults.throttle_retry_after()}
            )
        if fault is Fault.FAIL:
            self.stats.faults_failed += 1
            return _error(503, "service unavailable (injected fault)")
        if fault is Fault.RESET:
            self.stats.connections_reset += 1
            return hang_up(request)

        parsed = self._read_body(body, table)
        if isinstance(parsed, web.Response):
            return parsed
        operation, dry_run, rows = parsed
        request_id = str(uuid.uuid4())
        # The common case in one bulk check; else row by row, each failing on its own.
        failed: list[dict[str, Any]] = []
        failed_records: list[FailedRowRecord] = []
        if table.validator.all_exact(rows):
            accepted = rows
        else:
            accepted, failed, failed_records = self._judge_each(table, rows, request_id)
        if dry_run:
            self.stats.v2_dry_runs += 1
        elif self.store is not None:
            self.store.store(table.object, operation, accepted, failed_records)
        self.stats.v2_ingests += 1
        self.stats.v2_rows_received += len(rows)
        self.stats.v2_rows_failed += len(failed)
        if not dry_run:
            self.stats.v2_rows_accepted += len(accepted)
            self.stats.batch_ingested(len(accepted))
        if fault is Fault.DROP_AFTER_COMMIT:
            self.stats.dropped_after_commit += 1
            self.stats.records_dropped_after_commit += len(accepted)
            return hang_up(request)
        return _json(
            200,
            {
                "requestId": request_id,
                "received": len(rows),
                "accepted": len(accepted),
                "failed": failed,
            },
        )

    def _read_body(
        self, body: bytes, table: _ObjectTable
    ) -> tuple[Operation, bool, list[bytes]] | web.Response:
        try:
            members = _decode_members(body)
        except msgspec.ValidationError:
            return _error(400, "request body must be a JSON object with solutionName and data")
        except msgspec.DecodeError as exc:
            return _error(400, f"request body is not valid JSON: {exc}")
        fields = {key: bytes(value) for key, value in members.items()}
        solution_raw = fields.get("solutionName")
        solution = msgspec.json.decode(solution_raw) if solution_raw is not None else None
        if not isinstance(solution, str) or not solution:
            return _error(400, "solutionName is missing: name the solution the object belongs to")
        if solution != table.solution.solution_name:
            return _error(
                404, f"object table {table.object.table_name!r} is not in solution {solution!r}"
            )
        operation_raw = fields.get("operationType")
        operation_text = msgspec.json.decode(operation_raw) if operation_raw is not None else None
        operation = Operation.parse(operation_text) if isinstance(operation_text, str) else None
        if operation is None or operation_text != operation.value:
            return _error(400, f"operationType {operation_text!r} is not UPSERT or APPEND")
        if operation is Operation.UPSERT and not table.object.primary_keys:
            return _error(
                400,
                f"UPSERT needs a primary key and object {table.object.object_name!r} has none: "
                "use APPEND",
            )
        dry_raw = fields.get("dryRun", b"false")
        if dry_raw not in (b"true", b"false"):
            return _error(400, "dryRun must be true or false")
        data_raw = fields.get("data")
        try:
            rows = _decode_rows(data_raw) if data_raw is not None else None
        except msgspec.ValidationError:
            rows = None
        if rows is None:
            return _error(400, "data must be an array of rows")
        if not rows:
            return _error(400, f"data is empty: send 1-{self.max_rows} rows")
        if len(rows) > self.max_rows:
            self.stats.over_v2_row_limit += 1
            return _error(400, f"{len(rows)} rows in one request; at most {self.max_rows}")
        return operation, dry_raw == b"true", [bytes(r) for r in rows]

    def _judge_each(
        self, table: _ObjectTable, rows: list[bytes], request_id: str
    ) -> tuple[list[bytes], list[dict[str, Any]], list[FailedRowRecord]]:
        """The accepted rows, the answer's failed entries and the rows for _failed_rows."""
        accepted: list[bytes] = []
        failed: list[dict[str, Any]] = []
        failed_records: list[FailedRowRecord] = []
        for index, raw in enumerate(rows):
            errors = self._judge(table, raw)
            if not errors:
                accepted.append(raw)
                continue
            failed.append({"index": index, "errors": errors})
            failed_records.extend(
                FailedRowRecord(
                    request_id=request_id,
                    row_index=index,
                    row_text=raw.decode(errors="replace"),
                    code=e["code"],
                    category=e["category"],
                    column=e.get("column"),
                    message=e["message"],
                )
                for e in errors
            )
        return accepted, failed, failed_records

    def _judge(self, table: _ObjectTable, raw: bytes) -> list[dict[str, Any]]:
        """The row's errors; empty when it is accepted."""
        try:
            keys = set(_decode_members(raw))
        except (msgspec.DecodeError, msgspec.ValidationError):
            return [_row_error(CODE_STRUCTURE, None, "the row is not a JSON object")]
        missing = [n for n in table.object.column_names if n not in keys]
        unknown = sorted(keys - table.names)
        if missing or unknown:
            return [
                *(_row_error(CODE_STRUCTURE, n, f"attribute {n!r} is missing") for n in missing),
                *(_row_error(CODE_STRUCTURE, n, f"{n!r} is not an attribute") for n in unknown),
            ]
        try:
            table.validator.check_raw(raw)
        except RecordInvalid as exc:
            reason = exc.reason
            prefix = f"column {exc.column!r}: "
            if exc.column is not None and reason.startswith(prefix):
                reason = reason[len(prefix) :]  # the column has its own field
            return [_row_error(CODE_VALUE, exc.column, reason)]
        return []


def _row_error(code: str, column: str | None, message: str) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "category": CATEGORY, "message": message}
    if column is not None:
        error["column"] = column
    return error
