"""A test hook: make a stage of the load fail with an unexpected exception.

``BULKLOAD_FAILPOINT=stage[:n]`` raises ``InjectedFault`` the n-th time (default: the
first) the load passes the named point, in the stage's own task or thread:

    producer    each batch sealed (in the reading thread)
    sender      each batch taken by a sender, before it is sent
    committer   each group of acknowledgements, before it is made durable
    worker      each chunk checked in a worker process (--workers): the worker kills
                itself with SIGKILL, as the out-of-memory killer would
    worker-bug  each chunk checked in a worker process: InjectedFault in the worker (the
                loader checks that chunk again itself)

It stands for the bug nobody has found yet (a RecursionError, a MemoryError, a typo on a
rare path), so tests can check that any exception anywhere fails the run, leaves the
checkpoint unfinished, and that the rerun completes the load. Unset, it costs one
dictionary lookup per batch.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Final, Literal

from bulkload.errors import ConfigError

Stage = Literal["producer", "sender", "committer", "worker", "worker-bug"]
STAGES: Final = ("producer", "sender", "committer", "worker", "worker-bug")
ENV_VAR: Final = "BULKLOAD_FAILPOINT"


class InjectedFault(RuntimeError):
    """The exception a failpoint raises: deliberately not a BulkloadError."""


class FailPoints:
    """Counts the passes through each armed point; ``hit`` raises on the chosen one."""

    def __init__(self, armed: Mapping[str, int] | None = None) -> None:
        # one counter per stage, each passed in one thread only: no lock needed
        self._remaining = dict(armed or {})

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> FailPoints:
        spec = (os.environ if env is None else env).get(ENV_VAR, "").strip()
        if not spec:
            return cls()
        stage, _, count = spec.partition(":")
        if stage not in STAGES or (count and not count.isdigit()) or count == "0":
            raise ConfigError(
                f"{ENV_VAR}={spec!r}: expected one of {', '.join(STAGES)}, optionally "
                "followed by :N (N >= 1)"
            )
        return cls({stage: int(count or 1)})

    def hit(self, stage: Stage) -> None:
        if stage not in self._remaining:
            return
        self._remaining[stage] -= 1
        if self._remaining[stage] == 0:
            raise InjectedFault(f"failpoint {stage} ({ENV_VAR})")
