"""The emulated Ingestion API (contract section 2) as an aiohttp.web application.

Order of checks on ingest, cheapest refusal first, and never touching data before the
credential is known: credential (401) -> table (404) -> tenant in-flight cap (429) ->
body size while reading (413) -> injected latency and faults -> JSON shape and every
record (400) -> one transaction -> maybe lose the answer (drop-after-commit).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from aiohttp import web

from bulkload.contract.nesting import TOO_DEEP, on_a_fresh_stack
from bulkload.contract.schema import (
    MAX_BODY_BYTES,
    MAX_RECORDS_PER_REQUEST,
    TableSchema,
    definition_problems,
)
from bulkload.contract.validate import RecordInvalid, RecordValidator
from bulkload.emulator.auth import Authenticator, Unauthorized
from bulkload.emulator.config import EmulatorConfig
from bulkload.emulator.faults import THROTTLE_RETRY_AFTER_S, Fault, FaultInjector
from bulkload.emulator.stats import EmulatorStats
from bulkload.emulator.store import (
    BadPageToken,
    RowEncoder,
    RowReader,
    SqlValue,
    Store,
    TableExists,
    row_encoder,
    row_reader,
)
from bulkload.emulator.v2app import V2Service
from bulkload.emulator.v2store import V2Store
from bulkload.errors import ConfigError

MAX_ERRORS_LISTED = 100
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
TOKEN_PATH = "/oauth/token"

_decode_records = msgspec.json.Decoder(list[msgspec.Raw]).decode
_encode = msgspec.json.encode


class HungUp(web.Response):
    """Returned after the connection was closed on purpose: there is no answer to count."""


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status, body=_encode(body), content_type="application/json", headers=headers
    )


def error_response(
    status: int,
    message: str,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    body: dict[str, Any] = {"message": message}
    if errors is not None:
        body["errors"] = errors
    return json_response(status, body, headers)


def hang_up(request: web.Request) -> HungUp:
    if request.transport is not None:
        request.transport.abort()
    return HungUp(status=500)


async def read_capped(request: web.Request, limit: int) -> bytes | None:
    """The body, or None once it is known to exceed ``limit`` (reading at most limit+1)."""
    declared = request.content_length
    if declared is not None and declared > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = await request.content.read(limit + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return None if size > limit else b"".join(chunks)


@dataclass(frozen=True, slots=True)
class _Table:
    schema: TableSchema
    validator: RecordValidator
    read_row: RowReader
    encode_row: RowEncoder

    def to_rows(
        self, raws: list[bytes]
    ) -> tuple[list[Sequence[SqlValue]], list[tuple[int, RecordInvalid]]]:
        """Validate a whole request at once (the validator's bulk path), then read the
        accepted records into SQL parameters; the rows, and the refusals by index."""
        verdicts = self.validator.check_raw_many(raws)
        rows: list[Sequence[SqlValue]] = []
        refused: list[tuple[int, RecordInvalid]] = []
        for index, verdict in enumerate(verdicts):
            if isinstance(verdict, RecordInvalid):
                refused.append((index, verdict))
            elif not refused:  # once one is refused nothing is stored: stop reading rows
                try:
                    rows.append(self.read_row(verdict))
                except msgspec.DecodeError:
                    rows.append(self.encode_row(self.validator.decode(verdict)))
        return rows, refused

    def to_row(self, raw: bytes) -> Sequence[SqlValue]:
        """One record through the same path as a request; raises RecordInvalid."""
        rows, refused = self.to_rows([raw])
        if refused:
            raise refused[0][1]
        return rows[0]


class EmulatedService:
    """The service's state (tables, credentials, faults, counters) and its HTTP handlers."""

    def __init__(self, config: EmulatorConfig, store: Store) -> None:
        self.config = config
        self.store = store
        self.stats = EmulatorStats()
        self.faults = FaultInjector(config.fault_knobs(), seed=config.seed)
        self._auth = Authenticator(
            api_keys=config.api_keys,
            client_id=config.client_id,
            client_secret=config.client_secret,
            token_ttl_s=config.token_ttl_s,
            clock=config.clock,
        )
        self._tables: dict[str, _Table] = {}
        for schema in store.all_tables():
            self._remember(schema)
        self.v2_store = (
            V2Store(store.path, config.v2_objects_placed()) if config.v2_solutions else None
        )
        self.v2 = V2Service(
            solutions=config.v2_solutions,
            objects=config.v2_objects,
            store=self.v2_store if config.store else None,
            stats=self.stats,
            faults=self.faults,
            max_in_flight=config.max_in_flight,
            max_rows=config.v2_max_records,
            rate_per_s=config.v2_rate_per_s,
            clock=config.clock,
        )

    def _remember(self, schema: TableSchema) -> None:
        self._tables[schema.name] = _Table(
            schema=schema,
            validator=RecordValidator(schema),
            read_row=row_reader(schema),
            encode_row=row_encoder(schema),
        )

    def build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._count_and_authenticate])
        app.router.add_post(TOKEN_PATH, self.issue_token)
        app.router.add_post("/api/v1/tables", self.create_table)
        app.router.add_get("/api/v1/tables", self.list_tables)
        app.router.add_get("/api/v1/tables/{name}", self.get_table)
        app.router.add_post("/api/v1/tables/{name}", self.ingest)
        self.v2.add_routes(app)
        app.router.add_get("/_emulator/stats", self.get_stats)
        app.router.add_post("/_emulator/stats/reset", self.reset_stats)
        app.router.add_get("/_emulator/faults", self.get_faults)
        app.router.add_post("/_emulator/faults", self.set_faults)
        return app

    @web.middleware
    async def _count_and_authenticate(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path.startswith("/_emulator/"):
            return await handler(request)
        try:
            if request.path.startswith("/api/"):
                # Before any handler runs, so a bad credential never reaches a body or a table.
                self._auth.check(request.headers.get("Authorization"))
            response = await handler(request)
        except Unauthorized as exc:
            response = error_response(401, str(exc))
        except web.HTTPException as exc:
            self.stats.requests_by_status[exc.status] += 1
            raise
        if not isinstance(response, HungUp):
            self.stats.requests_by_status[response.status] += 1
        return response

    # --- OAuth -------------------------------------------------------------------------

    async def issue_token(self, request: web.Request) -> web.Response:
        form = await request.post()
        fields = {key: value for key, value in form.items() if isinstance(value, str)}
        try:
            token = self._auth.issue_token(fields)
        except Unauthorized as exc:
            return json_response(401, {"error": "invalid_client", "message": str(exc)})
        return json_response(
            200,
            {
                "access_token": token.access_token,
                "token_type": "Bearer",
                "expires_in": token.expires_in_s,
            },
        )

    # --- tables ------------------------------------------------------------------------

    async def create_table(self, request: web.Request) -> web.Response:
        body = await read_capped(request, MAX_BODY_BYTES)
        if body is None:
            return error_response(413, f"table definition over {MAX_BODY_BYTES:,} bytes")
        try:
            definition = msgspec.json.decode(body)
        except msgspec.DecodeError as exc:
            return error_response(400, f"request body is not valid JSON: {exc}", [])
        problems = definition_problems(definition)
        if problems or not isinstance(definition, dict):
            return error_response(
                400, "invalid table definition", [{"message": p} for p in problems]
            )
        schema = TableSchema.from_json(definition)
        try:
            stored = self.store.create_table(schema)
        except TableExists:
            return error_response(409, f"table {schema.name!r} already exists")
        self._remember(stored)
        return json_response(201, stored.to_json())

    async def get_table(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        table = self._tables.get(name)
        if table is None:
            return error_response(404, f"table {name!r} does not exist")
        return json_response(200, table.schema.to_json())

    async def list_tables(self, request: web.Request) -> web.Response:
        limit_text = request.query.get("limit", str(DEFAULT_PAGE_SIZE))
        if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_PAGE_SIZE:
            return error_response(400, f"limit must be an integer 1-{MAX_PAGE_SIZE}")
        try:
            page = self.store.list_tables(
                limit=int(limit_text), page_token=request.query.get("NextToken")
            )
        except BadPageToken:
            return error_response(400, "NextToken is not a token this service issued")
        body: dict[str, Any] = {"tables": [t.to_json() for t in page.tables]}
        if page.next_token is not None:
            body["nextToken"] = page.next_token
        return json_response(200, body)

    # --- ingest ------------------------------------------------------------------------

    async def ingest(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        table = self._tables.get(name)
        if table is None:
            return error_response(404, f"table {name!r} does not exist: create it first")
        if self.stats.in_flight >= self.config.max_in_flight:
            self.stats.over_in_flight_limit += 1
            return error_response(
                429,
                f"more than {self.config.max_in_flight} requests in flight for this tenant",
                headers={"Retry-After": str(THROTTLE_RETRY_AFTER_S)},
            )
        self.stats.request_started()
        try:
            return await self._ingest_in_flight(request, table)
        finally:
            self.stats.request_finished()

    async def _ingest_in_flight(self, request: web.Request, table: _Table) -> web.Response:
        body = await read_capped(request, MAX_BODY_BYTES)
        if body is None:
            self.stats.over_1mb += 1
            self.stats.body_seen(max(request.content_length or 0, MAX_BODY_BYTES + 1))
            return error_response(413, f"request body over {MAX_BODY_BYTES:,} bytes: split it")
        self.stats.body_seen(len(body))

        await self.faults.delay()
        fault = self.faults.pick_fault()
        if fault is Fault.THROTTLE:
            self.stats.faults_throttled += 1
            retry_after = self.faults.throttle_retry_after()
            return error_response(429, "rate limited", headers={"Retry-After": retry_after})
        if fault is Fault.FAIL:
            self.stats.faults_failed += 1
            return error_response(503, "service unavailable (injected fault)")
        if fault is Fault.RESET:
            self.stats.connections_reset += 1
            return hang_up(request)

        refusal = self._store_records(body, table)
        if isinstance(refusal, web.Response):
            return refusal
        count = refusal
        if fault is Fault.DROP_AFTER_COMMIT:
            self.stats.dropped_after_commit += 1
            self.stats.records_dropped_after_commit += count
            return hang_up(request)
        return json_response(200, {"recordsIngested": count})

    def _store_records(self, body: bytes, table: _Table) -> int | web.Response:
        """Validate everything, then store in one transaction; the count or a 400."""
        try:
            records = on_a_fresh_stack(lambda: _decode_records(body))
        except RecursionError:  # even from an empty stack: far past MAX_JSON_DEPTH
            return error_response(400, f"request body is {TOO_DEEP}", [])
        except msgspec.ValidationError:
            return error_response(400, "request body must be a JSON array of records", [])
        except msgspec.DecodeError as exc:
            return error_response(400, f"request body is not valid JSON: {exc}", [])
        if not records:
            return error_response(400, "request body is an empty array: send 1-500 records", [])
        if len(records) > MAX_RECORDS_PER_REQUEST:
            self.stats.over_500_records += 1
            return error_response(
                400,
                f"{len(records)} records in one request; at most {MAX_RECORDS_PER_REQUEST}",
                [],
            )
        if self.config.store:
            rows, refused = table.to_rows([bytes(raw) for raw in records])
            if refused:
                errors = [
                    {"record": index, "column": exc.column, "message": exc.reason}
                    for index, exc in refused[:MAX_ERRORS_LISTED]
                ]
                return error_response(
                    400,
                    f"{len(refused)} of {len(records)} records failed validation; "
                    "nothing was stored",
                    errors,
                )
            self.store.insert_rows(table.schema, rows)
        self.stats.batch_ingested(len(records))
        return len(records)

    # --- emulator control (no auth) ----------------------------------------------------

    def rows_per_table(self) -> dict[str, int]:
        names = [*self._tables, *self.v2.tables]
        if not self.config.store:
            return {name: 0 for name in names}
        counts = {name: self.store.row_count(name) for name in self._tables}
        if self.v2_store is not None:
            counts.update({name: self.v2_store.row_count(name) for name in self.v2.tables})
        return counts

    def stats_json(self) -> dict[str, Any]:
        return self.stats.to_json(self.rows_per_table())

    async def get_stats(self, request: web.Request) -> web.Response:
        return json_response(200, self.stats_json())

    async def reset_stats(self, request: web.Request) -> web.Response:
        self.stats.reset()
        return json_response(200, self.stats_json())

    async def get_faults(self, request: web.Request) -> web.Response:
        return json_response(200, self.faults.knobs.to_json())

    async def set_faults(self, request: web.Request) -> web.Response:
        try:
            changes = msgspec.json.decode(await request.read())
        except msgspec.DecodeError as exc:
            return error_response(400, f"request body is not valid JSON: {exc}")
        if not isinstance(changes, dict):
            return error_response(400, 'send a JSON object of knob values, e.g. {"fail_rate": 0.1}')
        try:
            knobs = self.faults.set_knobs(**changes)
        except ConfigError as exc:
            return error_response(400, str(exc))
        return json_response(200, knobs.to_json())
