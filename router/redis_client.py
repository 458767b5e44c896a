"""The one way the router opens Redis: a pool whose connections pack commands with hiredis.

redis-py's asyncio connections build the RESP bytes of every command in Python (its sync client
already uses hiredis for this). On the ingest path an XADD carries a dozen fields, and packing it in
Python costs several times what hiredis does; the replies were already parsed by hiredis.
"""

from __future__ import annotations

from typing import Any

import hiredis
from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection, Connection, ConnectionPool, UnixDomainSocketConnection
from redis.backoff import ExponentialBackoff
from redis.retry import Retry


class _HiredisPacking(AbstractConnection):
    def pack_command(self, *args: Any) -> list[bytes]:
        # Commands such as "CLIENT SETNAME" arrive as one string; Redis expects separate arguments.
        head = args[0].encode().split() if isinstance(args[0], str) else args[0].split()
        encode = self.encoder.encode
        return [hiredis.pack_command(tuple(head) + tuple(encode(a) for a in args[1:]))]  # type: ignore[no-untyped-call]


class FastConnection(_HiredisPacking, Connection):
    pass


class FastUnixConnection(_HiredisPacking, UnixDomainSocketConnection):
    pass


_FAST: dict[type[AbstractConnection], type[AbstractConnection]] = {
    Connection: FastConnection,
    UnixDomainSocketConnection: FastUnixConnection,
}


def decoded(value: Any) -> str:
    """A Redis reply value (bytes, as this client returns them) as text."""
    return value.decode() if isinstance(value, bytes) else str(value)


def connect(url: str) -> Redis:
    # One quick retry, then fail: a webhook waiting seconds on a dead Redis should get its 503 and let the
    # provider retry, not hold the connection.
    pool = ConnectionPool.from_url(
        url, socket_connect_timeout=2, socket_timeout=10, retry=Retry(ExponentialBackoff(cap=0.05, base=0.01), 1)
    )
    pool.connection_class = _FAST.get(pool.connection_class, pool.connection_class)
    return Redis.from_pool(pool)
