"""What every hookrouter process holds, built once for `serve` (in the app's lifespan) and for `worker`:
its Redis clients, the registry and the snapshot cache, one supervisor for every background task, the
workers when this process runs them, and the readiness that ``/readyz`` reports.

Two Redis pools when the workers run here: request handling uses one whose every command answers within
``redis_deadline_s``; the workers use one that also allows their blocking reads (XREADGROUP BLOCK) to wait
``route_block_ms`` on top, so a quiet stream is not mistaken for a frozen Redis.
"""

from __future__ import annotations

import contextlib
import logging

from redis.asyncio import Redis
from redis.exceptions import RedisError

from router.runtime.health import Readiness
from router.runtime.supervisor import Supervisor, Task
from router.runtime.workers import Workers
from router.settings import Settings
from router.storage import redis_client
from router.storage.keys import Keys
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
        self.keys = Keys(settings.prefix)
        self.redis = connect(settings)
        self.registry = build_registry(settings, self.redis)
        self.cache = SnapshotCache(self.registry, refresh_s=settings.registry_refresh_s)
        self.supervisor = Supervisor()
        self.readiness = Readiness(
            self.redis,
            self.keys.readiness_probe(settings.consumer_name),
            self.supervisor,
            self.registry,
            deadline_s=settings.redis_deadline_s,
        )
        self._worker_redis: Redis | None = None
        self.workers: Workers | None = None
        if run_workers:
            self._worker_redis = connect(settings, block_s=settings.route_block_ms / 1000)
            self.workers = Workers(settings, self._worker_redis, self.registry.box, self.cache, self.keys)

    async def start(self) -> None:
        """Load the registry, then start every task. Fails fast on an unreachable Redis or a wrong master key."""
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
        self.supervisor.start()
        await self._warn_about_eviction()

    async def stop(self) -> None:
        """Stop every task (passes in hand finish, up to a grace period), then close the clients.

        Also after a failed start()."""
        await self.supervisor.stop()
        if self.workers is not None:
            await self.workers.aclose()
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
