"""The ``bulkload`` command: a thin layer over the library (see ``bulkload.pipeline``)."""

from __future__ import annotations

import importlib

import click

from bulkload.cli.common import fail
from bulkload.errors import BulkloadError

# Each command family lives in its own module, which registers itself on ``cli`` when
# imported. Importing only the one asked for keeps every run from paying for the others
# (the emulator alone pulls in aiohttp.web and SQLite: ~0.05 s of start-up per `load`).
_COMMAND_MODULES = {
    "demo": "bulkload.cli.demo",
    "emulator": "bulkload.cli.emulator",
    "load": "bulkload.cli.load",
    "objects": "bulkload.cli.objects",
    "solutions": "bulkload.cli.solutions",
    "tables": "bulkload.cli.tables",
}


class _LazyGroup(click.Group):
    """A group whose commands are imported on first use; ``--help`` still lists them all."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_COMMAND_MODULES})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = _COMMAND_MODULES.get(cmd_name)
        if cmd_name not in self.commands and module is not None:
            importlib.import_module(module)
        return super().get_command(ctx, cmd_name)


@click.group(
    cls=_LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(package_name="bulkload")
def cli() -> None:
    """Bulk-load JSONL, CSV, JSON or Parquet files into Peak through the Ingestion API."""


def main() -> None:
    try:
        cli(standalone_mode=True)
    except BulkloadError as exc:  # raised outside run(): e.g. while building a config
        fail(str(exc), exc.exit_code)
