"""How every worker reads its stream in a consumer group: one implementation for routing, delivery, the
destination fan-out and the executions bridge.

Each ``next()`` returns one batch, in this order of preference:
1. after a start or a failed pass (``reset()``), this consumer's own pending entries (XREADGROUP from ``0``):
   a batch that was read but not acknowledged when Redis went away, or when the process was killed (consumer
   names are stable across restarts), is taken up again at once instead of after ``claim_idle_ms``;
2. entries another consumer left pending longer than ``claim_idle_ms`` (XAUTOCLAIM: a dead worker's);
3. new entries (XREADGROUP ``>``, blocking up to ``block_ms``).
The first two are marked ``redelivered``: the caller may count their deliveries and dead-letter poison.

The group is created (from ``0``, with the stream if need be) before the first read and again after every
reset, so a Redis that restarted empty or was flushed (``NOGROUP``) is read again from its first new entry.
"""

from __future__ import annotations

from dataclasses import dataclass

from router.store import EventStore, StoredEvent


@dataclass(frozen=True, slots=True)
class Batch:
    events: list[StoredEvent]
    redelivered: bool = False


class GroupReader:
    def __init__(self, store: EventStore, stream: str, *, count: int, block_ms: int, claim_idle_ms: int) -> None:
        self.store = store
        self.stream = stream
        self._count = count
        self._block_ms = block_ms
        self._claim_idle_ms = claim_idle_ms
        self._group_ready = False
        self._recovering = True

    def reset(self) -> None:
        """After a failed pass: make sure of the group again and take up this consumer's own pending entries."""
        self._group_ready = False
        self._recovering = True

    async def next(self, *, block_ms: int | None = None) -> Batch:
        """One batch (possibly empty); ``block_ms`` overrides how long to wait for new entries."""
        if not self._group_ready:
            await self.store.ensure_group(self.stream)
            self._group_ready = True
        if self._recovering:
            own = await self.store.read_own_pending(self.stream, count=self._count)
            if own:
                return Batch(own, redelivered=True)
            self._recovering = False
        stale = await self.store.claim_stale(self.stream, min_idle_ms=self._claim_idle_ms, count=self._count)
        if stale:
            return Batch(stale, redelivered=True)
        wait_ms = self._block_ms if block_ms is None else block_ms
        return Batch(await self.store.read_new(self.stream, count=self._count, block_ms=wait_ms))
