"""How long to wait before retrying a request, and when to stop retrying it.

One policy for every request of a load: the pipeline's sender applies it to each batch
(with its shared 429 pause and splitting), and the client applies it, through
``call_with_retries``, to the calls a load makes before sending (the OAuth token and the
table's definition), so a fault at start-up is survived exactly like one mid-run.

Full jitter (a uniform draw between zero and the exponential cap) rather than a fixed
exponential delay: 30 workers that failed together must not retry together, or they
knock the service over again in lockstep.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from bulkload.config import LoadConfig
from bulkload.errors import ApiError, ConfigError, RetriesExhausted, Throttled

log = logging.getLogger(__name__)

T = TypeVar("T")

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


async def call_with_retries(
    operation: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], Awaitable[object]],
    clock: Callable[[], float],
    rng: random.Random | None = None,
) -> T:
    """``await operation()``, again after a retriable ``ApiError`` (429, 5xx, no answer),
    within ``policy``; ``Retry-After`` wins over the backoff. Only for calls that are safe
    to repeat (a GET, a token request): whether a repeated POST was stored is the sender's
    business. Raises ``RetriesExhausted`` carrying the last failure's message."""
    rng = rng or random.Random()
    started = clock()
    retry_number = 0
    while True:
        try:
            return await operation()
        except ApiError as failure:
            if not failure.retriable:
                raise
            if isinstance(failure, Throttled) and failure.retry_after_s is not None:
                delay = max(0.0, failure.retry_after_s)
            else:
                delay = policy.delay_s(retry_number, rng)
            elapsed = clock() - started
            if retry_number >= policy.max_retries or elapsed + delay > policy.max_retry_time_s:
                attempts = retry_number + 1
                raise RetriesExhausted(
                    f"{failure.message} (gave up after {attempts} "
                    f"attempt{'s' if attempts != 1 else ''} over {elapsed:.0f} s)",
                    status=failure.status,
                    attempts=attempts,
                    elapsed_s=elapsed,
                ) from failure
            retry_number += 1
            log.warning(
                "%s (retry %d of %d in %.1f s)",
                failure.message,
                retry_number,
                policy.max_retries,
                delay,
            )
            await sleep(delay)
