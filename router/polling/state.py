"""Where each polled (credential, spec) pair stands: its schedule, cursor and lease. Owns the ``{poll}`` keys.

- ``{poll}:due`` (sorted set): pair → when it is next due. A pair joins at a slot of its own within the interval
  (``slot``: a stable hash of the pair), so thousands of pairs polled every minute do not all go at second 0.
- ``{poll:<pair>}:state`` (hash): cursor, page token, consecutive failures, last error, last poll time, for a
  time cursor with a tie-break the id of the last record read at the cursor's time (``after``), and for a token
  cursor when its round was opened (``opened``) and the newest record time read (``newest``).
- ``{poll:<pair>}:seen`` (set): for specs that tell a record's first appearance (``seen_ids``), 64-bit digests of
  the ids the pair has read, one per record the provider holds (a deleted record's id leaves it).
- ``{poll:<pair>}:lease`` (SET NX PX): the one worker polling the pair. It re-reads the schedule once it holds the
  lease, so a worker that saw the pair due before another finished it does not poll it twice.

Bounded: a pair no workflow needs any more leaves the set and its hash and seen ids are deleted (``forget``); a
lease expires.
"""

from __future__ import annotations

import hashlib
import secrets
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from router.storage.keys import Keys

# Compare-and-delete: a lease that expired and was taken by another worker is not released by the first.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _digest(record_id: str) -> str:
    # 64 bits: a pair holding a million ids meets a collision about once in 10^7 such pairs.
    return hashlib.blake2b(record_id.encode(), digest_size=8).hexdigest()


def slot(member: str, now: float, interval_s: float) -> float:
    """The pair's next due time after ``now``: its own offset within every interval, from a stable hash."""
    offset = (zlib.crc32(member.encode()) / 2**32) * interval_s
    turns = (now - offset) // interval_s + 1
    return offset + turns * interval_s


@dataclass(slots=True)
class PollState:
    cursor: str = ""
    page: str = ""
    attempts: int = 0
    error: str = ""
    polled_at: float = 0.0
    after: str = ""  # a time cursor's tie-break: the last record id read at the cursor's time
    opened: float = 0.0  # when a token cursor's round was opened (a windowed delta is re-opened after a while)
    newest: float = 0.0  # the newest record time a token cursor's polls have read, in the provider's clock

    def to_hash(self) -> dict[Any, Any]:  # redis-py's mapping type is invariant in its keys
        return {
            "cursor": self.cursor,
            "page": self.page,
            "attempts": str(self.attempts),
            "error": self.error,
            "polled_at": repr(self.polled_at),
            "after": self.after,
            "opened": repr(self.opened),
            "newest": repr(self.newest),
        }

    @classmethod
    def from_hash(cls, raw: Mapping[Any, Any]) -> PollState:
        def text(name: str) -> str:
            return _text(raw.get(name.encode(), b""))

        try:
            return cls(
                text("cursor"),
                text("page"),
                int(text("attempts") or 0),
                text("error"),
                float(text("polled_at") or 0),
                text("after"),
                float(text("opened") or 0),
                float(text("newest") or 0),
            )
        except ValueError:
            return cls()  # an unreadable state starts over: the next poll establishes the cursor again, firing nothing


class PollStates:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys
        self._release = redis.register_script(_RELEASE)

    async def schedule(self, members: dict[str, float]) -> None:
        """Add pairs not scheduled yet at the given times; pairs already there keep theirs."""
        if members:
            await self._redis.zadd(self._keys.poll_due, members, nx=True)

    async def scheduled(self) -> set[str]:
        return {_text(m) for m in await self._redis.zrange(self._keys.poll_due, 0, -1)}

    async def due(self, now: float, count: int) -> list[str]:
        found = await self._redis.zrangebyscore(self._keys.poll_due, "-inf", now, start=0, num=count)
        return [_text(m) for m in found]

    async def is_due(self, member: str, now: float) -> bool:
        score = await self._redis.zscore(self._keys.poll_due, member)
        return score is not None and float(score) <= now

    async def next_at(self, member: str) -> float | None:
        score = await self._redis.zscore(self._keys.poll_due, member)
        return None if score is None else float(score)

    async def load(self, member: str) -> PollState:
        return PollState.from_hash(await self._redis.hgetall(self._keys.poll_state(member)))

    async def save(self, member: str, state: PollState, next_at: float) -> None:
        """Keep the pair's state and reschedule it; a pair forgotten while it was being polled stays forgotten."""
        if await self._redis.zscore(self._keys.poll_due, member) is None:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hset(self._keys.poll_state(member), mapping=state.to_hash())
            pipe.zadd(self._keys.poll_due, {member: next_at}, xx=True)
            await pipe.execute()

    async def forget(self, members: list[str]) -> None:
        if not members:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zrem(self._keys.poll_due, *members)
            for member in members:
                pipe.delete(self._keys.poll_state(member), self._keys.poll_seen(member))
            await pipe.execute()

    async def known(self, member: str, ids: list[str]) -> set[str]:
        """Which of ``ids`` the pair has read before."""
        if not ids:
            return set()
        flags = await self._redis.smismember(self._keys.poll_seen(member), [_digest(i) for i in ids])
        return {i for i, flag in zip(ids, flags, strict=True) if flag}

    async def remember(self, member: str, add: list[str], drop: list[str], *, restart: bool = False) -> None:
        """Keep ``add``, forget ``drop``; ``restart``: a first round begins, and what was kept before goes."""
        key = self._keys.poll_seen(member)
        async with self._redis.pipeline(transaction=False) as pipe:
            if restart:
                pipe.delete(key)
            for start in range(0, len(add), 1000):
                pipe.sadd(key, *(_digest(i) for i in add[start : start + 1000]))
            for start in range(0, len(drop), 1000):
                pipe.srem(key, *(_digest(i) for i in drop[start : start + 1000]))
            await pipe.execute()

    async def lease(self, member: str, ttl_s: float) -> str | None:
        """A token when this worker now holds the pair's lease; None when another does."""
        token = secrets.token_hex(8)
        taken = await self._redis.set(self._keys.poll_lease(member), token, nx=True, px=int(ttl_s * 1000))
        return token if taken else None

    async def release(self, member: str, token: str) -> None:
        await self._release(keys=[self._keys.poll_lease(member)], args=[token])
