"""``bulkload tables``: list, show and create table schemas (a thin layer over PeakClient).

Local checks (reading and checking a schema file, inferring columns) all happen before a
credential is looked at or a request is sent, so a bad file costs no round trip.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import orjson

from bulkload.cli import cli
from bulkload.cli.common import (
    CountOrWord,
    api_config_from_options,
    api_options,
    csv_dialect_from_options,
    csv_dialect_options,
    fail,
    run,
    usage_error,
)
from bulkload.client import PeakClient
from bulkload.client.http import MAX_LIST_PAGE_SIZE
from bulkload.config import ApiConfig, CsvDialect
from bulkload.contract.schema import Column, TableSchema
from bulkload.errors import BulkloadError, InputError, NotFound, SchemaDefinitionError

if TYPE_CHECKING:
    from bulkload.contract.matching import FieldRenames

DEFAULT_PAGE_SIZE = 20
DEFAULT_SAMPLE_RECORDS = 1000
NUMERIC_HEADROOM_DIGITS = 6  # bulkload.pipeline.infer's (not imported: --help stays fast)


@contextmanager
def user_errors() -> Iterator[None]:
    """Local steps fail like remote ones: one line on stderr and the error's exit code."""
    try:
        yield
    except BulkloadError as exc:
        fail(str(exc), exc.exit_code)


def stdin_is_interactive() -> bool:
    return sys.stdin.isatty()


def echo_json(obj: Any) -> None:
    click.echo(orjson.dumps(obj, option=orjson.OPT_INDENT_2).decode())


def render_rows(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Plain aligned columns: readable on a terminal, greppable in a pipe."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in [header, *rows]
    ]
    return "\n".join(line.rstrip() for line in lines)


def column_details(column: Column) -> str:
    details = []
    if column.precision is not None:
        details.append(f"precision {column.precision}")
    if column.scale is not None:
        details.append(f"scale {column.scale}")
    date_format = column.effective_date_format
    if date_format is not None:
        default = "" if column.date_format else " (default)"
        details.append(f"format {date_format}{default}")
    return ", ".join(details)


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def render_table(table: TableSchema) -> str:
    created = f", created {table.created_at}" if table.created_at else ""
    title = f"table {table.name}: {plural(len(table.columns), 'column')}{created}"
    rows = [(c.name, c.type.value, column_details(c)) for c in table.columns]
    return title + "\n" + render_rows(("COLUMN", "TYPE", "DETAILS"), rows)


def render_table_list(tables: Sequence[TableSchema]) -> str:
    if not tables:
        return "no tables"
    rows = [(t.name, str(len(t.columns)), t.created_at or "") for t in tables]
    return render_rows(("NAME", "COLUMNS", "CREATED"), rows)


def read_definition(path: Path, name: str) -> TableSchema:
    """A schema file (a table definition, or just its columns) checked against every rule."""
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read schema file {path}: {exc.strerror or exc}") from None
    try:
        obj = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise InputError(f"schema file {path} is not valid JSON: {exc}") from None
    try:
        table = TableSchema.from_json(obj, name=name)
    except SchemaDefinitionError as exc:
        raise SchemaDefinitionError(
            f"schema file {path} is not a valid table definition", exc.problems
        ) from None
    file_name = obj.get("tableName") if isinstance(obj, dict) else None
    if isinstance(file_name, str) and file_name != name:
        click.echo(
            f"bulkload: note: creating table {name!r}; the file names it {file_name!r}", err=True
        )
    return table


def infer_definition(
    path: Path,
    name: str,
    sample_records: int | None,
    input_format: str | None,
    csv_dialect: CsvDialect,
    recursive: bool,
    renames: FieldRenames | None = None,
) -> TableSchema:
    from bulkload.pipeline.infer import infer_columns

    columns = infer_columns(
        path,
        sample_records=sample_records,
        input_format=input_format,
        csv_dialect=csv_dialect,
        recursive=recursive,
        renames=renames,
    )
    try:
        return TableSchema.from_json([c.to_json() for c in columns], name=name)
    except SchemaDefinitionError as exc:
        raise SchemaDefinitionError(
            f"the schema inferred from {path} is not valid", exc.problems
        ) from None


def api_config(base_url: str | None, api_key: str | None, insecure: bool) -> ApiConfig:
    with user_errors():
        return api_config_from_options(base_url, api_key, insecure)


@cli.group("tables")
def tables_group() -> None:
    """List, show and create table schemas."""


@tables_group.command("list")
@click.option(
    "--limit",
    type=click.IntRange(1, MAX_LIST_PAGE_SIZE),
    default=DEFAULT_PAGE_SIZE,
    show_default=True,
    help="Tables per page requested from the API (every page is listed).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON array of table objects.")
