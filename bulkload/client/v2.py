"""Peak v2 on the wire: solutions, schemas, and ingest answers with row-level failures.

``PeakV2Client`` is a PeakClient (same session, credentials, error translation and
secret scrubbing) with the v2 calls added. Answers are read as contract v2 section 3
says the real service may write them: a bare solutions array, ``objects`` or ``tables``,
failed entries that name their row by ``index``, ``rowIndex``, an echoed ``row`` or not
at all, errors as a list or a single ``error``/``message``, counts that may be missing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from bulkload.client.http import PeakClient, _Answer, _Call, _clean, _json_or_none, _snippet_of
from bulkload.contract.v2schema import (
    Solution,
    SolutionSchema,
    V2Object,
    object_list,
    parse_schema,
    parse_solutions,
)
from bulkload.errors import ApiError, NotFound, SchemaDefinitionError

SOLUTIONS_PATH = "/api/v2/schema/solutions"
SCHEMA_PATH = "/api/v2/schema"
OBJECTS_PATH = "/api/v2/objects"
MESSAGE_CHARS = 500

_INDEX_KEYS = ("index", "rowIndex", "row_index", "recordIndex", "record")
_FAILED_KEYS = ("failed", "failedRows", "failed_rows", "failures")


@dataclass(frozen=True, slots=True)
class RowError:
    """One complaint about one row; only ``message`` is sure to be there."""

    message: str
    code: str | None = None
    category: str | None = None
    column: str | None = None

    def describe(self) -> str:
        head = " ".join(p for p in (self.code, self.category) if p)
        where = f"column {self.column!r}: " if self.column else ""
        return f"{head} {where}{self.message}".strip() if head else f"{where}{self.message}"


@dataclass(frozen=True, slots=True)
class FailedRow:
    """One entry of a 200's ``failed`` list, as far as the server identified its row."""

    index: int | None  # 0-based position in ``data``, when the server gave one
    row: Any  # the row echoed back, when it was; else None
    errors: tuple[RowError, ...]
    text: str  # the entry as the server wrote it (scrubbed, one line), for the record

    def describe(self) -> str:
        if not self.errors:
            return f"failed on the server: {self.text}"
        return "; ".join(e.describe() for e in self.errors)


@dataclass(frozen=True, slots=True)
class V2IngestResult:
    status: int
    latency_s: float
    received: int | None  # None: the answer did not say
    accepted: int | None
    failed: tuple[FailedRow, ...]
    request_id: str | None = None

    def accepted_of(self, sent: int) -> int:
        """Rows that count as ingested: every row not failed (the count is a hint only)."""
        return max(0, sent - len(self.failed))


@dataclass(frozen=True, slots=True)
class AttributedFailures:
    """Failed entries tied to positions of the request, and the ones that could not be."""

    by_position: dict[int, tuple[FailedRow, ...]]
    unattributed: tuple[FailedRow, ...]


def attribute_failures(failed: Sequence[FailedRow], records: Sequence[bytes]) -> AttributedFailures:
    """Tie each failed entry to one row of the request: by its index when in range, else by
    the echoed row (the first equal one not yet named); an entry that names no row of the
    request is unattributed, never guessed."""
    by_position: dict[int, list[FailedRow]] = {}
    unattributed: list[FailedRow] = []
    parsed: list[Any] | None = None
    for entry in failed:
        position: int | None = None
        if entry.index is not None and 0 <= entry.index < len(records):
            position = entry.index
        elif entry.index is None and entry.row is not None:
            if parsed is None:
                parsed = [_json_or_none(r) for r in records]
            candidates = [i for i, value in enumerate(parsed) if value == entry.row]
            position = next((i for i in candidates if i not in by_position), None)
            if position is None and candidates:
                position = candidates[0]  # a second complaint about a row already named
        if position is None:
            unattributed.append(entry)
        else:
            by_position.setdefault(position, []).append(entry)
    return AttributedFailures(
        by_position={i: tuple(v) for i, v in by_position.items()},
        unattributed=tuple(unattributed),
    )


