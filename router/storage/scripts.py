"""Lua scripts queued in a pipeline, on one Redis or on a Redis Cluster.

On one Redis, redis-py's pipeline loads a queued script (SCRIPT LOAD) before it sends EVALSHA. A cluster
pipeline does not: it sends EVALSHA as is, and a master that never saw the script (a fresh cluster, a replica
promoted by a failover, a node added by a reshard, a restart) answers NOSCRIPT. So on a cluster the script
is loaded on every master before it is first queued, and again when the masters change; a master that lost
its scripts while keeping its address (a restart) answers that one command NOSCRIPT, which ``forget_loaded``
turns into a reload before the next use. A NOSCRIPT command never ran, so its caller's retry (the provider's
after a 503, a worker's next pass) runs it once.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any

from redis.asyncio.client import Pipeline
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from router.storage.redis_client import is_cluster

# Per script (one per client that registered it): the masters known to hold it, by "host:port".
_loaded: weakref.WeakKeyDictionary[AsyncScript, frozenset[str]] = weakref.WeakKeyDictionary()


async def queue(script: AsyncScript, pipe: Pipeline, *, keys: Sequence[Any], args: Sequence[Any]) -> None:
    """Queue ``script`` in ``pipe`` (EVALSHA), the script loaded where the pipeline will send it."""
    client: Any = script.registered_client
    if is_cluster(client):
        masters = frozenset(node.name for node in client.get_primaries())
        if not masters <= _loaded.get(script, frozenset()):
            await client.script_load(script.script)  # redis-py sends SCRIPT LOAD to every master
            _loaded[script] = masters
    await script(keys=keys, args=args, client=pipe)


async def execute(pipe: Pipeline, *, raise_on_error: bool = True) -> list[Any]:
    """``pipe.execute()`` for a pipeline with queued scripts: a NOSCRIPT reply (a master that lost its scripts)
    has every script loaded again before its next use, then raises (or is returned) like any other error."""
    replies: list[Any] = await pipe.execute(raise_on_error=False)
    errors = [reply for reply in replies if isinstance(reply, Exception)]
    if any(isinstance(error, NoScriptError) for error in errors):
        _loaded.clear()
    if errors and raise_on_error:
        raise errors[0]
    return replies
