"""PeakClient: the Ingestion API on the wire, and the one place its answers become errors.

Everything aiohttp can raise, and every status the API can answer, is translated here,
once, into the tree of ``bulkload.errors``; callers above never see aiohttp. Where the
contract (section 3) says the real service may differ from the emulator, this module
reads answers leniently: error bodies of any shape, ``Retry-After`` in either form,
success bodies without a count, and either spelling of the list token. No redirect is
followed (``client/redirects.py``). Given a ``retry_policy``, the reads a load makes before
sending (the table, list pages, and the OAuth token they need) are retried under it.
"""

from __future__ import annotations

import asyncio
import logging
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote

import aiohttp
import orjson

from bulkload.client.auth import ApiKeyAuth, Authenticator, OAuthClientCredentials
from bulkload.client.redirects import is_redirect, redirected
from bulkload.client.retry_after import parse_retry_after
from bulkload.config import ApiConfig
from bulkload.contract.schema import MAX_BODY_BYTES, TableSchema
from bulkload.errors import (
    ApiError,
    AuthError,
    ConfigError,
    Conflict,
    NotFound,
    RecordError,
    RecordsRejected,
    RequestTooLarge,
    SchemaDefinitionError,
    ServerFault,
    Throttled,
    TransportError,
)
from bulkload.retry import RetryPolicy, call_with_retries

log = logging.getLogger(__name__)
T = TypeVar("T")

TABLES_PATH = "/api/v1/tables"
MAX_LIST_PAGE_SIZE = 100
SNIPPET_CHARS = 200
RECORD_ERRORS_IN_MESSAGE = 3
USER_AGENT = "bulkload/0.1"

# Spellings of the success count seen or plausible in the wild, compared with case and
# underscores ignored (contract section 3: the count may be missing or named differently).
_COUNT_KEYS = frozenset(
    {
        "recordsingested",
        "ingested",
        "ingestedrecords",
        "count",
        "recordcount",
        "records",
        "numrecords",
    }
)
_ENVELOPE_KEYS = ("data", "result")


@dataclass(frozen=True, slots=True)
class IngestResult:
    records_ingested: int | None  # None when the success body lacked or renamed the count
    status: int
    latency_s: float


@dataclass(frozen=True, slots=True)
class _Answer:
    url: str  # what was asked for: a relative Location resolves against it
    status: int
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class _Call:
    """What a request is about, for messages: ``action`` reads as the subject of a sentence."""

    action: str
    table: str | None = None