@api_options
def list_command(
    limit: int, as_json: bool, base_url: str | None, api_key: str | None, insecure: bool
) -> None:
    """List every table schema, newest first."""
    config = api_config(base_url, api_key, insecure)

    async def fetch() -> list[TableSchema]:
        async with PeakClient(config) as client:
            return [table async for table in client.list_tables(page_size=limit)]

    tables = run(fetch)
    if as_json:
        echo_json([t.to_json() for t in tables])
    else:
        click.echo(render_table_list(tables))


@tables_group.command("get")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the table object as JSON.")
@api_options
def get_command(
    name: str, as_json: bool, base_url: str | None, api_key: str | None, insecure: bool
) -> None:
    """Show the columns of table NAME."""
    config = api_config(base_url, api_key, insecure)

    async def fetch() -> TableSchema:
        from bulkload.client.suggest import not_found_with_suggestions

        async with PeakClient(config) as client:
            try:
                return await client.get_table(name)
            except NotFound as exc:
                raise await not_found_with_suggestions(client, name, exc) from None

    table = run(fetch)
    if as_json:
        echo_json(table.to_json())
    else:
        click.echo(render_table(table))


@tables_group.command("create")
@click.argument("name")
@click.option(
    "--schema",
    "schema_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="JSON file with the table definition, or just its columns array.",
)
@click.option(
    "--infer",
    "infer_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Propose columns from a sample of this data file (or directory of files) instead.",
)
@click.option(
    "--sample",
    "sample_records",
    type=CountOrWord("all", 1, None, "a number of records (1 or more) or 'all'"),
    default=str(DEFAULT_SAMPLE_RECORDS),
    show_default=True,
    help="With --infer: how many records to look at, or 'all'. Numeric columns get "
    f"{NUMERIC_HEADROOM_DIGITS} more digits before the point than the sample needs (a "
    "sample's largest value is rarely the table's); ISO 8601 dates and timestamps get the "
    "dateFormat they are written in.",
)
@click.option(
    "--format",
    "input_format",
    type=click.Choice(["jsonl", "csv", "json", "parquet", "rejects"]),
    default=None,
    help="With --infer: the data file's format (default: by extension).",
)
@click.option(
    "--recursive", is_flag=True, help="With --infer on a directory: also its subdirectories."
)
@csv_dialect_options
@click.option(
    "--map",
    "field_map",
    multiple=True,
    metavar="SRC=DST",
    help="With --infer: name the column of field SRC DST (SRC= leaves it out), as "
    "`bulkload load --map` will load it.",
)
@click.option(
    "--map-file",
    "field_map_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help='With --infer: a JSON object {"SRC": "DST" or null}, as for `bulkload load`.',
)
@click.option("--yes", is_flag=True, help="With --infer: create without asking.")
@api_options
def create_command(
    name: str,
    schema_path: Path | None,
    infer_path: Path | None,
    sample_records: int | None,
    input_format: str | None,
    recursive: bool,
    field_map: tuple[str, ...],
    field_map_path: Path | None,
    yes: bool,
    base_url: str | None,
    api_key: str | None,
    insecure: bool,
    **csv_options: Any,
) -> None:
    """Create table NAME from --schema FILE, or from columns inferred from --infer DATA_FILE."""
    with user_errors():
        csv_dialect = csv_dialect_from_options(csv_options)
    if (schema_path is None) == (infer_path is None):
        usage_error("give exactly one of --schema FILE or --infer DATA_FILE")
    if schema_path is not None:
        with user_errors():
            table = read_definition(schema_path, name)
    else:
        assert infer_path is not None
        with user_errors():
            from bulkload.contract.matching import FieldRenames, parse_map_option

            renames = FieldRenames.from_options(
                [parse_map_option(text) for text in field_map], field_map_path
            )
            table = infer_definition(
                infer_path, name, sample_records, input_format, csv_dialect, recursive, renames
            )
        # The JSON alone goes to stdout, so `> schema.json` saves an editable --schema file.
        click.echo("proposed table definition:", err=True)
        click.echo(render_table(table), err=True)
        echo_json(table.to_json())
        if not yes:
            if not stdin_is_interactive():
                click.echo(
                    "not created: pass --yes to create it, or save the JSON above, edit it "
                    "and pass it with --schema FILE",
                    err=True,
                )
                return
            if not click.confirm(f"create table {name}?", default=False):
                click.echo("not created", err=True)
                return
    config = api_config(base_url, api_key, insecure)

    async def create() -> TableSchema:
        async with PeakClient(config) as client:
            return await client.create_table(table)

    created = run(create)
    # After --infer, stdout holds only the proposed JSON.
    click.echo(
        f"created table {created.name} with {plural(len(created.columns), 'column')}",
        err=infer_path is not None,
    )
