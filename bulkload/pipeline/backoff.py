"""How long to wait before retrying a request, and when to stop retrying it.

Full jitter (a uniform draw between zero and the exponential cap) rather than a fixed
exponential delay: 30 workers that failed together must not retry together, or they
knock the service over again in lockstep.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from bulkload.config import LoadConfig
from bulkload.errors import ConfigError

# 2**64 times any sane initial delay already exceeds any sane max_s; a larger exponent
# would only risk an OverflowError converting the power of two to float.
_MAX_EXPONENT = 64


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retry bounds for one request: attempts = max_retries + 1, within max_retry_time_s."""

    max_retries: int = 10
    max_retry_time_s: float = 900.0
    initial_s: float = 0.5
    max_s: float = 60.0

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ConfigError(f"--max-retries must be 0 or more, got {self.max_retries}")
        if self.max_retry_time_s < 0:
            raise ConfigError(f"--max-retry-time must be 0 or more, got {self.max_retry_time_s}")
        if self.initial_s < 0 or self.max_s < 0:
            raise ConfigError(
                f"backoff delays must be 0 or more, got initial {self.initial_s} s, max {self.max_s} s"
            )

    @classmethod
    def from_config(cls, config: LoadConfig) -> RetryPolicy:
        return cls(
            max_retries=config.max_retries,
            max_retry_time_s=config.max_retry_time_s,
            initial_s=config.backoff_initial_s,
            max_s=config.backoff_max_s,
        )

    def cap_s(self, retry_number: int) -> float:
        """The longest wait before retry ``retry_number`` (0 for the first retry)."""
        exponent = min(max(retry_number, 0), _MAX_EXPONENT)
        return min(self.max_s, self.initial_s * 2.0**exponent)

    def delay_s(self, retry_number: int, rng: random.Random) -> float:
        """Full jitter: uniform in [0, min(max_s, initial_s * 2**retry_number)]."""
        return rng.uniform(0.0, self.cap_s(retry_number))