class PeakClient:
    """One HTTP session to the Ingestion API; use as ``async with PeakClient(config) as c``.

    ``retry_policy`` (None: no retries) is applied to ``get_table`` and each page of
    ``list_tables``, token request included, waiting with ``sleep``; ``create_table`` and
    ``ingest`` are never retried here (a resent POST may be stored twice: the caller knows
    whether that is safe).
    """

    def __init__(
        self,
        config: ApiConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
        retry_policy: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self._config = config
        self._clock = clock
        self._retry_policy = retry_policy
        self._sleep = sleep
        self._tables_url = config.base_url.rstrip("/") + TABLES_PATH
        self._table_urls: dict[str, str] = {}
        self._session: aiohttp.ClientSession | None = None
        self._auth: Authenticator | None = None
        # Every token sent so far, so a server echoing an old one can't leak it into a
        # message; tokens change at most a few times a day, so this stays tiny.
        self._sent_tokens: set[str] = set()

    def __repr__(self) -> str:
        return f"PeakClient(base_url={self._config.base_url!r})"

    @property
    def auth(self) -> Authenticator | None:
        """The credential in use while the client is open (None before and after)."""
        return self._auth

    async def __aenter__(self) -> PeakClient:
        self._config.require_credentials()
        connections = self._config.max_connections
        # limit_per_host as well as limit: the pool must never queue requests the sender
        # already admitted under the API's 30-in-flight cap.
        connector = aiohttp.TCPConnector(limit=connections, limit_per_host=connections)
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(
                total=self._config.request_timeout_s, connect=self._config.connect_timeout_s
            ),
            # Answers are a few hundred bytes: ask for them uncompressed and skip the decoder.
            auto_decompress=False,
            headers={"Accept-Encoding": "identity", "User-Agent": USER_AGENT},
        )
        if self._config.oauth is not None:
            self._auth = OAuthClientCredentials(self._config.oauth, self._session, self._clock)
        else:
            assert self._config.api_key is not None  # require_credentials checked
            self._auth = ApiKeyAuth(self._config.api_key)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        session, self._session, self._auth = self._session, None, None
        if session is not None:
            await session.close()

    # -- tables ------------------------------------------------------------------------

    async def create_table(self, schema: TableSchema) -> TableSchema:
        """Create ``schema``; returns the stored table (the sent one if the answer is unreadable)."""
        definition = {"tableName": schema.name, "columns": [c.to_json() for c in schema.columns]}
        call = _Call(f"creating table {schema.name!r}", schema.name)
        answer = await self._request("POST", self._tables_url, call, body=orjson.dumps(definition))
        if answer.status == 400:
            problems = [e.message for e in _record_errors(_json_or_none(answer.body), self._scrub)]
            detail = "" if problems else f": {self._detail(answer.body)}"
            raise SchemaDefinitionError(
                f"the API refused the definition of table {schema.name!r} (400){detail}", problems
            )
        self._raise_for_status(answer, call)
        stored = _table_or_none(_json_or_none(answer.body))
        return stored if stored is not None else schema

    async def get_table(self, name: str) -> TableSchema:
        call = _Call(f"getting table {name!r}", name)

        async def fetch() -> _Answer:
            answer = await self._request("GET", self._table_url(name), call)
            self._raise_for_status(answer, call)
            return answer

        answer = await self._retried(fetch)
        parsed = _json_or_none(answer.body)
        try:
            return TableSchema.from_json(_tolerant_table(parsed))
        except SchemaDefinitionError as exc:
            raise ApiError(
                f"the API answered {answer.status} for table {name!r} with a definition bulkload "
                f"can't read ({exc}); body: {self._detail(answer.body)}",
                status=answer.status,
            ) from None

    def list_tables(self, *, page_size: int = 20) -> AsyncIterator[TableSchema]:
        """Every table, newest first, following the page token through every page."""
        if not 1 <= page_size <= MAX_LIST_PAGE_SIZE:
            raise ConfigError(f"the list page size must be 1-{MAX_LIST_PAGE_SIZE}, got {page_size}")
        return self._list_pages(page_size)

    async def _list_pages(self, page_size: int) -> AsyncIterator[TableSchema]:
        call = _Call("listing tables")
        token: str | None = None
        seen_tokens: set[str] = set()
        while True:
            params = {"limit": str(page_size)}
            if token is not None:
                params["NextToken"] = token

            async def fetch(params: Mapping[str, str] = params) -> _Answer:
                answer = await self._request("GET", self._tables_url, call, params=params)
                self._raise_for_status(answer, call)
                return answer

            answer = await self._retried(fetch)
            parsed = _json_or_none(answer.body)
            tables, token = _page(parsed)
            if tables is None:
                raise ApiError(
                    f"listing tables: the API answered {answer.status} without a list of tables: "
                    f"{self._detail(answer.body)}",
                    status=answer.status,
                )
            for obj in tables:
                table = _table_or_none(obj)
                if table is None:
                    # One table of a shape we can't read (e.g. made by a Feed) must not hide the rest.
                    log.warning("skipping a listed table bulkload can't read: %s", _snippet_of(obj))
                    continue
                yield table
            if token is None:
                return
            if token in seen_tokens:
                raise ApiError(
                    "listing tables: the API returned the same page token twice; stopping "
                    "instead of looping forever",
                    status=answer.status,
                )
            seen_tokens.add(token)

    # -- ingestion ---------------------------------------------------------------------

    async def ingest(
        self, table: str, body: bytes, *, timeout_s: float | None = None
    ) -> IngestResult:
        """Send ``body`` (a serialized JSON array of records) to ``table`` as it is."""
        call = _Call(f"ingesting into table {table!r}", table)
        started = self._clock()
        answer = await self._request(
            "POST",
            self._table_url(table),
            call,
            body=body,
            timeout_s=timeout_s,
            lenient_success=True,
        )
        self._raise_for_status(answer, call, body_bytes=len(body))
        return IngestResult(
            records_ingested=_records_ingested(answer.body),
            status=answer.status,
            latency_s=max(0.0, self._clock() - started),
        )

    # -- the wire ----------------------------------------------------------------------

    async def _retried(self, operation: Callable[[], Awaitable[T]]) -> T:
        if self._retry_policy is None:
            return await operation()
        return await call_with_retries(
            operation, self._retry_policy, sleep=self._sleep, clock=self._clock
        )

    def _table_url(self, name: str) -> str:
        url = self._table_urls.get(name)
        if url is None:  # once per table: a load asks for the same one per request
            url = self._table_urls[name] = f"{self._tables_url}/{quote(name, safe='')}"
        return url

    async def _request(
        self,
        method: str,
        url: str,
        call: _Call,
        *,
        body: bytes | None = None,
        params: Mapping[str, str] | None = None,
        timeout_s: float | None = None,
        lenient_success: bool = False,
    ) -> _Answer:
        """One request, retried once with a fresh token when a refreshable token is refused."""
        if self._session is None or self._auth is None:
            raise RuntimeError(
                "PeakClient is not open: use `async with PeakClient(config) as client`"
            )
        session, auth = self._session, self._auth
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        timeout = (
            aiohttp.ClientTimeout(total=timeout_s, connect=self._config.connect_timeout_s)
            if timeout_s is not None
            else None
        )
        for attempt in (1, 2):
            token = await auth.token()
            self._sent_tokens.add(token)
            try:
                answer = await self._send_once(
                    session,
                    method,
                    url,
                    headers={**headers, "Authorization": token},
                    body=body,
                    params=params,
                    client_timeout=timeout,
                    lenient_success=lenient_success,
                )
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                raise self._transport_error(exc, call) from None
            if answer.status not in (401, 403):
                return answer
            auth.invalidate(token)
            if not (auth.refreshable and attempt == 1):
                break
        raise AuthError(auth.rejected_message(answer.status), status=answer.status)

    @staticmethod
    async def _send_once(
        session: aiohttp.ClientSession,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None,
        params: Mapping[str, str] | None,
        client_timeout: aiohttp.ClientTimeout | None,
        lenient_success: bool,
    ) -> _Answer:
        # Redirects are not followed: a POST must not be replayed elsewhere, nor the
        # credential carried to another host.
        extra: dict[str, Any] = {} if client_timeout is None else {"timeout": client_timeout}
        async with session.request(
            method, url, data=body, params=params, headers=headers, allow_redirects=False, **extra
        ) as response:
            status = response.status
            try:
                payload = await response.read()
            except (aiohttp.ClientError, TimeoutError, OSError):
                # The status line arrived, so the outcome is known; only a 2xx whose content
                # we need (a table, a page) is worth treating as lost.
                if 200 <= status < 300 and not lenient_success:
                    raise
                payload = b""
            return _Answer(
                url=url,
                status=status,
                headers=response.headers,
                body=_decoded(payload, response.headers.get("Content-Encoding")),
            )

    def _transport_error(self, exc: BaseException, call: _Call) -> TransportError:
        reason = self._scrub(str(exc)) or type(exc).__name__
        if isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError):
            return TransportError(
                f"{call.action}: could not connect to {self._config.base_url} ({reason}); "
                "check PEAK_BASE_URL and the network",
                in_doubt=False,
            )
        kind = (
            "timed out"
            if isinstance(exc, TimeoutError)
            else f"failed ({type(exc).__name__}: {reason})"
        )
        return TransportError(
            f"{call.action}: the request {kind} before its answer arrived; "
            "it may or may not have been applied",
            in_doubt=True,
        )

    def _raise_for_status(
        self, answer: _Answer, call: _Call, *, body_bytes: int | None = None
    ) -> None:
        status = answer.status
        if 200 <= status < 300:
            return
        if is_redirect(status):
            raise redirected(
                status,
                answer.url,
                answer.headers.get("Location"),
                subject=f"{call.action}: the API at {self._config.base_url}",
                check="PEAK_BASE_URL (or --base-url): it must be the API's own address",
            )
        parsed = _json_or_none(answer.body)
        if status == 404 and call.table is not None:
            raise NotFound(
                f"table {call.table!r} does not exist: create it with "
                f"`bulkload tables create {call.table} --schema FILE`",
                status=status,
            )
        if status == 404:
            raise NotFound(
                f"{call.action}: {self._config.base_url}{TABLES_PATH} answered 404: check PEAK_BASE_URL",
                status=status,
            )
        if status == 409:
            raise Conflict(
                f"table {call.table!r} already exists: table schemas can't be changed; "
                "use it as it is or choose another name",
                status=status,
            )
        if status == 413:
            size = "" if body_bytes is None else f" ({body_bytes:,} bytes)"
            raise RequestTooLarge(
                f"{call.action}: the request body{size} is over the API's size limit (413): "
                f"send batches of at most {MAX_BODY_BYTES:,} bytes",
                status=status,
            )
        if status == 400:
            record_errors = _record_errors(parsed, self._scrub)
            raise RecordsRejected(
                f"{call.action}: the API refused the request (400): {self._detail(answer.body)}"
                f"{_summarize(record_errors)}",
                status=status,
                record_errors=record_errors,
            )
        if status == 429:
            retry_after_s = parse_retry_after(answer.headers.get("Retry-After"))
            hint = "" if retry_after_s is None else f"; retry after {retry_after_s:g} s"
            raise Throttled(
                f"{call.action}: the API is throttling requests (429){hint}",
                status=status,
                retry_after_s=retry_after_s,
            )
        if status >= 500:
            raise ServerFault(
                f"{call.action}: the API failed ({status}): {self._detail(answer.body)}; "
                "this is usually transient, try again",
                status=status,
            )
        raise ApiError(
            f"{call.action}: unexpected answer {status} from the API: {self._detail(answer.body)}; "
            "check PEAK_BASE_URL",
            status=status,
        )

    def _scrub(self, text: str) -> str:
        """Remove every secret we know of from ``text`` before it goes into a message."""
        secrets = set(self._sent_tokens)
        if self._auth is not None:
            secrets.update(self._auth.secrets())
        if self._config.api_key is not None:
            secrets.add(self._config.api_key.value)
        # Longest first, so a secret containing another is removed whole.
        for secret in sorted(secrets, key=len, reverse=True):
            if secret:
                text = text.replace(secret, "***")
        return text

    def _detail(self, body: bytes) -> str:
        """The server's own message if it gave one, else a short cleaned snippet of the body."""
        parsed = _json_or_none(body)
        if isinstance(parsed, dict):
            for key in ("message", "error", "detail", "Message"):
                value = parsed.get(key)
                if isinstance(value, str) and value.strip():
                    return _clean(self._scrub(value))
        if not body.strip():
            return "no details in the answer"
        return _clean(self._scrub(body.decode("utf-8", errors="replace")))


