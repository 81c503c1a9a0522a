"""bulkload: bulk-load files into Peak through the Ingestion API.

import asyncio, bulkload
summary = asyncio.run(bulkload.pipeline("orders", ["orders.jsonl"], config=bulkload.LoadConfig()))
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bulkload.config import ApiConfig, ClientCredentials, LoadConfig, Secret
from bulkload.errors import BulkloadError

if TYPE_CHECKING:
    from bulkload.client.http import PeakClient
    from bulkload.pipeline.run import load
    from bulkload.pipeline.summary import LoadSummary

__all__ = [
    "ApiConfig",
    "BulkloadError",
    "ClientCredentials",
    "LoadConfig",
    "LoadSummary",
    "PeakClient",
    "Secret",
    "load",
]


def __getattr__(name: str) -> Any:
    # Lazy: `import bulkload` stays cheap for the CLI's fast paths (--help, config errors).
    if name == "load":
        from bulkload.pipeline.run import load

        return load
    if name == "LoadSummary":
        from bulkload.pipeline.summary import LoadSummary

        return LoadSummary
    if name == "PeakClient":
        from bulkload.client.http import PeakClient

        return PeakClient
    raise AttributeError(name)
