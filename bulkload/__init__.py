"""bulkload: bulk-load files into Peak through the Ingestion API.

    import asyncio
    from bulkload import ApiConfig, LoadConfig, load

    summary = asyncio.run(load("orders", ["orders.jsonl"], api=ApiConfig.from_env()))

The library never prints: warnings go to the ``bulkload`` logger, silent until the
caller configures logging (the ``bulkload`` command renders them on stderr).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from bulkload.config import ApiConfig, ClientCredentials, LoadConfig, Secret
from bulkload.errors import BulkloadError

if TYPE_CHECKING:
    from bulkload.client.http import PeakClient
    from bulkload.pipeline.run import load
    from bulkload.pipeline.stopping import LoadControl
    from bulkload.pipeline.summary import LoadSummary

# Without a handler of its own, Python's last-resort handler would print warnings.
logging.getLogger("bulkload").addHandler(logging.NullHandler())

__all__ = [
    "ApiConfig",
    "BulkloadError",
    "ClientCredentials",
    "LoadConfig",
    "LoadControl",
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
    if name == "LoadControl":
        from bulkload.pipeline.stopping import LoadControl

        return LoadControl
    if name == "LoadSummary":
        from bulkload.pipeline.summary import LoadSummary

        return LoadSummary
    if name == "PeakClient":
        from bulkload.client.http import PeakClient

        return PeakClient
    raise AttributeError(name)
