"""``load()``: the front door of the library. It finds the inputs, opens the client, the
checkpoint and the rejects file, runs one ``LoadRun`` (loadrun.py: the task group and its
stages) and returns its summary.

Every way out carries a summary: a ``BulkloadError`` raised by ``load()`` has a ``summary``
attribute describing what was done (nothing, when it failed before sending, e.g. a 401 on
the table fetch), so the CLI can write --summary-json on every exit path. An unexpected
exception becomes an ``InternalError`` whose traceback, scrubbed of secrets, is written
to a file beside the checkpoint.

The library never prints: warnings go to the ``bulkload`` logger (the CLI renders them on
stderr; a Python caller hears nothing unless it configures logging).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Protocol, cast

import anyio

from bulkload.client.http import IngestResult, PeakClient
from bulkload.client.suggest import not_found_with_suggestions
from bulkload.client.v2 import PeakV2Client
from bulkload.config import DEFAULT_BASE_URL, ApiConfig, CsvDialect, LoadConfig
from bulkload.contract.matching import FieldMapping, FieldRenames
from bulkload.contract.schema import MAX_RECORDS_PER_REQUEST, TableSchema
from bulkload.contract.v2schema import V2_MAX_RECORDS_PER_REQUEST, V2_MAX_REQUESTS_PER_S, V2Object
from bulkload.errors import (
    EXIT_INTERRUPTED,
    BulkloadError,
    ConfigError,
    InternalError,
    InterruptedBeforeStart,
    NotFound,
    exit_code_for_signal,
)
from bulkload.pipeline.backoff import RetryPolicy
from bulkload.pipeline.checkpoint import (
    Checkpoint,
    ResumePlan,
    checkpoint_path_for,
    default_rejects_path,
    normalize_base_url,
)
from bulkload.pipeline.failpoints import FailPoints
from bulkload.pipeline.loadrun import LoadRun
from bulkload.pipeline.readers import (
    InputFile,
    check_csv_headers,
    discover,
    display_path,
    fingerprint,
)
from bulkload.pipeline.rejects import RejectsFile
from bulkload.pipeline.stopping import LoadControl, stop_on_signals
from bulkload.pipeline.summary import LoadSummary
from bulkload.pipeline.v2target import V2Api, V2Plan, V2Target, resolve

log = logging.getLogger("bulkload")


class LoadApi(Protocol):
    """What the pipeline needs of the API client (PeakClient satisfies it)."""

    async def get_table(self, name: str) -> TableSchema: ...

    async def ingest(
        self, table: str, body: bytes, *, timeout_s: float | None = None
    ) -> IngestResult: ...


def _checkpoint_identity(
    table: str,
    schema: TableSchema | V2Object,
    config: LoadConfig,
    inputs: Sequence[InputFile],
    base_url: str | None,
    fields: FieldMapping | None = None,
) -> dict[str, Any]:
    options: dict[str, Any] = {
        "max_batch_records": config.max_batch_records,
        "max_batch_bytes": config.max_batch_bytes,
        "ignore_unknown_columns": config.ignore_unknown_columns,
        "input_format": config.input_format,
        # named only when used, so older checkpoints still match loads without them
        **({"recursive": True} if config.recursive else {}),
        **(
            {"csv_dialect": asdict(config.csv_dialect)}
            if config.csv_dialect != CsvDialect()
            else {}
        ),
    }
    # Options that change which rows are sent; named only when used, so a checkpoint
    # written before they existed still matches a load that does not use them.
    if fields is not None and (fields.renames or fields.case_sensitive):
        options["field_mapping"] = fields.to_json()
    if config.coerce:
        options["coerce"] = True
    return {
        "base_url": normalize_base_url(base_url),
        "table": table,
        "schema": [column.to_json() for column in schema.columns],
        "options": options,
        "inputs": [{"name": _input_identity_name(f), **fingerprint(f)} for f in inputs],
    }


def _input_identity_name(input_file: InputFile) -> str:
    """The input as a checkpoint knows it: its real path, whatever directory the command ran
    in or the name it was given by (the checkpoint's file name is made from the same)."""
    if input_file.path is None:
        return input_file.display_name
    return display_path(os.path.realpath(input_file.path))


def _destination(api: ApiConfig | None, client: LoadApi | None) -> str | None:
    """The base URL the load goes to, as far as it is known before anything is resolved
    (a caller's own client does not say where it points)."""
    if api is not None:
        return api.base_url
    if client is not None:
        return None
    return (os.environ.get("PEAK_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")


def field_mapping(schema: TableSchema, config: LoadConfig) -> FieldMapping:
    """How this load's input names become ``schema``'s columns (--map, --map-file,
    --case-sensitive); ConfigError for a rename to a column the table lacks."""
    return FieldMapping(
        schema.column_names,
        renames=FieldRenames.from_options(config.field_map, config.field_map_path),
        case_sensitive=config.case_sensitive,
        table=schema.name,
    )


async def load(
    table: str,
    paths: Sequence[str | os.PathLike[str]],
    *,
    api: ApiConfig | None = None,
    config: LoadConfig | None = None,
    client: LoadApi | None = None,
    cwd: Path | None = None,
    control: LoadControl | None = None,
    handle_signals: bool = False,
    progress_stream: Any = None,
    sleep: Callable[[float], Any] = anyio.sleep,
    clock: Callable[[], float] = time.monotonic,
    v2: V2Target | None = None,
) -> LoadSummary:
    """Load every valid record of ``paths`` into ``table``; return the summary.

    With ``v2``, ``table`` names an object of the Peak v2 solution ``v2.solution`` (by
    objectName or tableName) and the rows go to the v2 API; ``client``, if given, must
    then be a PeakV2Client.

    ``api`` defaults to the environment (PEAK_* variables); pass ``client`` to use an
    already-open client instead. ``control`` lets the caller stop the load gracefully;
    ``handle_signals`` makes SIGINT, SIGTERM and SIGHUP do so (a second one quits the
    process at once: for command-line programs). ``sleep`` and ``clock`` are how backoff
    waits and tells time (tests pass a virtual clock). Raises a ``BulkloadError`` for
    anything that stops the run; its ``summary`` attribute describes what was done.
    """
    config = config or LoadConfig()
    if v2 is None and config.max_batch_records > MAX_RECORDS_PER_REQUEST:
        raise ConfigError(
            f"--max-records must be 1-{MAX_RECORDS_PER_REQUEST} for a table load, got "
            f"{config.max_batch_records} (up to {V2_MAX_RECORDS_PER_REQUEST} only for a Peak "
            "v2 object, with --solution)"
        )
    if v2 is not None and config.rate_limit_per_s is None:
        # The tenant's v2 limit; requests are then paced evenly (see Sender).
        config = replace(config, rate_limit_per_s=float(V2_MAX_REQUESTS_PER_S))
    control = control or LoadControl()
    started = time.monotonic()
    path_names = [os.fspath(p) for p in paths]
    base_url = _destination(api, client)
    checkpoint_path = checkpoint_path_for(
        _checkpoint_name(table, v2),
        path_names,
        base_url=base_url,
        config=config,
        cwd=cwd or Path.cwd(),
    )
    rejects_path = config.rejects_path or default_rejects_path(checkpoint_path)
    secrets = _secrets_of(api)
    inputs: list[InputFile] = []
    run: LoadRun | None = None

    async def attempt() -> LoadSummary:
        nonlocal inputs, run, secrets
        discovery = discover(path_names, config.input_format, recursive=config.recursive)
        inputs = discovery.inputs
        check_csv_headers(inputs, config.csv_dialect)
        skipped_warning = discovery.skipped_warning()
        if skipped_warning is not None:
            log.warning("%s", skipped_warning)
        resumable = all(f.resumable for f in inputs)
        if not resumable and config.checkpoint_path is None:
            streams = ", ".join(f.display_name for f in inputs if not f.resumable)
            log.warning("reading %s as a stream: this load cannot be resumed", streams)
        async with contextlib.AsyncExitStack() as stack:
            api_client = client
            if api_client is None:
                api_config = api or ApiConfig.from_env()
                secrets = _secrets_of(api_config)
                api_config.require_credentials()
                # The ingest retry policy also covers the token request and the table fetch.
                client_class = PeakClient if v2 is None else PeakV2Client
                peak = await stack.enter_async_context(
                    client_class(
                        api_config, retry_policy=RetryPolicy.from_config(config), sleep=sleep
                    )
                )
                secrets = (*secrets, *_client_secrets(peak))
                api_client = peak
            v2_plan: V2Plan | None = None
            schema: TableSchema | V2Object
            fields: FieldMapping | None = None
            if v2 is not None:
                v2_plan = await resolve(cast(V2Api, api_client), table, v2)
                schema = v2_plan.object
            else:
                try:
                    schema = await api_client.get_table(table)
                except NotFound as exc:
                    raise await not_found_with_suggestions(api_client, table, exc) from None
                fields = field_mapping(schema, config)
            checkpoint: Checkpoint | None = None
            dry_plan: ResumePlan | None = None
            identity = _checkpoint_identity(table, schema, config, inputs, base_url, fields)
            if v2_plan is not None:
                identity["v2"] = v2_plan.identity()
            if resumable and config.dry_run:
                # A dry run reads the checkpoint (what a real run would skip), writes nothing.
                if not config.restart:
                    dry_plan = Checkpoint.peek_plan(checkpoint_path, identity)
            elif resumable:
                checkpoint = Checkpoint.open(checkpoint_path, identity, restart=config.restart)
                stack.callback(checkpoint.close)
                for warning in checkpoint.warnings:
                    log.warning("%s", warning)
            rejects = RejectsFile.open(rejects_path, restart=config.restart)
            stack.callback(rejects.close)
            for warning in rejects.warnings:
                log.warning("%s", warning)
            run = LoadRun(
                table,
                inputs,
                schema,
                api_client,
                config,
                checkpoint=checkpoint,
                rejects=rejects,
                progress_stream=progress_stream,
                sleep=sleep,
                clock=clock,
                failpoints=FailPoints.from_env(),
                v2=v2_plan,
                fields=fields,
                plan=dry_plan,
            )
            control.attach(run)
            return await run.run()

    async def attempt_stoppable_at_start_up() -> LoadSummary:
        # A stop before the run exists cancels the start-up: nothing was sent, so there is
        # nothing to drain; without this a signal waited out every start-up retry.
        summary: LoadSummary | None = None
        with anyio.CancelScope() as start_up:
            control.guard_start_up(start_up)
            summary = await attempt()
        if summary is None:
            signum = control.stop_signal
            raise InterruptedBeforeStart(
                signum.name if signum is not None else "stop requested",
                exit_code_for_signal(signum) if signum is not None else EXIT_INTERRUPTED,
            )
        return summary

    async def attempt_obeying_signals() -> LoadSummary:
        try:
            async with anyio.create_task_group() as group:
                # Started, not just scheduled: the handlers are in place before the load
                # says or does anything, so a signal sent once it has spoken (as soon as
                # it warns it reads a stream) is this load's stop, never lost to the
                # handlers before (a Ctrl-C there left a load on a FIFO waiting for ever).
                await group.start(stop_on_signals, control)
                try:
                    summary = await attempt_stoppable_at_start_up()
                finally:
                    group.cancel_scope.cancel()
        except BaseExceptionGroup as exc_group:  # only attempt() raises: unwrap it
            (error,) = exc_group.exceptions
            raise error from None
        return summary

    try:
        return await (
            attempt_obeying_signals() if handle_signals else attempt_stoppable_at_start_up()
        )
    except BulkloadError as exc:
        if getattr(exc, "summary", None) is None:
            exc.summary = _summary_before_start(  # type: ignore[attr-defined]
                table, config, inputs, str(exc), started, checkpoint_path, rejects_path
            )
        raise
    except Exception as exc:
        # A bug (or a RecursionError, a MemoryError): one line for the user, the details
        # in a file, the summary of what was done; the checkpoint is not finished.
        scrub = _scrubber(secrets)
        first_line = next(iter(str(exc).splitlines()), "")
        message = scrub(f"{type(exc).__name__}: {first_line}" if first_line else type(exc).__name__)
        details = _write_details(checkpoint_path, scrub(_traceback_text(exc)))
        internal = InternalError(message, details_path=details)
        internal.summary = (  # type: ignore[attr-defined]
            run.summary_so_far(message)
            if run is not None
            else _summary_before_start(
                table, config, inputs, message, started, checkpoint_path, rejects_path
            )
        )
        raise internal from exc


def checkpoint_path_of(
    table: str,
    paths: Sequence[str | os.PathLike[str]],
    *,
    config: LoadConfig,
    api: ApiConfig | None = None,
    client: LoadApi | None = None,
    v2: V2Target | None = None,
    cwd: Path | None = None,
) -> Path:
    """The checkpoint ``load()`` with these arguments uses (e.g. to say what --restart
    would throw away before it does)."""
    return checkpoint_path_for(
        _checkpoint_name(table, v2),
        [os.fspath(p) for p in paths],
        base_url=_destination(api, client),
        config=config,
        cwd=cwd or Path.cwd(),
    )


def _checkpoint_name(table: str, v2: V2Target | None) -> str:
    """What the default checkpoint is named after: a v2 object per solution, and a
    validate-only run apart from the load it precedes."""
    if v2 is None:
        return table
    return f"{v2.solution}.{table}" + (".validate-only" if v2.validate_only else "")


def _summary_before_start(
    table: str,
    config: LoadConfig,
    inputs: list[InputFile],
    error: str,
    started: float,
    checkpoint_path: Path,
    rejects_path: Path,
) -> LoadSummary:
    sizes = [f.size_bytes for f in inputs]
    known = inputs and all(size is not None for size in sizes)
    return LoadSummary.before_start(
        table=table,
        error=error,
        elapsed_s=time.monotonic() - started,
        dry_run=config.dry_run,
        bytes_total=sum(size or 0 for size in sizes) if known else None,
        checkpoint_path=str(checkpoint_path),
        rejects_path=str(rejects_path),
    )


def _secrets_of(api: ApiConfig | None) -> tuple[str, ...]:
    if api is None:
        return ()
    found = []
    if api.api_key is not None:
        found.append(api.api_key.value)
    if api.oauth is not None:
        found.append(api.oauth.client_secret.value)
    return tuple(found)


def _client_secrets(client: PeakClient) -> Iterable[str]:
    auth = client.auth
    return auth.secrets() if auth is not None else ()


def _scrubber(secrets: Iterable[str]) -> Callable[[str], str]:
    # longest first, so a secret that contains another is replaced whole
    ordered = sorted({secret for secret in secrets if len(secret) >= 4}, key=len, reverse=True)

    def scrub(text: str) -> str:
        for secret in ordered:
            text = text.replace(secret, "***")
        return text

    return scrub


def _traceback_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))


def details_path_for(checkpoint_path: Path) -> Path:
    """Where an internal error's details go: beside the checkpoint."""
    name = checkpoint_path.name.removesuffix(".jsonl").removesuffix(".checkpoint")
    return checkpoint_path.with_name(f"{name or 'load'}.internal-error.txt")


def _write_details(checkpoint_path: Path, text: str) -> str | None:
    path = details_path_for(checkpoint_path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", errors="backslashreplace")
    except OSError as exc:
        log.warning("could not write the details of the internal error to %s: %s", path, exc)
        return None
    return str(path)


__all__ = ["LoadApi", "LoadControl", "details_path_for", "load"]
