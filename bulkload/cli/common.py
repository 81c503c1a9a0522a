"""What every command shares: API options, running a coroutine, turning errors into exits.

A user error never shows a traceback: it becomes one line on stderr and an exit code
(0 ok, 1 the API refused or failed, 2 usage/configuration, 3 finished with rejects,
130 interrupted).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from bulkload.config import ApiConfig, CsvDialect, LoadConfig
from bulkload.errors import EXIT_INTERRUPTED, EXIT_USAGE, BulkloadError

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


def api_options(func: F) -> F:
    """--base-url / --api-key / --insecure, after the command name; options win over env."""
    func = click.option(
        "--insecure",
        is_flag=True,
        help="Allow plain http:// to a non-loopback host (credentials travel in clear text).",
    )(func)
    func = click.option(
        "--api-key",
        metavar="KEY",
        default=None,
        help="API key (default: $PEAK_API_KEY or $PEAK_AUTH_TOKEN).",
    )(func)
    func = click.option(
        "--base-url",
        metavar="URL",
        default=None,
        help="API base URL (default: $PEAK_BASE_URL or https://ingestion.peak.ai).",
    )(func)
    return func


def api_config_from_options(
    base_url: str | None, api_key: str | None, insecure: bool, **overrides: Any
) -> ApiConfig:
    config = ApiConfig.from_env(base_url=base_url, api_key=api_key, insecure=insecure, **overrides)
    config.require_credentials()
    return config


def fail(message: str, exit_code: int) -> NoReturn:
    click.echo(f"bulkload: error: {message}", err=True)
    sys.exit(exit_code)


def run(coro_factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a command's coroutine; translate bulkload errors into one line and an exit code."""
    try:
        return asyncio.run(coro_factory())
    except BulkloadError as exc:
        fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        fail("interrupted", EXIT_INTERRUPTED)


def confirm_restart(
    table: str, checkpoint_path: Path, config: LoadConfig, *, assume_yes: bool
) -> None:
    """Before ``--restart`` throws a checkpoint away: on a terminal, say how many records the
    earlier run stored (they will be stored again) and ask; elsewhere, or with --yes, the
    load's own warning says it. Exits when the answer is no."""
    if not config.restart or config.dry_run or assume_yes or not sys.stdin.isatty():
        return
    from bulkload.pipeline.checkpoint import read_earlier_run

    earlier = read_earlier_run(checkpoint_path)
    if earlier is None or (earlier.records_stored == 0 and not earlier.batches_in_doubt):
        return
    click.echo(
        f"bulkload: --restart loads everything into {table} again, but {earlier.describe()} "
        f"(checkpoint {checkpoint_path}): unless the table was emptied, those are stored twice.",
        err=True,
    )
    if not click.confirm("Restart anyway?", default=False, err=True):
        fail(
            "not restarted: nothing was sent and the checkpoint is kept; rerun without "
            "--restart to resume, or with --restart --yes to load everything again",
            EXIT_USAGE,
        )


def usage_error(message: str) -> NoReturn:
    fail(message, EXIT_USAGE)


def csv_dialect_options(func: F) -> F:
    """How CSV inputs are written: --delimiter, --quote, --encoding, --no-header with
    --columns, --null-marker. ``csv_dialect_from_options`` turns them into a CsvDialect."""
    func = click.option(
        "--null-marker",
        "null_markers",
        metavar="TEXT",
        multiple=True,
        help="CSV: a field text that means NULL, besides the empty field (repeatable, "
        r"e.g. --null-marker NULL --null-marker '\N').",
    )(func)
    func = click.option(
        "--columns",
        metavar="A,B,C",
        default=None,
        help="CSV with --no-header: the names of the fields, in file order.",
    )(func)
    func = click.option(
        "--no-header",
        is_flag=True,
        help="CSV: the first line is a row, not a header (name the fields with --columns).",
    )(func)
    func = click.option(
        "--encoding",
        metavar="NAME",
        default=None,
        help="CSV: the files' encoding, any Python codec (latin-1, cp1252, utf-16...). "
        "Default UTF-8; a row that is not UTF-8 is rejected with its bytes kept.",
    )(func)
    func = click.option(
        "--quote",
        "quote_char",
        metavar="CHAR",
        default='"',
        show_default=True,
        help="CSV: the quote character ('' for none).",
    )(func)
    func = click.option(
        "--delimiter",
        metavar="CHAR",
        default=",",
        show_default=True,
        help="CSV: the field separator, one character, or tab, semicolon, pipe.",
    )(func)
    return func


def csv_dialect_from_options(options: dict[str, Any]) -> CsvDialect:
    """Take the csv_dialect_options out of ``options`` (a command's keyword arguments)."""
    columns = options.pop("columns")
    return CsvDialect(
        delimiter=options.pop("delimiter"),
        quote_char=options.pop("quote_char"),
        encoding=options.pop("encoding"),
        has_header=not options.pop("no_header"),
        column_names=tuple(columns.split(",")) if columns is not None else None,
        null_markers=tuple(options.pop("null_markers")),
    )


class CountOrWord(click.ParamType[int | None, Any]):
    """A whole number from ``minimum`` to ``maximum`` (None: no upper bound), or ``word``,
    which stands for None (the library's "decide for me" or "no limit")."""

    def __init__(self, word: str, minimum: int, maximum: int | None, refusal: str) -> None:
        self.word = word
        self.minimum = minimum
        self.maximum = maximum
        self.refusal = refusal  # "{value!r} is not ...": what a bad value is told
        self.name = f"N|{word}"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> int | None:
        if value is None or isinstance(value, int):
            return value
        if str(value).lower() == self.word:
            return None
        try:
            count = int(value)
        except ValueError:
            count = self.minimum - 1
        if count < self.minimum or (self.maximum is not None and count > self.maximum):
            self.fail(f"{value!r} is not {self.refusal}", param, ctx)
        return count
