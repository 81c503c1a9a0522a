"""``bulkload solutions list``: the tenant's rolled-out Peak v2 solutions."""

from __future__ import annotations

import click

from bulkload.cli import cli
from bulkload.cli.common import api_options, run
from bulkload.cli.tables import api_config, echo_json, render_rows
from bulkload.client.v2 import PeakV2Client
from bulkload.contract.v2schema import Solution


def render_solutions(solutions: list[Solution]) -> str:
    if not solutions:
        return "no solutions"
    rows = [
        (
            s.solution_name,
            s.prefix,
            s.suffix,
            s.target_schema_name or "",
            "" if s.table_count is None else str(s.table_count),
        )
        for s in solutions
    ]
    return render_rows(("SOLUTION", "PREFIX", "SUFFIX", "TARGET SCHEMA", "TABLES"), rows)


@cli.group("solutions")
def solutions_group() -> None:
    """Peak v2: list the tenant's rolled-out solutions."""


@solutions_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON array of solutions.")
@api_options
def list_command(as_json: bool, base_url: str | None, api_key: str | None, insecure: bool) -> None:
    """List the solutions whose objects can be loaded (bulkload load OBJECT --solution S)."""
    config = api_config(base_url, api_key, insecure)

    async def fetch() -> list[Solution]:
        async with PeakV2Client(config) as client:
            return await client.list_solutions()

    solutions = run(fetch)
    if as_json:
        echo_json([s.to_json() for s in solutions])
    else:
        click.echo(render_solutions(solutions))
