"""The Ingestion API, client side: the only package that knows aiohttp's client errors."""

from bulkload.client.http import IngestResult, PeakClient, parse_retry_after

__all__ = ["IngestResult", "PeakClient", "parse_retry_after"]
