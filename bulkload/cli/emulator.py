"""``bulkload emulator``: serve the emulated Ingestion API until SIGINT/SIGTERM.

Exactly one line goes to stdout once the socket listens (subprocess tests and benchmarks
parse it); anything else goes to stderr, and no key or secret is ever printed.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import click

from bulkload.cli import cli
from bulkload.cli.common import fail, run
from bulkload.contract.v2schema import V2_DEFAULT_RECORDS_PER_REQUEST, V2_MAX_REQUESTS_PER_S
from bulkload.emulator import EmulatorConfig, run_emulator
from bulkload.emulator.config import load_v2_objects, parse_solution_spec
from bulkload.errors import BulkloadError

LISTENING_PREFIX = "bulkload emulator listening on "


@cli.command("emulator")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", type=int, default=8080, show_default=True, help="Port; 0 picks a free one.")
@click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="SQLite file to store tables and rows in (default: a temporary file).",
)
@click.option(
    "--api-key", "api_keys", multiple=True, metavar="KEY", help="Accepted API key (repeatable)."
)
@click.option("--client-id", default=None, help="OAuth client id accepted at /oauth/token.")
@click.option("--client-secret", default=None, help="OAuth client secret for --client-id.")
@click.option(
    "--token-ttl",
    "token_ttl_s",
    type=float,
    default=86400.0,
    show_default=True,
    help="Lifetime of issued access tokens, in seconds.",
)
@click.option("--latency-ms", type=float, default=0.0, help="Added latency per ingest request.")
@click.option("--jitter-ms", type=float, default=0.0, help="Uniform extra latency, 0 to this.")
@click.option("--fail-rate", type=float, default=0.0, help="Share of ingests answered 503.")
@click.option(
    "--throttle-rate", type=float, default=0.0, help="Share of ingests answered 429 (Retry-After)."
)
@click.option(
    "--reset-rate", type=float, default=0.0, help="Share of ingests whose connection is closed."
)
@click.option(
    "--drop-after-commit-rate",
    type=float,
    default=0.0,
    help="Share of ingests stored, then closed without an answer.",
)
@click.option("--no-store", is_flag=True, help="Only parse and count records (benchmarks).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the fault RNG.")
@click.option(
    "--solution",
    "solution_specs",
    multiple=True,
    metavar="NAME:PREFIX:SUFFIX",
    help="Peak v2: serve this solution (repeatable); its tables are PREFIX+OBJECT+SUFFIX.",
)
@click.option(
    "--v2-schema",
    "v2_schema_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Peak v2: JSON file of the objects every --solution serves (the schema answer's shape).",
)
@click.option(
    "--v2-rate",
    "v2_rate_per_s",
    type=int,
    default=V2_MAX_REQUESTS_PER_S,
    show_default=True,
    help="Peak v2: requests per sliding second before 429.",
)
@click.option(
    "--v2-max-records",
    type=int,
    default=V2_DEFAULT_RECORDS_PER_REQUEST,
    show_default=True,
    help="Peak v2: rows per request before 400 (the service's setting, up to 2000).",
)
def emulator_command(
    host: str,
    port: int,
    db_path: Path | None,
    api_keys: tuple[str, ...],
    client_id: str | None,
    client_secret: str | None,
    token_ttl_s: float,
    latency_ms: float,
    jitter_ms: float,
    fail_rate: float,
    throttle_rate: float,
    reset_rate: float,
    drop_after_commit_rate: float,
    no_store: bool,
    seed: int,
    solution_specs: tuple[str, ...],
    v2_schema_path: Path | None,
    v2_rate_per_s: int,
    v2_max_records: int,
) -> None:
    """Run a local emulator of the Peak Ingestion API (SQLite-backed, with fault knobs)."""
    try:
        config = EmulatorConfig(
            v2_solutions=tuple(parse_solution_spec(spec) for spec in solution_specs),
            v2_objects=load_v2_objects(v2_schema_path) if v2_schema_path is not None else (),
            v2_rate_per_s=v2_rate_per_s,
            v2_max_records=v2_max_records,
            host=host,
            port=port,
            db_path=db_path,
            api_keys=api_keys,
            client_id=client_id,
            client_secret=client_secret,
            token_ttl_s=token_ttl_s,
            store=not no_store,
            seed=seed,
            latency_ms=latency_ms,
            jitter_ms=jitter_ms,
            fail_rate=fail_rate,
            throttle_rate=throttle_rate,
            reset_rate=reset_rate,
            drop_after_commit_rate=drop_after_commit_rate,
        )
    except BulkloadError as exc:
        fail(str(exc), exc.exit_code)
    if not api_keys and client_id is None:
        click.echo(
            "bulkload emulator: no --api-key or --client-id given: every /api request "
            "will be refused with 401",
            err=True,
        )
    run(lambda: serve_until_signalled(config))


async def serve_until_signalled(config: EmulatorConfig) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        async with run_emulator(config) as emulator:
            click.echo(f"{LISTENING_PREFIX}{emulator.url}")
            sys.stdout.flush()
            await stop.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
