"""Sending failure events to event destinations (webhooks in a vendor's shape, or email).

Destination jobs ride the same work stream, retry schedule, dead letters and per-target limits as
deliveries to workflow targets. Rendering happens at send time, from the registry, so a destination's
secrets (API keys, a Slack webhook URL) are never copied into a job. A destination that fails
``auto_disable_after`` times in a row (any non-2xx answer, any SMTP failure; a success resets the count)
is disabled, and a ``destination_disabled`` event goes to the project's other destinations.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from typing import Any

import httpx
from redis.asyncio import Redis

from router import metrics
from router.delivery.attempt import Attempt, attempt, dead_reason
from router.delivery.job import Job
from router.delivery.limits import Limiter, TargetLimits
from router.delivery.outcomes import Outcomes
from router.delivery.retry import RetryPolicy, Verdict
from router.notifications.default_email import ProjectDestinations
from router.notifications.destinations import RenderError, render
from router.notifications.destinations.email import SmtpConfig, send
from router.notifications.events import Notifier, router_event
from router.storage.keys import Keys
from router.storage.redis_client import decoded
from router.storage.store import EventStore, Settle
from subscriptions.destinations import Destination
from subscriptions.snapshot import Snapshot

logger = logging.getLogger(__name__)

TIMEOUT_S = 15.0
Clock = Callable[[], float]


class DisabledDestinations:
    """Destinations disabled automatically after consecutive failures, and the failure counts that lead there:
    ``DestinationSender`` writes both; the fan-out and the admin API read and lift them through here."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys

    @classmethod
    def of(cls, store: EventStore, keys: Keys) -> DisabledDestinations:
        """On the client ``store`` uses (its pool and deadline)."""
        return cls(store.redis, keys)

    async def records(self) -> dict[str, bytes | str]:
        """Destination id → when and why it was disabled (JSON, as stored)."""
        raw = await self._redis.hgetall(self._keys.disabled_destinations)
        return {decoded(k): v for k, v in raw.items()}

    async def ids(self) -> set[str]:
        return {decoded(k) for k in await self._redis.hkeys(self._keys.disabled_destinations)}

    async def lift(self, destination_id: str) -> None:
        """Lift an automatic disable and start the failure count afresh."""
        await self._redis.hdel(self._keys.disabled_destinations, destination_id)
        await self._redis.hdel(self._keys.destination_failures, destination_id)


class DestinationSender:
    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        limiter: Limiter,
        http: httpx.AsyncClient,
        notifier: Notifier,
        smtp: SmtpConfig | None,
        *,
        auto_disable_after: int,
        retry: RetryPolicy,
        clock: Clock = time.time,
        rand: Callable[[], float] = random.random,
        destinations: ProjectDestinations | None = None,
    ) -> None:
        self._redis = redis
        self._destinations = destinations or ProjectDestinations()
        self._keys = keys
        self._limiter = limiter
        self._http = http
        self._notifier = notifier
        self._smtp = smtp
        self._auto_disable_after = auto_disable_after
        self._retry = retry
        self._clock = clock
        self._rand = rand

    async def send_once(self, destination: Destination, event: dict[str, Any]) -> Attempt:
        """One attempt now, outside the limits and counters (the admin API's test action uses it).

        Raises RenderError when the destination's configuration cannot produce a request.
        """
        if destination.type == "email":
            return await self._email(destination, event)
        rendered = render(destination, event, now=self._clock())
        return await attempt(
            self._http,
            url=rendered.url,
            body=rendered.body,
            headers=rendered.headers,
            timeout_s=TIMEOUT_S,
            now=self._clock,
        )

    async def deliver(self, snapshot: Snapshot, job: Job, out: Outcomes) -> Settle:
        destination = self._destinations.get(snapshot, job.entry.destination)
        if destination is None:
            return out.dead(job, "destination_removed")
        if not destination.enabled or await self._redis.hexists(self._keys.disabled_destinations, destination.id):
            return out.dead(job, "destination_disabled")
        try:
            event = json.loads(job.entry.notification or b"{}")
        except ValueError:
            return out.dead(job, "malformed_event")
        target_id = self._keys.destination_target(destination.id)
        admission = await self._limiter.admit(target_id, TargetLimits.DEFAULT, TIMEOUT_S + 10, self._clock)
        if not admission.admitted:
            return out.retry_at(job, self._clock() + max(admission.wait_s, 0.01))
        result = Attempt(self._clock(), None, 0.0, "cancelled", None, Verdict.RETRY)
        try:
            result = await self.send_once(destination, event)
        except RenderError:
            result = Attempt(self._clock(), None, 0.0, "render_error", None, Verdict.FAIL)
        finally:
            await self._limiter.done(target_id, admission, result.verdict is not Verdict.RETRY, self._clock)
        job.attempts.append(json.loads(result.to_json()))
        return await self._after(snapshot, destination, job, result, out)

    async def _after(
        self, snapshot: Snapshot, destination: Destination, job: Job, result: Attempt, out: Outcomes
    ) -> Settle:
        if result.verdict is Verdict.SUCCESS:
            await self._redis.hdel(self._keys.destination_failures, destination.id)
            return out.finished(job, "delivered")
        metrics.DESTINATION_FAILURES.labels(destination.id).inc()
        failures = int(await self._redis.hincrby(self._keys.destination_failures, destination.id, 1))
        if failures >= (destination.auto_disable_after or self._auto_disable_after):
            await self._disable(snapshot, destination, failures, result)
            return out.dead(job, "destination_disabled")
        if result.verdict is not Verdict.RETRY:
            return out.dead(job, dead_reason(result))
        delay = self._retry.delay_s(len(job.attempts), result.retry_after_s, self._rand)
        if delay is None:
            return out.dead(job, "attempts_exhausted")
        return out.retry_at(job, self._clock() + delay)

    async def _disable(self, snapshot: Snapshot, destination: Destination, failures: int, result: Attempt) -> None:
        record = json.dumps(
            {"at": self._clock(), "failures": failures, "status": result.status, "error": result.error_class}
        )
        # HSETNX: of several workers crossing the threshold together, one announces it.
        if not await self._redis.hsetnx(self._keys.disabled_destinations, destination.id, record):
            return
        metrics.DESTINATION_DISABLED.labels(destination.id).inc()
        logger.error(
            "destination disabled after consecutive failures",
            extra={"destination": destination.id, "failures": failures},
        )
        name = destination.name or destination.id
        await self._notifier.emit(
            router_event(
                snapshot,
                "destination_disabled",
                project=destination.project,
                message=f"Event destination \u201c{name}\u201c was disabled after {failures} consecutive failed "
                "deliveries; re-enable it once it answers again.",
                data={
                    "destinationId": destination.id,
                    "failures": failures,
                    "lastStatus": result.status,
                    "lastError": result.error_class,
                },
            )
        )

    async def _email(self, destination: Destination, event: dict[str, Any]) -> Attempt:
        if self._smtp is None:
            return Attempt(self._clock(), None, 0.0, "smtp_not_configured", None, Verdict.RETRY)
        sent = await send(self._smtp, destination.to, event, now=self._clock)
        verdict = Verdict.SUCCESS if sent.ok else Verdict.RETRY if sent.retryable else Verdict.FAIL
        return Attempt(self._clock(), sent.code, sent.duration_ms, sent.error_class, None, verdict)
