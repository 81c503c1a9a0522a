"""The retry policy lives in ``bulkload.retry`` (the client retries start-up calls with it, and
``client/`` must not import ``pipeline/``); this name stays so pipeline code keeps working."""

from __future__ import annotations

from bulkload.retry import RetryPolicy

__all__ = ["RetryPolicy"]