# -- reading answers leniently ---------------------------------------------------------


def _decoded(body: bytes, content_encoding: str | None) -> bytes:
    """Undo gzip/deflate from a server that compressed despite ``Accept-Encoding: identity``."""
    if not body or (content_encoding or "").strip().lower() not in ("gzip", "x-gzip", "deflate"):
        return body
    try:
        return zlib.decompress(body, wbits=zlib.MAX_WBITS | 32)  # gzip or zlib, detected
    except zlib.error:
        return body


def _json_or_none(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


def _clean(text: str, limit: int = SNIPPET_CHARS) -> str:
    # One line, printable, short: a server's HTML error page must not flood the terminal.
    text = "".join(ch for ch in " ".join(text.split()) if ch.isprintable())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _snippet_of(obj: Any) -> str:
    return _clean(orjson.dumps(obj, default=str).decode())


def _normalized(key: str) -> str:
    return key.replace("_", "").replace("-", "").lower()


def _records_ingested(body: bytes) -> int | None:
    parsed = _json_or_none(body)
    if type(parsed) is dict and len(parsed) == 1:
        # The contract's own answer, {"recordsIngested": n}: one lookup instead of
        # normalizing every key (a body naming the count more ways is read as before).
        count = parsed.get("recordsIngested")
        if type(count) is int and count >= 0:
            return count
    if isinstance(parsed, int) and not isinstance(parsed, bool):
        return parsed if parsed >= 0 else None
    if not isinstance(parsed, dict):
        return None
    candidates = [parsed] + [parsed[k] for k in _ENVELOPE_KEYS if isinstance(parsed.get(k), dict)]
    for obj in candidates:
        for key, value in obj.items():
            if (
                isinstance(key, str)
                and _normalized(key) in _COUNT_KEYS
                and isinstance(value, int)
                and not isinstance(value, bool)
                and value >= 0
            ):
                return value
    return None


def _record_errors(parsed: Any, scrub: Callable[[str], str]) -> list[RecordError]:
    """Per-record errors from ``{"errors": [{"record", "column", "message"}]}``, as far as present."""
    entries = parsed.get("errors") if isinstance(parsed, dict) else None
    if not isinstance(entries, list):
        return []
    out: list[RecordError] = []
    for entry in entries:
        if isinstance(entry, str):
            out.append(RecordError(record=None, column=None, message=_clean(scrub(entry), 500)))
            continue
        if not isinstance(entry, dict):
            continue
        record = entry.get("record")
        column = entry.get("column")
        message = entry.get("message")
        out.append(
            RecordError(
                record=record if isinstance(record, int) and not isinstance(record, bool) else None,
                column=column if isinstance(column, str) else None,
                message=_clean(scrub(message), 500)
                if isinstance(message, str) and message.strip()
                else _clean(scrub(_snippet_of(entry))),
            )
        )
    return out


def _summarize(record_errors: list[RecordError]) -> str:
    if not record_errors:
        return ""
    shown = []
    for error in record_errors[:RECORD_ERRORS_IN_MESSAGE]:
        where = " ".join(
            part
            for part in (
                f"record {error.record}" if error.record is not None else "",
                f"column {error.column!r}" if error.column is not None else "",
            )
            if part
        )
        shown.append(f"{where}: {error.message}" if where else error.message)
    more = len(record_errors) - len(shown)
    tail = f" (and {more} more)" if more else ""
    return f"; {len(record_errors)} record error(s): " + "; ".join(shown) + tail


def _page(parsed: Any) -> tuple[list[Any] | None, str | None]:
    """(tables, next token) of one list page; the token may be ``nextToken`` or ``NextToken``."""
    if isinstance(parsed, list):
        return parsed, None
    if not isinstance(parsed, dict):
        return None, None
    tables = next(
        (parsed[k] for k in ("tables", "Tables", "items") if isinstance(parsed.get(k), list)), None
    )
    token = next(
        (parsed[k] for k in ("nextToken", "NextToken", "next_token") if parsed.get(k)), None
    )
    return tables, token if isinstance(token, str) else None


def _first(obj: Mapping[str, Any], *keys: str) -> Any:
    return next((obj[k] for k in keys if obj.get(k) is not None), None)


def _tolerant_column(obj: Any) -> Any:
    if not isinstance(obj, dict):
        return obj
    column = {
        "name": _first(obj, "name", "columnName", "Name"),
        "type": _first(obj, "type", "dataType", "Type"),
        "precision": obj.get("precision"),
        "scale": obj.get("scale"),
        "dateFormat": _first(obj, "dateFormat", "date_format", "DateFormat"),
    }
    return {k: v for k, v in column.items() if v is not None}


def _tolerant_table(obj: Any) -> Any:
    """A stored table object reduced to what TableSchema reads, across plausible spellings."""
    if not isinstance(obj, dict):
        return obj
    if "columns" not in obj and isinstance(obj.get("table"), dict):
        obj = obj["table"]
    columns = _first(obj, "columns", "Columns")
    table: dict[str, Any] = {
        "tableName": _first(obj, "tableName", "name", "table_name", "TableName"),
        "columns": [_tolerant_column(c) for c in columns] if isinstance(columns, list) else columns,
    }
    created_at = _first(obj, "createdAt", "created_at", "CreatedAt")
    if isinstance(created_at, str):
        table["createdAt"] = created_at
    return table


def _table_or_none(obj: Any) -> TableSchema | None:
    try:
        return TableSchema.from_json(_tolerant_table(obj))
    except SchemaDefinitionError:
        return None
