"""The platform API's rate limit: 1,000 requests per 10 minutes per key, as the platform documents it.

A sliding log, exact where a fixed window would let a key make twice the limit across a window's edge: one sorted
set per key (``Keys.api_window``), a member per admitted request scored by its time. It holds at most ``limit``
members and expires one window after the last request it admitted, so the family bounds itself.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Callable
from typing import Any

from router.storage.keys import Keys
from router.storage.store import EventStore

LIMIT = 1000
WINDOW_S = 600.0

# KEYS: the window. ARGV: now (µs), the window's start (µs; a request made then has left it), limit, member,
# TTL (ms). Returns "" when admitted, else the score of the oldest request in the window: the one whose leaving
# frees a place. Times come in as text and go back into Redis as text: Lua numbers would print 16-digit
# microseconds in exponent form.
_TAKE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  return ''
end
return redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2]
"""


class RateLimit:
    def __init__(
        self,
        store: EventStore,
        keys: Keys,
        *,
        limit: int = LIMIT,
        window_s: float = WINDOW_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._redis = store.redis
        self._keys = keys
        self._limit = limit
        self._window_us = int(window_s * 1_000_000)
        self._clock = clock

    async def take(self, caller: str) -> int:
        """0 when ``caller`` may make this request (it is counted), else the whole seconds until it may."""
        now = int(self._clock() * 1_000_000)
        script: Any = self._redis.register_script(_TAKE)
        member = f"{now}-{secrets.token_hex(4)}"  # two requests in one microsecond are two requests
        args = [now, now - self._window_us, self._limit, member, math.ceil(self._window_us / 1000)]
        oldest = await script(keys=[self._keys.api_window(caller)], args=args)
        if not oldest:
            return 0
        return max(1, math.ceil((float(oldest) + self._window_us - now) / 1_000_000))
