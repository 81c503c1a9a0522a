"""What every command shares: API options, running a coroutine, turning errors into exits.

A user error never shows a traceback: it becomes one line on stderr and an exit code
(0 ok, 1 the API refused or failed, 2 usage/configuration, 3 finished with rejects,
130 interrupted).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine
from typing import Any, NoReturn, TypeVar

import click

from bulkload.config import ApiConfig
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


def usage_error(message: str) -> NoReturn:
    fail(message, EXIT_USAGE)
