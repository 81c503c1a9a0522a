"""``bulkload objects list|get --solution S``: a Peak v2 solution's objects and attributes."""

from __future__ import annotations

import click

from bulkload.cli import cli
from bulkload.cli.common import api_options, run
from bulkload.cli.tables import api_config, echo_json, plural, render_rows
from bulkload.client.v2 import PeakV2Client
from bulkload.contract.v2schema import Attribute, SolutionSchema, V2Object

solution_option = click.option(
    "--solution", required=True, metavar="S", help="The solution (see `bulkload solutions list`)."
)


def attribute_details(attribute: Attribute) -> str:
    details = []
    if attribute.precision is not None or attribute.scale is not None:
        details.append(f"precision {attribute.precision}, scale {attribute.scale}")
    for validation in attribute.validations:
        shown = validation.describe()
        details.append(shown if validation.known else f"{shown} (checked by the server)")
    return "; ".join(details)


def render_object(obj: V2Object) -> str:
    keys = ", ".join(obj.primary_keys) or "none (loads APPEND)"
    title = (
        f"object {obj.object_name}: table {obj.table_name}, "
        f"{plural(len(obj.columns), 'column')}, primary key {keys}"
    )
    rows = [
        (
            c.name,
            c.type.value,
            "yes" if c.accepts_null else "no",
            "yes" if c.name in obj.primary_keys else "",
            attribute_details(c),
        )
        for c in obj.columns
    ]
    return title + "\n" + render_rows(("COLUMN", "TYPE", "NULLABLE", "KEY", "VALIDATIONS"), rows)


def render_objects(schema: SolutionSchema) -> str:
    if not schema.objects:
        return f"solution {schema.solution_name} has no objects"
    rows = [
        (o.object_name, o.table_name, str(len(o.columns)), ", ".join(o.primary_keys))
        for o in schema.objects
    ]
    return render_rows(("OBJECT", "TABLE", "COLUMNS", "PRIMARY KEY"), rows)


@cli.group("objects")
def objects_group() -> None:
    """Peak v2: list and show the objects of a solution."""


@objects_group.command("list")
@solution_option
@click.option("--json", "as_json", is_flag=True, help="Print the solution's objects as JSON.")
@api_options
def list_command(
    solution: str, as_json: bool, base_url: str | None, api_key: str | None, insecure: bool
) -> None:
    """List the objects of solution S, with their table names and primary keys."""
    config = api_config(base_url, api_key, insecure)

    async def fetch() -> SolutionSchema:
        async with PeakV2Client(config) as client:
            return await client.get_schema(solution)

    schema = run(fetch)
    if as_json:
        echo_json([o.to_json() for o in schema.objects])
    else:
        click.echo(render_objects(schema))


@objects_group.command("get")
@click.argument("object_name", metavar="OBJECT")
@solution_option
@click.option("--json", "as_json", is_flag=True, help="Print the object as JSON.")
@api_options
def get_command(
    object_name: str,
    solution: str,
    as_json: bool,
    base_url: str | None,
    api_key: str | None,
    insecure: bool,
) -> None:
    """Show OBJECT of solution S: table name, primary keys, columns (type, nullable, validations)."""
    config = api_config(base_url, api_key, insecure)

    async def fetch() -> V2Object:
        async with PeakV2Client(config) as client:
            return await client.get_object(solution, object_name)

    obj = run(fetch)
    if as_json:
        echo_json(obj.to_json())
    else:
        click.echo(render_object(obj))
