"""Lua scripts queued in pipelines, on one Redis or on a Redis Cluster.

On one Redis, redis-py's pipeline asks SCRIPT EXISTS (and sends SCRIPT LOAD for a missing script) before every
pipeline that queued a script: one more round trip each time. So outside a MULTI a script is queued as a plain
EVALSHA, and a command answered NOSCRIPT (a script never loaded, or lost in a restart) is sent again at once as
EVAL of its source, which runs it and loads it. Inside a MULTI redis-py's check stays: a NOSCRIPT there would
run the rest of the transaction without it. A cluster pipeline sends EVALSHA as is, and a master that never saw
the script (a fresh cluster, a replica promoted by a failover, a node added by a reshard, a restart) answers
NOSCRIPT. So on a cluster the script is loaded on every master before it is first queued, and again when the
masters change; a master that lost its scripts while keeping its address (a restart) answers that one command
NOSCRIPT, which ``execute`` turns into a reload before the next use. A NOSCRIPT command never ran, so its
caller's retry (the provider's after a 503, a worker's next pass) runs it once.
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
# Every script queued outside a cluster and a MULTI, by SHA1: a NOSCRIPT reply is sent again as EVAL of this.
_sources: dict[str, bytes] = {}


async def queue(script: AsyncScript, pipe: Pipeline, *, keys: Sequence[Any], args: Sequence[Any]) -> None:
    """Queue ``script`` in ``pipe`` (EVALSHA), the script loaded where the pipeline will send it."""
    client: Any = script.registered_client
    if is_cluster(client):
        masters = frozenset(node.name for node in client.get_primaries())
        if not masters <= _loaded.get(script, frozenset()):
            await client.script_load(script.script)  # redis-py sends SCRIPT LOAD to every master
            _loaded[script] = masters
    elif _plain(pipe):
        # Not through redis-py's script call: its pipeline would ask SCRIPT EXISTS, one more round trip, on every
        # execute. A script the server lost (a restart) answers NOSCRIPT without running; execute() sends it again.
        source = script.script
        _sources[script.sha] = source.encode() if isinstance(source, str) else bytes(source)
        pipe.execute_command("EVALSHA", script.sha, len(keys), *_encoded(keys), *_encoded(args))
        return
    if not is_cluster(client):
        keys, args = _encoded(keys), _encoded(args)
    await script(keys=keys, args=args, client=pipe)  # in a MULTI, SCRIPT EXISTS first: NOSCRIPT would split it


def _encoded(values: Sequence[Any]) -> list[Any]:
    # Bytes are what redis-py sends; encoding str and int here, in one pass, costs a fraction of its per-argument
    # encoder (several isinstance checks and a method call each), which was most of the cost of queuing an event.
    # Anything else (a float, a bool) goes as given, for redis-py to encode or refuse as before.
    return [v.encode() if type(v) is str else str(v).encode() if type(v) is int else v for v in values]


async def execute(pipe: Pipeline, *, raise_on_error: bool = True) -> list[Any]:
    """``pipe.execute()`` for a pipeline with queued scripts: a NOSCRIPT reply (a master that lost its scripts)
    has every script loaded again before its next use, then raises (or is returned) like any other error; outside
    a cluster and a MULTI the command is sent again at once as EVAL (which loads the script), and its reply used."""
    queued = list(pipe.command_stack) if _plain(pipe) else []
    replies: list[Any] = await pipe.execute(raise_on_error=False)
    if queued and any(isinstance(reply, NoScriptError) for reply in replies):
        replies = await _again_as_eval(pipe, queued, replies)
    errors = [reply for reply in replies if isinstance(reply, Exception)]
    if any(isinstance(error, NoScriptError) for error in errors):
        _loaded.clear()
    if errors and raise_on_error:
        raise errors[0]
    return replies


def _sha(command: Any) -> str:
    args = command[0]
    sha = args[1] if len(args) > 1 and args[0] == "EVALSHA" else ""
    return sha.decode() if isinstance(sha, bytes) else str(sha)


def _plain(pipe: Pipeline) -> bool:
    # One Redis, no MULTI (a cluster's pipeline is another class: it is typed as Pipeline only here).
    return isinstance(pipe, Pipeline) and not pipe.is_transaction


async def _again_as_eval(pipe: Pipeline, queued: list[Any], replies: list[Any]) -> list[Any]:
    # A NOSCRIPT command never ran, so sending it again runs it once; an executed pipeline is empty and reusable.
    lost = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError) and _sha(queued[i]) in _sources]
    for i in lost:
        args, options = queued[i]
        pipe.execute_command("EVAL", _sources[_sha(queued[i])], *args[2:], **options)
    for i, reply in zip(lost, await pipe.execute(raise_on_error=False), strict=True):
        replies[i] = reply
    return replies
