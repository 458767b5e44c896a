"""What every hookrouter process holds, built once, here, for `serve` (in the app's lifespan) and for `worker`:
its Redis clients, the registry and the snapshot cache, the event store, the outbound HTTP clients, the
per-target limiter, the notifier and the destination sender, one supervisor for every background task, the
workers when this process runs them, and the readiness that ``/readyz`` reports.

Two Redis pools when the workers run here: request handling (and whatever the workers share with it: limiter,
notifier, sender) uses one whose every command answers within ``redis_deadline_s``; the workers' consumer
groups use one that also allows their blocking reads (XREADGROUP BLOCK) to wait ``route_block_ms`` on top, so a
quiet stream is not mistaken for a frozen Redis.

Event stores: ``store`` on the first pool (ingest, the admin API, the notifier), and on the second one per
consumer group the workers read as (routing, delivery, destination fan-out, executions bridge; built in
``router.runtime.workers``): a store reads, claims and acknowledges as one group's consumer.

HTTP clients, all through ``router.egress.transport.guarded_client``: ``http`` for every delivery (HTTP targets,
destinations, the admin API's destination tests), sized above the in-flight attempts; with the workers, a
second one for provider APIs, whose calls the subscription lifecycle bounds by ``PROVIDER_TIMEOUT_S`` instead.
"""

from __future__ import annotations

import contextlib
import logging

import httpx
from redis.asyncio import Redis
from redis.exceptions import RedisError

from router.delivery.limits import Limiter
from router.egress.transport import guarded_client
from router.history import stats
from router.notifications.default_email import ProjectDestinations
from router.notifications.delivery import DestinationSender
from router.notifications.destinations.email import SmtpConfig
from router.notifications.events import Notifier
from router.runtime.health import Readiness
from router.runtime.heap import freeze_startup_heap
from router.runtime.lifecycle import PROVIDER_TIMEOUT_S
from router.runtime.supervisor import Supervisor, Task
from router.runtime.workers import Shared, Workers
from router.settings import Settings
from router.storage import redis_client
from router.storage.keys import ROUTING_GROUP, Keys
from router.storage.store import EventStore
from subscriptions.crypto import SecretBox, parse_master_key
from subscriptions.keys import RegistryKeys
from subscriptions.registry import Registry
from subscriptions.snapshot import SnapshotCache

logger = logging.getLogger(__name__)


def connect(settings: Settings, *, block_s: float = 0.0) -> Redis:
    if not settings.redis_url:
        raise ValueError("redis_url is not set (the CLI starts an embedded Redis when REDIS_URL is unset)")
    return redis_client.connect(settings.redis_url, deadline_s=settings.redis_deadline_s, block_s=block_s)


def build_registry(settings: Settings, redis: Redis) -> Registry:
    if settings.master_key is None:
        raise ValueError("HOOKROUTER_MASTER_KEY is not set: it encrypts webhook secrets at rest")
    box = SecretBox(parse_master_key(settings.master_key.get_secret_value()))
    return Registry(redis, box, RegistryKeys(settings.prefix))


class Runtime:
    def __init__(self, settings: Settings, *, run_workers: bool) -> None:
        self.settings = settings
        self.keys = keys = Keys.of(settings)
        self.redis = connect(settings)
        self.registry = build_registry(settings, self.redis)
        self.cache = SnapshotCache(self.registry, refresh_s=settings.registry_refresh_s)
        self.supervisor = Supervisor()
        self.readiness = Readiness(
            self.redis,
            keys.readiness_probe(settings.consumer_name),
            self.supervisor,
            self.registry,
            deadline_s=settings.redis_deadline_s,
        )
        self.store = EventStore(
            self.redis,
            maxlen=settings.stream_maxlen,
            group=ROUTING_GROUP,
            consumer=settings.consumer_name,
            deadline_s=settings.redis_deadline_s,
            counted=stats.counted(keys),
        )
        self.egress = settings.egress_policy
        # Its pool is sized above the in-flight attempts, so a wait for a free connection never eats into a
        # target's timeout.
        limits = httpx.Limits(max_connections=settings.delivery_in_flight * 2, max_keepalive_connections=50)
        self.http = guarded_client(self.egress, limits=limits)
        self.limiter = Limiter(self.redis, keys)
        self.notifier = Notifier(self.store, keys)
        self.sender = DestinationSender(
            self.redis,
            keys,
            self.limiter,
            self.http,
            self.notifier,
            SmtpConfig.from_settings(settings),
            auto_disable_after=settings.destination_auto_disable_after,
            retry=settings.retry_policy,
            destinations=ProjectDestinations(settings.failure_emails),
        )
        self._worker_redis: Redis | None = None
        self._provider_http: httpx.AsyncClient | None = None
        self.workers: Workers | None = None
        if run_workers:
            self._worker_redis = connect(settings, block_s=settings.route_block_ms / 1000)
            self._provider_http = guarded_client(self.egress, timeout_s=PROVIDER_TIMEOUT_S)
            shared = Shared(
                self.cache,
                self.registry.box,
                keys,
                self.http,
                self._provider_http,
                self.limiter,
                self.notifier,
                self.sender,
                self.registry,
            )
            self.workers = Workers(settings, self._worker_redis, shared)

    async def start(self) -> None:
        """Load the registry, then start every task. Fails fast on an unreachable Redis, a cluster node named by a
        one-node URL, or a wrong master key."""
        await redis_client.refuse_cluster_node(self.redis)
        await self.registry.check_master_key()
        await self.cache.refresh()
        settings = self.settings
        self.supervisor.add(
            Task(
                "registry-refresh",
                self.cache.refresh,
                pause_s=settings.registry_refresh_s,
                budget_s=10 + settings.redis_deadline_s,
            )
        )
        if self.workers is not None:
            self.workers.register(self.supervisor)
        freeze_startup_heap()  # everything built so far lives as long as the process
        self.supervisor.start()
        await self._warn_about_eviction()

    async def stop(self) -> None:
        """Stop every task (passes in hand finish, up to a grace period), then close the clients.

        Also after a failed start()."""
        await self.supervisor.stop()
        if self.workers is not None:
            await self.workers.aclose()
        await self.store.aclose()
        for http in (self._provider_http, self.http):
            if http is not None:
                await http.aclose()
        for client in (self._worker_redis, self.redis):
            if client is not None:
                await client.aclose()

    async def _warn_about_eviction(self) -> None:
        # An evicting Redis drops stored events and consumer groups to make room: say so once, at start.
        with contextlib.suppress(RedisError, OSError):
            info = await self.redis.info("memory")
            policy = str(info.get("maxmemory_policy", "noeviction"))
            if policy.startswith("allkeys"):
                logger.warning(
                    "Redis evicts any key when full (maxmemory-policy %s): stored events can be lost; "
                    "use noeviction, so a full Redis refuses new events (503) instead",
                    policy,
                )
