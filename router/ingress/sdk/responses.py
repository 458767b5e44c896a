"""Responses of Request-triggered workflows, handed from their runner to the waiting HTTP request.

The protocol (the runner side is ``router.delivery.runner.RunnerClient.respond``):

1. the runner writes hash ``keys.response(execution_id)`` — ``status``, ``headers`` (JSON object),
   ``content_type``, ``body`` (raw bytes) — with a TTL;
2. then publishes the execution id on ``keys.responses_channel``.

The receiver keeps ONE pub/sub subscription per process, whatever the number of waiting requests, and
wakes the waiter of that execution id, which reads (and deletes) the hash. The hash is the truth, the
message only a doorbell: a waiter also reads the hash right after its event is stored, and every waiter
re-reads it when the subscription is (re)established, so a response published before anyone listened,
or during a reconnect, is not missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from router.storage.keys import Keys

logger = logging.getLogger(__name__)

# Set by the ASGI response itself; a runner must not be able to desynchronise the HTTP framing.
_DROPPED_HEADERS = frozenset({"content-length", "content-type", "transfer-encoding", "connection", "keep-alive"})


def iso_ms(ms: int) -> str:
    """Epoch milliseconds as ISO-8601 UTC with milliseconds, the platform's format: 2024-09-24T01:07:13.658Z."""
    return datetime.fromtimestamp(ms // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


@dataclass(frozen=True, slots=True)
class RunnerResponse:
    status: int
    content_type: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    def to_hash(self) -> dict[str, str | bytes | int]:
        return {
            "status": self.status,
            "content_type": self.content_type,
            "headers": json.dumps(self.headers, separators=(",", ":")),
            "body": self.body,
        }

    @classmethod
    def from_hash(cls, raw: Mapping[bytes, bytes]) -> RunnerResponse:
        """Raises ValueError on a malformed hash (a runner bug): the caller answers 502."""
        try:
            status = int(raw[b"status"])
            headers: Any = json.loads(raw.get(b"headers", b"{}"))
            content_type = raw.get(b"content_type", b"application/octet-stream").decode()
        except (KeyError, ValueError, UnicodeDecodeError) as exc:
            raise ValueError("malformed runner response") from exc
        if not 200 <= status <= 599 or not isinstance(headers, dict):
            raise ValueError("malformed runner response")
        kept = {str(k).lower(): str(v) for k, v in headers.items() if str(k).lower() not in _DROPPED_HEADERS}
        return cls(status, content_type, raw.get(b"body", b""), kept)


class ResponseWaiter:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys
        self._waiting: dict[str, asyncio.Event] = {}
        self._pubsub: PubSub | None = None

    @contextlib.contextmanager
    def expect(self, execution_id: str) -> Iterator[asyncio.Event]:
        """Register interest in one execution's response. A doorbell rung before this is not lost: ``wait``
        reads the hash before it listens."""
        ready = asyncio.Event()
        self._waiting[execution_id] = ready
        try:
            yield ready
        finally:
            self._waiting.pop(execution_id, None)

    async def wait(self, execution_id: str, ready: asyncio.Event, timeout_s: float) -> RunnerResponse | None:
        """The runner's response, or None if none came within ``timeout_s``. Raises ValueError if malformed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            ready.clear()  # before the read: a doorbell during the read then wakes the next wait at once
            reply = await self._take(execution_id)
            if reply is not None:
                return reply
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ready.wait(), remaining)

    async def _take(self, execution_id: str) -> RunnerResponse | None:
        key = self._keys.response(execution_id)
        async with self._redis.pipeline(transaction=True) as pipe:  # one key: fine on a cluster
            pipe.hgetall(key)
            pipe.execute_command("DEL", key)  # queued as is on a cluster too
            raw, _ = await pipe.execute()
        return RunnerResponse.from_hash(raw) if raw else None

    def _wake_all(self) -> None:
        for ready in self._waiting.values():
            ready.set()

    async def run_once(self) -> None:
        """Listen for up to a second (one supervised pass); subscribe first if not subscribed."""
        if self._pubsub is None:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.subscribe(self._keys.responses_channel)
            except BaseException:
                await pubsub.aclose()
                raise
            self._pubsub = pubsub
            self._wake_all()  # whatever was published while nobody listened is found by a re-read
        try:
            message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
        except BaseException:
            await self.aclose()  # a lost connection: the next pass subscribes again
            raise
        if message is not None:
            self._ring(message.get("data"))

    async def aclose(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()

    def _ring(self, data: object) -> None:
        execution_id = data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)
        ready = self._waiting.get(execution_id)
        if ready is not None:
            ready.set()


async def publish(redis: Redis, keys: Keys, execution_id: str, response: RunnerResponse, ttl_s: int) -> None:
    """The runner's side: store the response, then ring the doorbell (in that order; see the module doc)."""
    key = keys.response(execution_id)
    async with redis.pipeline(transaction=False) as pipe:
        # redis-py types the mapping as invariant dicts of its EncodableT union; ours is narrower.
        mapping: dict[Any, Any] = dict(response.to_hash())
        pipe.hset(key, mapping=mapping)
        pipe.expire(key, ttl_s)
        await pipe.execute()
    # A command of its own: redis-py refuses PUBLISH in a cluster pipeline, and a cluster relays it to every node.
    await redis.publish(keys.responses_channel, execution_id)
