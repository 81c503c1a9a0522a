"""``bulkload demo``: the embedded-default demo (see ``bulkload.demo``)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from bulkload.cli import cli
from bulkload.cli.common import fail
from bulkload.errors import EXIT_FAILED, BulkloadError


@cli.command("demo")
@click.option(
    "--records",
    type=int,
    default=200_000,
    show_default=True,
    help="Sample records to write and load.",
)
@click.option(
    "--workdir",
    type=click.Path(path_type=Path),
    default=None,
    help="Where the sample, checkpoint, rejects and SQLite file go (default: a temp folder).",
)
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@click.option(
    "--v2", "use_v2", is_flag=True, help="Load an object of a Peak v2 solution instead of a table."
)
def demo_command(records: int, workdir: Path | None, no_progress: bool, use_v2: bool) -> None:
    """Start a local emulator, create a table, and load a sample file into it."""
    from bulkload.demo import DEMO_TABLE, default_workdir, run_demo

    workdir = workdir or default_workdir()
    table = DEMO_TABLE
    try:
        if use_v2:
            from bulkload.demo_v2 import TABLE, run_demo_v2

            table = TABLE
            workdir = workdir / "v2"
            summary, rows = asyncio.run(run_demo_v2(records, workdir, progress=not no_progress))
        else:
            summary, rows = asyncio.run(run_demo(records, workdir, progress=not no_progress))
    except BulkloadError as exc:
        fail(str(exc), exc.exit_code)
    click.echo(summary.render())
    click.echo(
        f"rows in the emulator's table {table}: {rows:,} (SQLite file {workdir / 'emulator.sqlite'})"
    )
    if rows != summary.records_ingested:
        fail(
            f"the emulator holds {rows:,} rows but {summary.records_ingested:,} were acknowledged",
            EXIT_FAILED,
        )
    sys.exit(0)
