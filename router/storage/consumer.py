"""How every worker reads its stream in a consumer group: one implementation for routing, delivery, the
destination fan-out and the executions bridge.

Each ``next()`` returns one batch, in this order of preference:
1. after a failed pass (``reset()``), the entries of the batch that pass had in hand and did not acknowledge
   (XCLAIM of exactly those ids), taken up again as soon as Redis answers instead of after ``claim_idle_ms``;
2. for a while after a failed pass, and after the reader starts, entries pending under this consumer's name for
   at least ``recover_idle_ms``: a read whose reply was lost (its deadline passed while Redis had already handed
   the entries over) leaves entries this process never saw, and a run of this process that stopped or crashed
   with a batch in hand (a pass that failed while Redis was away, its retry still waiting out the backoff) leaves
   that batch pending under the name the next run reads as. Only those idle that long, never "everything pending
   under this name": two processes given the same name (serve and worker on one host) must not take each other's
   work in progress. ``None`` leaves such entries to 3 (delivery, where a live attempt may legitimately take
   minutes);
3. entries any consumer left pending longer than ``claim_idle_ms`` (XAUTOCLAIM: a dead worker's), looked for
   on every pass, or, with ``claim_every_ms``, again that long after a look that found none (a round trip per
   pass saved where passes are many and short: routing);
4. new entries (XREADGROUP ``>``, blocking up to ``block_ms``).
The first three are marked ``redelivered``: the caller may count their deliveries and dead-letter poison.

The group is created (from ``0``, with the stream if need be) before the first read and again after every
reset, so a Redis that restarted empty or was flushed (``NOGROUP``) is read again from its first new entry.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from router.storage.store import EventStore, StoredEvent

# For readers whose pass takes well under a second (routing, fan-out, bridge): an entry pending under their name
# this long was lost in a failed read, or belongs to a same-named twin that is failing too (then taking it over
# routes it twice at worst, and routing is at-least-once with deterministic job ids).
QUICK_RECOVER_IDLE_MS = 5_000
_RECOVER_MARGIN_S = 5.0


@dataclass(frozen=True, slots=True)
class Batch:
    events: list[StoredEvent]
    redelivered: bool = False


class GroupReader:
    def __init__(
        self,
        store: EventStore,
        stream: str,
        *,
        count: int,
        block_ms: int,
        claim_idle_ms: int,
        recover_idle_ms: int | None = None,
        claim_every_ms: int = 0,
    ) -> None:
        self.store = store
        self.stream = stream
        self._count = count
        self._block_ms = block_ms
        self._claim_idle_ms = claim_idle_ms
        self._recover_idle_ms = recover_idle_ms
        self._claim_every_s = claim_every_ms / 1000
        self._claim_after = 0.0  # monotonic; look for stale entries from then on
        self._group_ready = False
        self._in_hand: list[str] = []  # ids of the last batch returned
        self._retry: list[str] = []
        # Monotonic; look for own lost entries until then. From the start too: without it, a batch the previous run
        # left pending under this name waits claim_idle_ms (a minute) for XAUTOCLAIM.
        self._recover_until = self._recover_deadline()

    def reset(self, also: Sequence[str] = ()) -> None:
        """After a failed pass: make sure of the group again and take up the batch that was in hand, and ``also``
        those ids (a batch read before it whose writes failed: a reader that overlaps batches holds two)."""
        self._group_ready = False
        self._claim_after = 0.0
        self._retry = list(dict.fromkeys([*also, *self._in_hand]))
        self._recover_until = self._recover_deadline()

    def _recover_deadline(self) -> float:
        if self._recover_idle_ms is None:
            return 0.0
        # Long enough for an entry whose reply was lost in this failure (or that the previous run left) to become
        # idle enough to be taken, with a margin for the passes that fail on after it while Redis is still away.
        return time.monotonic() + self._recover_idle_ms / 1000 + _RECOVER_MARGIN_S

    async def next(self, *, block_ms: int | None = None) -> Batch:
        """One batch (possibly empty); ``block_ms`` overrides how long to wait for new entries."""
        batch = await self._next(block_ms)
        self._in_hand = [event.id for event in batch.events]
        return batch

    async def _next(self, block_ms: int | None) -> Batch:
        if not self._group_ready:
            await self.store.ensure_group(self.stream)
            self._group_ready = True
        if self._retry:
            retry, self._retry = self._retry, []
            again = await self.store.claim_ids(self.stream, retry)  # those still unacknowledged
            if again:
                return Batch(again, redelivered=True)
        if self._recover_idle_ms is not None and time.monotonic() < self._recover_until:
            lost = await self.store.own_pending(self.stream, min_idle_ms=self._recover_idle_ms, count=self._count)
            if lost:
                return Batch(await self.store.claim_ids(self.stream, lost), redelivered=True)
        now = time.monotonic()
        if now >= self._claim_after:
            stale = await self.store.claim_stale(self.stream, min_idle_ms=self._claim_idle_ms, count=self._count)
            if stale:
                return Batch(stale, redelivered=True)  # and look again on the next pass: there may be more
            self._claim_after = now + self._claim_every_s
        wait_ms = self._block_ms if block_ms is None else block_ms
        return Batch(await self.store.read_new(self.stream, count=self._count, block_ms=wait_ms))
