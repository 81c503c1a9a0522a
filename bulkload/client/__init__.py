"""The Ingestion API, client side: the only package that knows aiohttp's client errors."""

from bulkload.client.http import IngestResult, PeakClient
from bulkload.client.retry_after import parse_retry_after

__all__ = ["IngestResult", "PeakClient", "parse_retry_after"]