class PeakV2Client(PeakClient):
    """PeakClient plus the v2 calls; use as ``async with PeakV2Client(config) as client``."""

    async def __aenter__(self) -> PeakV2Client:
        await super().__aenter__()
        return self

    def _v2_url(self, path: str) -> str:
        return self._config.base_url.rstrip("/") + path

    async def list_solutions(self) -> list[Solution]:
        call = _Call("listing solutions")

        async def fetch() -> _Answer:
            answer = await self._request("GET", self._v2_url(SOLUTIONS_PATH), call)
            self._raise_v2(answer, call, not_found=self._no_v2_message(SOLUTIONS_PATH))
            return answer

        answer = await self._retried(fetch)  # a start-up read: retried like get_table
        try:
            return parse_solutions(_json_or_none(answer.body))
        except SchemaDefinitionError as exc:
            raise self._unreadable(answer, "listing solutions", exc) from None

    async def get_schema(self, solution: str) -> SolutionSchema:
        call = _Call(f"getting the schema of solution {solution!r}")

        async def fetch() -> _Answer:
            answer = await self._request(
                "GET", self._v2_url(SCHEMA_PATH), call, params={"solutionName": solution}
            )
            self._raise_v2(
                answer,
                call,
                not_found=f"solution {solution!r} does not exist for this tenant: "
                "see `bulkload solutions list` for the rolled-out ones",
            )
            return answer

        answer = await self._retried(fetch)  # a start-up read: retried like get_table
        parsed = _json_or_none(answer.body)
        known: Solution | str = solution
        if _lacks_table_names(parsed):
            # Only then are prefix and suffix needed: the table is prefix + object + suffix.
            listed = {s.solution_name: s for s in await self.list_solutions()}
            known = listed.get(solution, solution)
        try:
            return parse_schema(parsed, solution=known)
        except SchemaDefinitionError as exc:
            raise self._unreadable(answer, call.action, exc) from None

    async def get_object(self, solution: str, name: str) -> V2Object:
        schema = await self.get_schema(solution)
        found = schema.find(name)
        if found is None:
            names = ", ".join(o.object_name for o in schema.objects) or "none"
            raise NotFound(
                f"solution {solution!r} has no object {name!r} (its objects: {names}); "
                f"see `bulkload objects list --solution {solution}`"
            )
        return found

    async def ingest_v2(
        self, table_name: str, body: bytes, *, timeout_s: float | None = None
    ) -> V2IngestResult:
        """POST ``body`` (the whole v2 body, wrapper included) to the object's table."""
        call = _Call(f"ingesting into object table {table_name!r}")
        started = self._clock()
        answer = await self._request(
            "POST",
            self._v2_url(f"{OBJECTS_PATH}/{quote(table_name, safe='')}"),
            call,
            body=body,
            timeout_s=timeout_s,
            lenient_success=True,
        )
        self._raise_v2(
            answer,
            call,
            not_found=f"object table {table_name!r} or its solution is not known to the API: "
            "check the names with `bulkload objects list --solution S`",
            body_bytes=len(body),
        )
        return self._read_ingest(answer, max(0.0, self._clock() - started))

    # -- reading answers ----------------------------------------------------------------

    def _no_v2_message(self, path: str) -> str:
        return (
            f"{self._config.base_url}{path} answered 404: this base URL serves no v2 API; "
            "check PEAK_BASE_URL"
        )

    def _raise_v2(
        self, answer: _Answer, call: _Call, *, not_found: str, body_bytes: int | None = None
    ) -> None:
        if answer.status == 404:
            raise NotFound(not_found, status=404)
        self._raise_for_status(answer, _Call(call.action), body_bytes=body_bytes)

    def _unreadable(self, answer: _Answer, action: str, exc: Exception) -> ApiError:
        return ApiError(
            f"{action}: the API answered {answer.status} with something bulkload can't read "
            f"({exc}); body: {self._detail(answer.body)}",
            status=answer.status,
        )

    def _read_ingest(self, answer: _Answer, latency_s: float) -> V2IngestResult:
        parsed = _json_or_none(answer.body)
        if not isinstance(parsed, Mapping):
            parsed = {}
        failed_obj: list[Any] = next(
            (parsed[k] for k in _FAILED_KEYS if isinstance(parsed.get(k), list)), []
        )
        request_id = parsed.get("requestId")
        return V2IngestResult(
            status=answer.status,
            latency_s=latency_s,
            received=_count(parsed.get("received")),
            accepted=_count(parsed.get("accepted")),
            failed=tuple(self._failed_row(entry) for entry in failed_obj),
            request_id=request_id if isinstance(request_id, str) else None,
        )

    def _failed_row(self, entry: Any) -> FailedRow:
        text = self._scrub(_snippet_of(entry))
        if not isinstance(entry, Mapping):
            message = entry if isinstance(entry, str) else text
            return FailedRow(
                index=entry if _is_count(entry) else None,
                row=None,
                errors=(RowError(message=_clean(self._scrub(message), MESSAGE_CHARS)),),
                text=text,
            )
        index = next((entry[k] for k in _INDEX_KEYS if _is_count(entry.get(k))), None)
        row = entry.get("row")
        if _is_count(row) and index is None:
            index, row = row, None  # a row number, not the row
        errors_obj = entry.get("errors")
        if errors_obj is None:
            single = entry.get("error")
            if single is None and entry.get("message") is not None:
                single = {k: entry.get(k) for k in ("code", "category", "column", "message")}
            errors_obj = [] if single is None else [single]
        if not isinstance(errors_obj, list):
            errors_obj = [errors_obj]
        errors = tuple(self._row_error(e, entry) for e in errors_obj)
        return FailedRow(
            index=index, row=row if isinstance(row, Mapping) else None, errors=errors, text=text
        )

    def _row_error(self, error: Any, entry: Mapping[str, Any]) -> RowError:
        def text_of(obj: Mapping[str, Any], *keys: str) -> str | None:
            value = next((obj[k] for k in keys if isinstance(obj.get(k), str)), None)
            return _clean(self._scrub(value), MESSAGE_CHARS) if value else None

        if isinstance(error, Mapping):
            message = text_of(error, "message", "error", "detail", "reason")
            return RowError(
                message=message or self._scrub(_snippet_of(error)),
                code=text_of(error, "code", "errorCode") or text_of(entry, "code", "errorCode"),
                category=text_of(error, "category") or text_of(entry, "category"),
                column=text_of(error, "column", "attribute", "field") or text_of(entry, "column"),
            )
        message = error if isinstance(error, str) else _snippet_of(error)
        return RowError(
            message=_clean(self._scrub(message), MESSAGE_CHARS),
            code=text_of(entry, "code", "errorCode"),
            category=text_of(entry, "category"),
            column=text_of(entry, "column"),
        )


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _count(value: Any) -> int | None:
    return value if _is_count(value) else None


def _lacks_table_names(parsed: Any) -> bool:
    entries = object_list(parsed)
    return isinstance(entries, list) and any(
        isinstance(e, Mapping) and not e.get("tableName") for e in entries
    )
