"""The background workers of one process: routing, retention and the trim of acknowledged work, delivery to
HTTP targets and destinations, failure-event producers, replays, the subscription lifecycle and polled triggers.

`hookrouter serve` runs them beside the receiver (unless HOOKROUTER_RUN_WORKERS=false); `hookrouter worker`
runs only them. Either way they are built here and registered as tasks with the process's supervisor
(``router.runtime.supervisor``), which runs, restarts and stops them.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from redis.asyncio import Redis

from router.delivery.limits import Limiter
from router.delivery.worker import DeliveryConfig, DeliveryWorker
from router.history import stats
from router.history.replay import ReplayConfig, Replayer, ReplayRunner
from router.history.replay_jobs import ReplayJobs
from router.notifications.default_email import ProjectDestinations
from router.notifications.delivery import DestinationSender
from router.notifications.events import Notifier
from router.notifications.fanout import DestinationFanout
from router.notifications.producers import Producers, Transitions
from router.polling.poller import PollConfig, Poller
from router.polling.schedules import Scheduler
from router.polling.state import PollStates
from router.polling.tokens import TokenRefresher, for_lifecycle
from router.routing.worker import RoutingWorker, WorkerConfig
from router.runtime.lifecycle import build_runner
from router.runtime.supervisor import Supervisor, Task
from router.runtime.trimming import AckedTrim, Retention, RetentionConfig
from router.settings import Settings
from router.storage.keys import DELIVERY_GROUP, DESTINATIONS_GROUP, NOTIFY_GROUP, ROUTING_GROUP, Keys
from router.storage.store import EventStore
from subscriptions.crypto import SecretBox
from subscriptions.registry import Registry
from subscriptions.snapshot import SnapshotCache

# Longest a delivery batch may take between heartbeats: a target may take up to 120 s to answer.
DELIVERY_BUDGET_S = 150.0


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
        retry=settings.retry_policy,
        history_ttl_s=settings.retention_days * 86_400,
    )


@dataclass(frozen=True, slots=True)
class Shared:
    """What the workers take from the process's wiring (``router.runtime.process`` builds it once)."""

    cache: SnapshotCache
    box: SecretBox
    keys: Keys
    http: httpx.AsyncClient  # deliveries to HTTP targets and destinations
    provider_http: httpx.AsyncClient  # provider APIs (subscription lifecycle), with their own timeout
    limiter: Limiter
    notifier: Notifier
    sender: DestinationSender
    registry: Registry | None = None  # where refreshed OAuth tokens of polled credentials are stored


