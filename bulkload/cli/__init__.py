"""The ``bulkload`` command: a thin layer over the library (see ``bulkload.load``)."""

from __future__ import annotations

import click

from bulkload.cli.common import fail
from bulkload.errors import BulkloadError


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="bulkload")
def cli() -> None:
    """Bulk-load JSONL, CSV, JSON or Parquet files into Peak through the Ingestion API."""


def _register() -> None:
    # Each command family lives in its own module; importing registers it on ``cli``.
    from bulkload.cli import demo, emulator, load, tables  # noqa: F401


def main() -> None:
    _register()
    try:
        cli(standalone_mode=True)
    except BulkloadError as exc:  # raised outside run(): e.g. while building a config
        fail(str(exc), exc.exit_code)
