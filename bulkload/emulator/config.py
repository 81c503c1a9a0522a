"""EmulatorConfig: everything one emulator instance is started with (units in the names)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bulkload.contract.schema import MAX_CONCURRENT_REQUESTS
from bulkload.contract.v2schema import (
    V2_DEFAULT_RECORDS_PER_REQUEST,
    V2_MAX_RECORDS_PER_REQUEST,
    V2_MAX_REQUESTS_PER_S,
    Solution,
    V2Object,
)
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
    # Peak v2: the tenant's rolled-out solutions, each serving every object of v2_objects
    # (its table named prefix + objectName + suffix), and the v2 limits.
    v2_solutions: tuple[Solution, ...] = ()
    v2_objects: tuple[V2Object, ...] = ()
    v2_rate_per_s: int = V2_MAX_REQUESTS_PER_S
    v2_max_records: int = V2_DEFAULT_RECORDS_PER_REQUEST
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
        if self.v2_rate_per_s < 1:
            raise ConfigError(f"--v2-rate must be at least 1, got {self.v2_rate_per_s}")
        if not 1 <= self.v2_max_records <= V2_MAX_RECORDS_PER_REQUEST:
            raise ConfigError(
                f"--v2-max-records must be 1-{V2_MAX_RECORDS_PER_REQUEST}, got {self.v2_max_records}"
            )
        if self.v2_objects and not self.v2_solutions:
            raise ConfigError(
                "--v2-schema needs at least one --solution NAME:PREFIX:SUFFIX to serve it"
            )
        names = [s.solution_name for s in self.v2_solutions]
        if len(set(names)) != len(names):
            raise ConfigError("each --solution name may be given once")
        tables = [s.table_name(o.object_name) for s in self.v2_solutions for o in self.v2_objects]
        clash = next((t for t in tables if tables.count(t) > 1), None)
        if clash is not None:
            raise ConfigError(
                f"two solutions would both serve table {clash!r}: give them different "
                "prefixes or suffixes"
            )

    def v2_objects_placed(self) -> tuple[V2Object, ...]:
        """Every object of every solution, with the table name that solution gives it."""
        return tuple(s.place(o) for s in self.v2_solutions for o in self.v2_objects)

    def fault_knobs(self) -> FaultKnobs:
        return FaultKnobs(
            latency_ms=self.latency_ms,
            jitter_ms=self.jitter_ms,
            fail_rate=self.fail_rate,
            throttle_rate=self.throttle_rate,
            reset_rate=self.reset_rate,
            drop_after_commit_rate=self.drop_after_commit_rate,
        )


def parse_solution_spec(text: str) -> Solution:
    """``NAME:PREFIX:SUFFIX`` (prefix and suffix may be empty: ``NAME``, ``NAME:P_``)."""
    name, _, rest = text.partition(":")
    prefix, _, suffix = rest.partition(":")
    if not name or ":" in suffix:
        raise ConfigError(
            f"--solution {text!r} must be NAME:PREFIX:SUFFIX, e.g. QP_OOTB:QP_:_OOTB "
            "(prefix and suffix may be empty)"
        )
    return Solution(solution_name=name, prefix=prefix, suffix=suffix)


def load_v2_objects(path: Path) -> tuple[V2Object, ...]:
    """The objects of a --v2-schema file: the contract's schema JSON (``objects`` or
    ``tables``) or a bare list of objects; ConfigError names every problem."""
    import orjson

    from bulkload.contract.v2schema import parse_schema
    from bulkload.errors import SchemaDefinitionError

    try:
        parsed = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise ConfigError(f"cannot read --v2-schema {str(path)!r}: {exc.strerror}") from None
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"--v2-schema {str(path)!r} is not valid JSON: {exc}") from None
    try:
        schema = parse_schema(parsed, solution="")
    except SchemaDefinitionError as exc:
        detail = "; ".join(exc.problems) or str(exc)
        raise ConfigError(f"--v2-schema {str(path)!r} is not usable: {detail}") from None
    if not schema.objects:
        raise ConfigError(f"--v2-schema {str(path)!r} defines no objects")
    return schema.objects
