"""A bound in bytes on the batches sealed and not yet taken by a sender.

The stream between the producer and the senders is bounded in batches
(``LoadConfig.queue_batches``); a batch of small records is ~130 KB, one of wide records up
to 1 MB, so 64 queued batches could hold 64 MB on top of the 30 bodies in flight. The
producer's half admits each batch's body here before queueing it, and waits while the
queued bytes would pass the budget; a sender releases a body's bytes as it takes the batch.
One batch always gets in, whatever its size, so the budget never stops a load.
"""

from __future__ import annotations

import anyio


class QueueBudget:
    """``await admit(size)`` before queueing, ``release(size)`` once taken. Event-loop only:
    both callers run in the loop, so the count has no other writer."""

    __slots__ = ("_budget_bytes", "_queued_bytes", "_released")

    def __init__(self, budget_bytes: int) -> None:
        self._budget_bytes = budget_bytes
        self._queued_bytes = 0
        self._released: anyio.Event | None = None  # made only while the producer waits

    @property
    def queued_bytes(self) -> int:
        return self._queued_bytes

    async def admit(self, size: int) -> None:
        while self._queued_bytes and self._queued_bytes + size > self._budget_bytes:
            released = self._released = anyio.Event()
            await released.wait()
        self._queued_bytes += size

    def release(self, size: int) -> None:
        self._queued_bytes -= size
        released, self._released = self._released, None
        if released is not None:
            released.set()


__all__ = ["QueueBudget"]
