"""The background workers of one process: routing, delivery to HTTP targets, and the subscription lifecycle.

`hookrouter serve` runs them beside the receiver (unless HOOKROUTER_RUN_WORKERS=false); `hookrouter worker`
runs only them. Either way they start and stop here: stop() lets each finish the batch in hand, up to a
deadline, then cancels what is left.
"""

from __future__ import annotations

import asyncio
import contextlib

import httpx
from redis.asyncio import Redis

from router.delivery import DELIVERY_GROUP, DeliveryConfig, DeliveryWorker
from router.destination_delivery import DestinationSender
from router.destination_fanout import DESTINATIONS_GROUP, DestinationFanout
from router.destinations.email import SmtpConfig
from router.keys import ROUTING_GROUP, Keys
from router.lifecycle_runner import RunningLifecycle, start_lifecycle
from router.limits import Limiter
from router.notifications import Notifier
from router.notify_producers import Producers
from router.replay import ReplayConfig, Replayer, ReplayRunner
from router.replay_jobs import ReplayJobs
from router.retry import RetryPolicy
from router.settings import Settings
from router.store import EventStore
from router.worker import RoutingWorker, WorkerConfig
from subscriptions.crypto import SecretBox
from subscriptions.snapshot import SnapshotCache

SHUTDOWN_GRACE_S = 10.0


async def cancel(task: asyncio.Task[None]) -> None:
    # On Python 3.11 a cancellation that lands inside redis-py's wait_for can be lost (CPython gh-86296,
    # fixed in 3.12): the loop then carries on as if nothing happened. Keep cancelling until it is done.
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=0.1)
    with contextlib.suppress(asyncio.CancelledError):
        task.result()


def routing_config(settings: Settings) -> WorkerConfig:
    return WorkerConfig(
        batch=settings.route_batch,
        block_ms=settings.route_block_ms,
        claim_idle_ms=settings.claim_idle_ms,
        max_deliveries=settings.max_deliveries,
        retention_days=settings.retention_days,
    )


def delivery_config(settings: Settings) -> DeliveryConfig:
    return DeliveryConfig(
        batch=settings.delivery_batch,
        block_ms=settings.route_block_ms,
        claim_idle_ms=settings.delivery_claim_idle_ms,
        in_flight=settings.delivery_in_flight,
        retry=RetryPolicy.parse(settings.retry_schedule),
        history_ttl_s=settings.retention_days * 86_400,
    )


class Workers:
    def __init__(self, settings: Settings, redis: Redis, box: SecretBox, cache: SnapshotCache, keys: Keys) -> None:
        self._settings = settings
        self._redis = redis
        self._box = box
        self._cache = cache
        self._keys = keys
        consumer = settings.consumer_name
        self.routing_store = EventStore(redis, maxlen=settings.stream_maxlen, group=ROUTING_GROUP, consumer=consumer)
        delivery_store = EventStore(redis, maxlen=settings.stream_maxlen, group=DELIVERY_GROUP, consumer=consumer)
        # One client per process; its pool is sized above the in-flight attempts so a wait for a free
        # connection never eats into a target's timeout.
        limits = httpx.Limits(max_connections=settings.delivery_in_flight * 2, max_keepalive_connections=50)
        self._http = httpx.AsyncClient(limits=limits, follow_redirects=False)
        self.routing = RoutingWorker(self.routing_store, cache, keys, routing_config(settings))
        limiter = Limiter(redis, keys)
        self.notifier = Notifier(self.routing_store, keys)
        sender = DestinationSender(
            redis,
            keys,
            limiter,
            self._http,
            self.notifier,
            SmtpConfig.from_settings(settings),
            auto_disable_after=settings.destination_auto_disable_after,
            retry=RetryPolicy.parse(settings.retry_schedule),
        )
        self.delivery = DeliveryWorker(
            delivery_store,
            cache,
            keys,
            limiter,
            self._http,
            delivery_config(settings),
            destinations=sender,
            notifier=self.notifier,
        )
        notify_store = EventStore(redis, maxlen=settings.stream_maxlen, group=DESTINATIONS_GROUP, consumer=consumer)
        self.fanout = DestinationFanout(notify_store, cache, keys, block_ms=settings.route_block_ms)
        self.producers = Producers(settings, redis, cache, keys, self.notifier)
        replay_jobs = ReplayJobs(redis, keys, record_ttl_s=settings.retention_days * 86_400)
        replayer = Replayer(
            self.routing_store, keys, replay_jobs, cache, ReplayConfig(rate_per_s=settings.replay_rate_per_s)
        )
        self.replay = ReplayRunner(replayer, replay_jobs, owner=consumer)
        self._workers = (self.routing, self.delivery, self.fanout, self.producers, self.replay)
        self._tasks: list[asyncio.Task[None]] = []
        self._lifecycle: RunningLifecycle | None = None

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(w.run())
            for w in (self.routing, self.delivery, self.fanout, self.producers, self.replay)
        ]
        self._lifecycle = await start_lifecycle(self._settings, self._redis, self._box, self._cache, self.routing_store)

    async def wait(self) -> None:
        """Until every worker returned (after stop())."""
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def stop(self, grace_s: float = SHUTDOWN_GRACE_S) -> None:
        for worker in self._workers:
            worker.stop()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=grace_s)
        for task in self._tasks:
            await cancel(task)
        if self._lifecycle is not None:
            await self._lifecycle.stop()
        await self._http.aclose()
