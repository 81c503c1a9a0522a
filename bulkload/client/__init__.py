"""The Ingestion API, client side: the only package that knows aiohttp's client errors."""

# First, so that aiohttp's import-time TLS contexts load the CA store only when used.
from bulkload.client.tls import import_aiohttp

import_aiohttp()

from bulkload.client.http import IngestResult, PeakClient  # noqa: E402
from bulkload.client.retry_after import parse_retry_after  # noqa: E402

__all__ = ["IngestResult", "PeakClient", "parse_retry_after"]
