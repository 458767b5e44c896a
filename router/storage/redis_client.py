"""The one way the router opens Redis, with every wait bounded.

redis-py (8.2 and later) packs commands with hiredis on its asyncio connections by itself, so the client
is used as published: nothing here reaches into its connection classes.

Bounds, because a frozen Redis (SIGSTOP, a stalled failover, a saturated host) must cost a caller a known
time, never an open-ended wait:
- ``socket_connect_timeout`` and ``socket_timeout`` are the command deadline: a reply that has not come
  within it raises ``TimeoutError`` (a ``RedisError``), which the receiver turns into 503 + Retry-After;
- no retry after a timeout: a retry would double the wait (a 10 s timeout once meant a 20 s 503); a
  connection refused or reset is retried once at once, since that is a Redis that restarted;
- a blocking read (XREADGROUP BLOCK) gets ``block_s`` on top of the deadline: a worker's pool says so.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from redis.asyncio.connection import ConnectionPool
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

DEFAULT_DEADLINE_S = 2.0


def decoded(value: Any) -> str:
    """A Redis reply value (bytes, as this client returns them) as text."""
    return value.decode() if isinstance(value, bytes) else str(value)


def connect(url: str, *, deadline_s: float = DEFAULT_DEADLINE_S, block_s: float = 0.0) -> Redis:
    """A client whose every command answers or fails within ``deadline_s`` (plus ``block_s`` for blocking reads).

    Args:
        deadline_s: longest wait for a connection or a reply.
        block_s: longest BLOCK a caller of this client passes to XREADGROUP, added to the reply deadline.
    """
    pool = ConnectionPool.from_url(
        url,
        socket_connect_timeout=deadline_s,
        socket_timeout=deadline_s + block_s,
        retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        retry_on_timeout=False,
    )
    return Redis.from_pool(pool)
