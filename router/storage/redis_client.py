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

Redis Cluster: ``redis+cluster://host:port,host:port/`` (``rediss+cluster://`` with TLS) opens redis-py's
``RedisCluster`` on those seed nodes; it learns the slot map from them and follows MOVED and ASK by itself.
Its redirections and reconnections are bounded too: a command is retried at most ``CLUSTER_ATTEMPTS`` times
(a MOVED after a reshard, a failover's reconnection), then its error reaches the caller (503, or a worker's
supervised restart).

Both clients time every round trip by operation (``router.storage.timing``).
"""

from __future__ import annotations

from typing import Any, cast
from urllib.parse import parse_qsl, unquote, urlsplit

from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.connection import ConnectionPool
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from router.storage.timing import TimedRedis, TimedRedisCluster

DEFAULT_DEADLINE_S = 2.0
CLUSTER_SCHEMES = {"redis+cluster": False, "rediss+cluster": True}  # scheme → TLS
# Redirections and reconnections one cluster command may take before its error reaches the caller: enough for
# a MOVED, an ASK and a failover's reconnection, few enough that a request still answers within a few deadlines.
CLUSTER_ATTEMPTS = 3
# Connections to one cluster node: redis-py's cluster pools fail a command at once (MaxConnectionsError, a 503)
# instead of waiting when every connection is busy, so this sits above what one process has in flight.
CLUSTER_NODE_CONNECTIONS = 2048


def decoded(value: Any) -> str:
    """A Redis reply value (bytes, as this client returns them) as text."""
    return value.decode() if isinstance(value, bytes) else str(value)


def is_cluster_url(url: str) -> bool:
    return url.split("://", 1)[0].lower() in CLUSTER_SCHEMES


def is_cluster(redis: Redis) -> bool:
    """Whether ``redis`` is a cluster client (``connect`` hands one out typed as ``Redis``)."""
    return isinstance(redis, RedisCluster)


def connect(url: str, *, deadline_s: float = DEFAULT_DEADLINE_S, block_s: float = 0.0) -> Redis:
    """A client whose every command answers or fails within ``deadline_s`` (plus ``block_s`` for blocking reads).

    Args:
        deadline_s: longest wait for a connection or a reply.
        block_s: longest BLOCK a caller of this client passes to XREADGROUP, added to the reply deadline.
    """
    if is_cluster_url(url):
        return connect_cluster(url, deadline_s=deadline_s, block_s=block_s)
    pool = ConnectionPool.from_url(
        url,
        socket_connect_timeout=deadline_s,
        socket_timeout=deadline_s + block_s,
        retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        retry_on_timeout=False,
    )
    return TimedRedis.from_pool(pool)


def cluster_nodes(url: str) -> list[tuple[str, int]]:
    """The seed nodes of a ``redis+cluster://`` URL: ``host:port`` pairs, comma-separated (port 6379 if left out)."""
    netloc = urlsplit(url).netloc.rsplit("@", 1)[-1]
    nodes: list[tuple[str, int]] = []
    for item in filter(None, netloc.split(",")):
        host, colon, port = item.rpartition(":")
        if not colon or host.endswith(":") or port.endswith("]"):  # no port, or a bare IPv6 address
            host, port = item, ""
        try:
            nodes.append((host.strip("[]"), int(port) if port else 6379))
        except ValueError:
            raise ValueError(f"not a host:port in the Redis Cluster URL: {item!r}") from None
    if not nodes:
        raise ValueError("a Redis Cluster URL names at least one node: redis+cluster://host:port,host:port")
    return nodes


def connect_cluster(url: str, *, deadline_s: float, block_s: float) -> Redis:
    parts = urlsplit(url)
    credentials = parts.netloc.rsplit("@", 1)[0] if "@" in parts.netloc else ""
    username, _, password = credentials.partition(":")
    options = dict(parse_qsl(parts.query))
    client = TimedRedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in cluster_nodes(url)],
        username=unquote(username) or None,
        password=unquote(password) or None,
        ssl=CLUSTER_SCHEMES[parts.scheme.lower()],
        socket_connect_timeout=deadline_s,
        socket_timeout=deadline_s + block_s,
        # Every slot must be served: a write to a slot no master owns fails at once instead of after a redirect loop.
        require_full_coverage=True,
        max_connections=CLUSTER_NODE_CONNECTIONS,
        retry=Retry(ExponentialBackoff(cap=deadline_s / 2, base=0.05), CLUSTER_ATTEMPTS - 1),
        # redis-py refreshes its slot map from a MOVED reply at once, and from the cluster every this many
        # errors: 1 makes a failover's new master known at the first refused connection.
        reinitialize_steps=int(options.get("reinitialize_steps", "1")),
    )
    # RedisCluster offers Redis's commands (and pipelines, scripts) but is not its subclass; the router holds
    # either as ``Redis`` and asks ``is_cluster`` where the two differ (scripts in pipelines, readiness).
    return cast(Redis, client)


async def cluster_state(redis: Redis) -> dict[str, Any] | None:
    """None on one Redis; on a cluster, whether every master says ``cluster_state:ok`` (all slots served, a
    majority of masters reachable): ``{"ok": bool, "masters": n, "error": reason}`` (reason only when not ok).
    Raises ``RedisError`` when a master does not answer."""
    if not isinstance(redis, RedisCluster):
        return None
    replies: dict[str, dict[str, Any]] = await redis.cluster_info(target_nodes=RedisCluster.PRIMARIES)
    states = [decoded(info.get("cluster_state", "")) for info in replies.values()]
    ok = bool(states) and all(state == "ok" for state in states)
    return (
        {"ok": True, "masters": len(states)} if ok else {"ok": False, "masters": len(states), "error": "cluster_down"}
    )


async def refuse_cluster_node(redis: Redis) -> None:
    """Raises ValueError when a one-node URL names a node of a Redis Cluster: that node would answer MOVED to
    every command for a slot it does not serve, so most webhooks would get 503 while the process looked alive."""
    if is_cluster(redis):
        return
    try:
        info = await redis.info("cluster")
    except ResponseError:  # INFO refused (a restricted user, a proxy): nothing to tell from it
        return
    if str(info.get("cluster_enabled", "0")) == "1":
        raise ValueError("REDIS_URL names a node of a Redis Cluster: use redis+cluster://host:port,host:port")
