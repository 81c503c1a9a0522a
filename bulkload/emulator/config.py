"""EmulatorConfig: everything one emulator instance is started with (units in the names)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bulkload.contract.schema import MAX_CONCURRENT_REQUESTS
from bulkload.emulator.faults import FaultKnobs
from bulkload.errors import ConfigError


@dataclass(frozen=True, slots=True)
class EmulatorConfig:
    host: str = "127.0.0.1"
    port: int = 0  # 0: the OS picks a free port
    db_path: Path | None = None  # None: a temporary file, removed on shutdown
    api_keys: tuple[str, ...] = field(default=(), repr=False)
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    token_ttl_s: float = 86400.0
    store: bool = True  # False: parse and count records only (benchmarks)
    max_in_flight: int = MAX_CONCURRENT_REQUESTS
    seed: int = 0
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    fail_rate: float = 0.0
    throttle_rate: float = 0.0
    reset_rate: float = 0.0
    drop_after_commit_rate: float = 0.0
    # Seconds, for token expiry; tests inject a fake clock instead of sleeping.
    clock: Callable[[], float] = field(default=time.monotonic, repr=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.api_keys, str):
            raise ConfigError("api_keys must be a tuple of keys, not one string")
        if any(not key for key in self.api_keys):
            raise ConfigError("an emulator API key must not be empty")
        if (self.client_id is None) != (self.client_secret is None):
            raise ConfigError("give both --client-id and --client-secret, or neither")
        if self.token_ttl_s <= 0:
            raise ConfigError(f"--token-ttl must be positive, got {self.token_ttl_s}")
        if self.max_in_flight < 1:
            raise ConfigError(f"max_in_flight must be at least 1, got {self.max_in_flight}")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"--port must be 0-65535, got {self.port}")
        self.fault_knobs()  # validates the knobs

    def fault_knobs(self) -> FaultKnobs:
        return FaultKnobs(
            latency_ms=self.latency_ms,
            jitter_ms=self.jitter_ms,
            fail_rate=self.fail_rate,
            throttle_rate=self.throttle_rate,
            reset_rate=self.reset_rate,
            drop_after_commit_rate=self.drop_after_commit_rate,
        )
