"""Every Redis round trip timed, by operation (``hookrouter_redis_command_duration_seconds``).

``redis_client.connect`` hands out these subclasses of redis-py's clients (one Redis, and Redis Cluster): a
command is timed in ``execute_command``, a pipeline in ``execute`` (its commands are only queued before), a Lua
script as the EVALSHA it sends. So whatever module holds the client, the store or not, its round trips are seen,
and nothing is timed twice.

The client cannot tell what a round trip was for, so the owner of the work says it: ``operation`` is a context
variable, set by a supervised loop for its passes (``router.runtime.supervisor``), by the request observer for a
request's family of routes, by the store for its coalesced append pipeline; tasks a pass starts inherit it. Its
values are the bounded set ``OPERATIONS``; anything else counts as ``other``.

A blocking read (``XREADGROUP ... BLOCK``) is not observed: it waits for entries, not for Redis, and would
otherwise show a quiet stream as a slow Redis.
"""

from __future__ import annotations

import time
from contextvars import ContextVar
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import ClusterPipeline, RedisCluster

from router import metrics

OPERATIONS = frozenset(
    {
        "ingest",  # the coalesced append pipeline (webhooks, polls, schedules, SDK events)
        "route",  # routing loops
        "deliver",  # delivery loops: jobs, limits, retries, outcomes
        "notify",  # event destinations: fan-out, producers, the executions bridge
        "replay",  # replay runs
        "poll",  # polling loops
        "schedule",  # the scheduler
        "registry",  # the registry snapshot's refresh
        "lifecycle",  # provider subscriptions and credentials
        "trim",  # retention and the acked-entry trim
        "api",  # the admin API, the dashboard and the app-facing routes
        "probe",  # /readyz, /healthz and the scrape's sample of /metrics
        "other",  # anything without an owner named (the CLI, start-up)
    }
)
_operation: ContextVar[str] = ContextVar("redis_operation", default="other")
_BLOCKING = frozenset({"XREADGROUP", "XREAD"})


def set_operation(name: str) -> None:
    """Count this task's round trips (and those of tasks it starts from now on) under ``name``; for a task that
    does one kind of work for its whole life (a supervised loop's runner)."""
    _operation.set(name if name in OPERATIONS else "other")


class operation:  # lower case: used as a function, ``with operation("route"):``
    """Count the round trips made within the block under ``name``. A class, not a generator: every request
    enters one, and this costs about a third of what ``contextlib.contextmanager`` does (0.4 against 1 us)."""

    __slots__ = ("_name", "_token")

    def __init__(self, name: str) -> None:
        self._name = name if name in OPERATIONS else "other"

    def __enter__(self) -> None:
        self._token = _operation.set(self._name)

    def __exit__(self, *exc: object) -> None:
        _operation.reset(self._token)


# Label children looked up once per operation: ``labels()`` takes a lock and builds a key on every call. Rebuilt
# when the histogram object changes (a benchmark swapping the metrics out).
_children: dict[str, Any] = {}
_children_of: list[Any] = [None]


def observe_since(started: float) -> None:
    """Observe the round trip that began at ``started`` (``time.perf_counter()``) under the current operation."""
    elapsed = time.perf_counter() - started
    histogram = metrics.REDIS_SECONDS
    if _children_of[0] is not histogram:
        _children.clear()
        _children_of[0] = histogram
    name = _operation.get()
    child = _children.get(name)
    if child is None:
        child = _children[name] = histogram.labels(name)
    child.observe(elapsed)


def is_blocking_read(args: tuple[Any, ...]) -> bool:
    """Whether a command's arguments make it a read that waits for entries (not observed)."""
    # redis-py names the command in capitals and passes BLOCK as bytes; only the reads are searched for it.
    return bool(args) and args[0] in _BLOCKING and (b"BLOCK" in args or "BLOCK" in args)


class TimedRedis(Redis):
    async def execute_command(self, *args: Any, **options: Any) -> Any:
        started = time.perf_counter()
        try:
            return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]
        finally:
            if not is_blocking_read(args):
                observe_since(started)

    def pipeline(self, transaction: bool = True, shard_hint: str | None = None) -> TimedPipeline:
        return TimedPipeline(self.connection_pool, self.response_callbacks, transaction, shard_hint)


class TimedPipeline(Pipeline):
    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        if not self.command_stack:  # nothing queued: redis-py sends nothing
            return await super().execute(raise_on_error)
        started = time.perf_counter()
        try:
            return await super().execute(raise_on_error)
        finally:
            observe_since(started)


class TimedRedisCluster(RedisCluster):
    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await super().execute_command(*args, **kwargs)
        finally:
            if not is_blocking_read(args):
                observe_since(started)

    def pipeline(self, transaction: Any | None = None, shard_hint: Any | None = None) -> ClusterPipeline:
        if shard_hint:  # as redis-py's own pipeline(): refused on a cluster
            return super().pipeline(transaction, shard_hint)
        return TimedClusterPipeline(self, transaction)  # type: ignore[abstract]  # as redis-py builds its own


class TimedClusterPipeline(ClusterPipeline):
    async def execute(self, raise_on_error: bool = True, allow_redirections: bool = True) -> list[Any]:
        if len(self) == 0:  # nothing queued (a pipeline is always true)
            return await super().execute(raise_on_error, allow_redirections)
        started = time.perf_counter()
        try:
            return await super().execute(raise_on_error, allow_redirections)
        finally:
            observe_since(started)