class Workers:
    """Every worker of the process, on ``redis``: the pool whose timeout allows their blocking reads."""

    def __init__(self, settings: Settings, redis: Redis, shared: Shared) -> None:
        self._settings = settings
        consumer = settings.consumer_name
        cache, keys = shared.cache, shared.keys

        # One store per consumer group read here: a store reads, claims and acks as its group's consumer.
        self._stores: list[EventStore] = []

        def store(group: str) -> EventStore:
            self._stores.append(
                EventStore(
                    redis,
                    maxlen=settings.stream_maxlen,
                    group=group,
                    consumer=consumer,
                    deadline_s=settings.redis_deadline_s,
                    counted=stats.counted(keys),
                )
            )
            return self._stores[-1]

        self.routing_store = store(ROUTING_GROUP)
        # One routing and one delivery worker per shard (those being drained included): a consumer group reads one
        # stream, and a shard's stream is one slot of a cluster.
        self.routings = [
            RoutingWorker(self.routing_store, cache, k, routing_config(settings)) for k in keys.every_shard
        ]
        self.routing = self.routings[0]
        delivery_store = store(DELIVERY_GROUP)
        self.deliveries = [
            DeliveryWorker(
                delivery_store,
                cache,
                k,
                shared.limiter,
                shared.http,
                delivery_config(settings),
                destinations=shared.sender,
                notifier=shared.notifier,
            )
            for k in keys.every_shard
        ]
        self.delivery = self.deliveries[0]
        self.fanout = DestinationFanout(
            store(DESTINATIONS_GROUP),
            cache,
            keys,
            block_ms=settings.route_block_ms,
            destinations=ProjectDestinations(settings.failure_emails),
        )
        self.producers = Producers(settings, store(NOTIFY_GROUP), cache, keys, shared.notifier)
        replay_jobs = ReplayJobs(redis, keys, record_ttl_s=settings.retention_days * 86_400)
        replayer = Replayer(
            self.routing_store, keys, replay_jobs, cache, ReplayConfig(rate_per_s=settings.replay_rate_per_s)
        )
        self.replay = ReplayRunner(replayer, replay_jobs, owner=consumer)
        states = PollStates(redis, keys)
        tokens = None
        if shared.registry is not None:
            transitions = Transitions(redis, keys)
            tokens = TokenRefresher(shared.registry, cache, states, transitions, shared.notifier, shared.provider_http)
        refresh = for_lifecycle(tokens) if tokens is not None else None
        self.lifecycle = build_runner(
            settings, redis, shared.box, cache, self.routing_store, shared.provider_http, refresh
        )
        polling = PollConfig(subscribed=bool(settings.public_url))  # as build_runner: subscriptions need it
        self.poller = Poller(
            cache, self.routing_store, keys, states, shared.provider_http, config=polling, tokens=tokens
        )
        self.scheduler = Scheduler(cache, self.routing_store, keys, redis)
        retention_s = settings.retention_days * 86_400.0
        self.retention = Retention(self.routing_store, cache, keys, RetentionConfig(retention_s=retention_s))
        self.acked_trim = AckedTrim(self.routing_store, keys)

    def register(self, supervisor: Supervisor) -> None:
        """Add every worker task to ``supervisor`` (which starts, restarts and stops them)."""
        # A pass that blocks in XREADGROUP returns within block_ms; the budget leaves room for a slow batch.
        blocking_budget_s = 30 + self._settings.route_block_ms / 1000
        for n, routing in enumerate(self.routings):
            name = _per_shard("routing", n)
            supervisor.add(Task(name, routing.run_once, budget_s=blocking_budget_s, reset=routing.reset))
        supervisor.add(Task("retention", self.retention.run_once, pause_s=self.retention.interval_s, budget_s=600))
        supervisor.add(Task("acked-trim", self.acked_trim.run_once, pause_s=self.acked_trim.interval_s))
        for n, delivery in enumerate(self.deliveries):
            name = _per_shard("delivery", n)
            supervisor.add(Task(name, delivery.run_once, budget_s=DELIVERY_BUDGET_S, reset=delivery.reset))
        supervisor.add(
            Task("destination-fanout", self.fanout.run_once, budget_s=blocking_budget_s, reset=self.fanout.reset)
        )
        for task in self.producers.tasks():
            supervisor.add(task)
        # A replay beats after every batch and while it waits for the live backlog to drain.
        self.replay.heartbeat = supervisor.add(
            Task("replay", self.replay.run_once, pause_s=1.0, budget_s=60, stop=self.replay.stop)
        )
        # A pass may call providers (up to PROVIDER_TIMEOUT_S each) for many credentials.
        supervisor.add(Task("lifecycle", self.lifecycle.run_once, pause_s=self.lifecycle.interval_s, budget_s=600))
        # A pass polls up to PollConfig.per_pass pairs, each within its poll budget.
        supervisor.add(Task("polling", self.poller.run_once, pause_s=self.poller.interval_s, budget_s=600))
        supervisor.add(Task("scheduler", self.scheduler.run_once, pause_s=self.scheduler.interval_s))

    async def aclose(self) -> None:
        """Close the stores; after the supervisor stopped (the process closes the clients it gave them)."""
        for store in self._stores:
            await store.aclose()


def _per_shard(task: str, shard: int) -> str:
    # Shard 0's task keeps the name it had before shards: dashboards and alerts on it go on working.
    return task if shard == 0 else f"{task}-{shard}"
