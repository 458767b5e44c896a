"""Producers of failure events: everything that feeds ``Notifier.emit`` besides delivery itself.

- ``ExecutionsBridge``: runners' failure reports (``Keys.executions``, written by ``RunnerClient.report_failure``
  or ``POST /api/executions/{id}/failure``) → ``workflow_failure``. Consumer group ``notify``; emit, then ack:
  at-least-once (a crash between the two notifies twice, never zero times).
- ``CredentialWatch``: a credential that went VALID → INVALID (``hookrouter apply``, the admin API) →
  ``credentials_failure``, once per transition across every worker (see ``Transitions``).
- ``BurstDetector``: ``verification_failures`` when one integration's failed verifications in one minute reach
  ``verification_burst_threshold``; one event per integration and minute.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from redis.asyncio import Redis
from redis.exceptions import RedisError

from router.errors import StoreUnavailable
from router.notifications import events as notifications
from router.notifications.events import Notifier
from router.runtime.supervisor import Task
from router.settings import Settings
from router.storage import scripts
from router.storage.consumer import QUICK_RECOVER_IDLE_MS, GroupReader
from router.storage.entries import ExecutionReport
from router.storage.keys import Keys
from router.storage.redis_client import decoded
from router.storage.store import EventStore, StoredEvent
from router.storage.stream_id import StreamId
from subscriptions.snapshot import Snapshot, SnapshotCache

logger = logging.getLogger(__name__)

_FAILURE = b"workflow_failure"  # the reports the bridge turns into events (ExecutionReport.type, as stored)
CurrentSnapshot = Callable[[], Snapshot]
# A report older than this is acked without a notification: the first start on an existing deployment
# must not page anyone about the whole retained history of the executions stream.
MAX_REPORT_AGE_S = 86_400
APPLY_ERROR = "marked_invalid"  # data.error of a credential marked INVALID without a reason (apply)


# -- workflow_failure ----------------------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\{(execution_id|workflow_id|project_id|job_id)\}")
# Where one execution is shown under HOOKROUTER_PUBLIC_URL, the link data.executionUrl falls back to when no
# template is configured: the project's Task History (a project key reads it), else the admin API's view.
TASK_HISTORY_EXECUTION_PATH = "/projects/{project_id}/task-history/workflow-executions/{job_id}"
ADMIN_EXECUTION_PATH = "/api/executions/{job_id}"


def execution_url(template: str, *, execution_id: str, workflow_id: str, project_id: str, job_id: str = "") -> str:
    """The template with its placeholders replaced (URL-encoded); not str.format, which would read attributes."""
    values = {"execution_id": execution_id, "workflow_id": workflow_id, "project_id": project_id, "job_id": job_id}
    return _PLACEHOLDER.sub(lambda m: quote(values[m.group(1)], safe=""), template)


def _link(config: BridgeConfig, report: ExecutionReport, project: str) -> str | None:
    """data.executionUrl: the configured template, else the job's Task History execution under the public URL; None
    (JSON null) when neither is known, since "" is no link and the platform's field is always a URL."""
    ids = {"execution_id": report.execution_id, "workflow_id": report.workflow, "project_id": project}
    if config.execution_url_template:
        return execution_url(config.execution_url_template, **ids, job_id=report.job_id)
    if config.public_url and report.job_id:
        path = TASK_HISTORY_EXECUTION_PATH if project else ADMIN_EXECUTION_PATH
        return execution_url(config.public_url.rstrip("/") + path, **ids, job_id=report.job_id)
    return None


def _ms(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def step_execution(reported: Any, report: ExecutionReport, ended_ms: int) -> dict[str, Any]:
    """The platform's stepExecution: what the runner reported, with startTime/endTime filled from what is known
    when it did not report them: the step ended at the latest when the failure was reported, and started at the
    earliest when the execution's event arrived (Task History's dateStarted; the report time when unknown)."""
    step = dict(reported) if isinstance(reported, dict) else {}
    ended = _ms(step.get("endTime"))
    if ended is None:
        ended = ended_ms
    started = _ms(step.get("startTime"))
    if started is None:
        started = _started_ms(report.event_id)
    if started is None:
        started = ended
    return {**step, "startTime": min(started, ended), "endTime": ended}


def _started_ms(event_id: str) -> int | None:
    try:
        return StreamId.parse(event_id, event=True).ms if event_id else None
    except ValueError:
        return None


def failure_event(stored: StoredEvent, snapshot: Snapshot, config: BridgeConfig) -> dict[str, Any]:
    """The platform's workflow_failure event for one failure report; ValueError (MalformedEntry among them) if
    the report is malformed."""
    report = ExecutionReport.from_fields(stored.fields, stored.id)
    data = json.loads(report.data or b"{}")
    if not isinstance(data, dict):
        raise ValueError("data is not an object")
    workflow = report.workflow
    wf = snapshot.workflows.get(workflow)
    project = report.project or (wf.project if wf else "")
    at_ms = int(report.timestamp or 0)
    return notifications.workflow_failure(
        snapshot,
        project=project,
        workflow=workflow,
        user=report.user,
        execution_id=report.execution_id,
        error=report.error,
        step=step_execution(data.get("stepExecution"), report, at_ms or StreamId.parse(stored.id).ms),
        execution_url=_link(config, report, project),
        now=at_ms / 1000 if at_ms else None,
    )


@dataclass(frozen=True, slots=True)
class BridgeConfig:
    execution_url_template: str = ""
    public_url: str = ""
    batch: int = 100
    block_ms: int = 1000
    claim_idle_ms: int = 60_000
    max_age_s: int = MAX_REPORT_AGE_S


class ExecutionsBridge:
    def __init__(
        self, store: EventStore, notifier: Notifier, snapshot: CurrentSnapshot, keys: Keys, config: BridgeConfig
    ) -> None:
        self._store = store
        self._notifier = notifier
        self._snapshot = snapshot
        self._stream = keys.executions
        self._config = config
        self._reader = GroupReader(
            store,
            keys.executions,
            count=config.batch,
            block_ms=config.block_ms,
            claim_idle_ms=config.claim_idle_ms,
            recover_idle_ms=QUICK_RECOVER_IDLE_MS,
        )

    def reset(self) -> None:
        """After a failed batch: see router.storage.consumer. Reports stay pending meanwhile: nothing is lost while
        Redis is away."""
        self._reader.reset()

    async def step(self) -> int:
        """One batch: reports left pending (by this bridge or a dead one) first, else new ones; notify, ack."""
        reports = (await self._reader.next()).events
        for report in reports:
            await self._handle(report)
        return len(reports)

    async def _handle(self, report: StoredEvent) -> None:
        if report.fields.get("type") == _FAILURE and not self._too_old(report):
            try:
                event = failure_event(report, self._snapshot(), self._config)
            except (ValueError, TypeError):  # MalformedEntry is a ValueError
                logger.error("malformed execution report skipped", extra={"entry": report.id})
            else:
                await self._notifier.emit(event)
        await self._store.ack(self._stream, [report.id])

    def _too_old(self, report: StoredEvent) -> bool:
        return time.time() - StreamId.parse(report.id).at_s > self._config.max_age_s


# -- credentials_failure -------------------------------------------------------------------------------------

# One fact per call: credential ARGV[1] had status ARGV[2] at registry version ARGV[3]. Facts older than the one
# kept are ignored, so a worker polling a stale snapshot cannot undo a newer one. Returns {1, reason, version
# replaced} when the newer fact turns a kept VALID into INVALID (that caller notifies), else {0, '', ''}.
_OBSERVE = """
local field = 's|' .. ARGV[1]
local kept = redis.call('HGET', KEYS[1], field)
local version = tonumber(ARGV[3])
local old_status, old_version = nil, nil
if kept then
  local sep = string.find(kept, ':', 1, true)
  old_status, old_version = string.sub(kept, 1, sep - 1), string.sub(kept, sep + 1)
  if version <= tonumber(old_version) then return {0, '', ''} end
end
redis.call('HSET', KEYS[1], field, ARGV[2] .. ':' .. ARGV[3])
if old_status == 'VALID' and ARGV[2] == 'INVALID' then
  local reason = redis.call('HGET', KEYS[1], 'r|' .. ARGV[1]) or ARGV[4]
  redis.call('HDEL', KEYS[1], 'r|' .. ARGV[1])
  return {1, reason, old_version}
end
return {0, '', ''}
"""

# Undo a claimed transition whose event could not be written, so the next observation claims it again.
_UNCLAIM = """
if redis.call('HGET', KEYS[1], 's|' .. ARGV[1]) == 'INVALID:' .. ARGV[2] then
  redis.call('HSET', KEYS[1], 's|' .. ARGV[1], 'VALID:' .. ARGV[3], 'r|' .. ARGV[1], ARGV[4])
end
return 0
"""


@dataclass(frozen=True, slots=True)
class Fact:
    credential: str
    status: str  # VALID | INVALID | GONE
    version: int


@dataclass(frozen=True, slots=True)
class Claimed:
    fact: Fact
    reason: str
    replaced_version: str


class Transitions:
    """Exactly-once VALID → INVALID detection across workers, without a single leader.

    Why not a SET NX marker keyed by the registry version at which a worker saw the credential INVALID: two
    workers polling at different moments can see the change first at different versions (another change landed
    in between), and would then hold two markers for one transition. Instead every worker reports facts ("status
    S at version V", true of the snapshot it loaded in one MULTI with V) to one hash that keeps the newest fact
    per credential; the fact that turns a kept VALID into INVALID claims the transition, atomically. A second
    event needs a newer VALID fact first, which only a real new transition provides. A credential first seen
    INVALID (no fact kept) notifies nobody.
    """

    @classmethod
    def of(cls, store: EventStore, keys: Keys) -> Transitions:
        """On the client ``store`` uses (its pool and deadline)."""
        return cls(store.redis, keys)

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._key = keys.credential_states
        self._observe = redis.register_script(_OBSERVE)
        self._unclaim = redis.register_script(_UNCLAIM)

    async def record(self, facts: Sequence[Fact], chunk: int = 500) -> list[Claimed]:
        claimed: list[Claimed] = []
        for start in range(0, len(facts), chunk):
            part = facts[start : start + chunk]
            async with self._redis.pipeline(transaction=False) as pipe:
                for f in part:
                    await scripts.queue(
                        self._observe, pipe, keys=[self._key], args=[f.credential, f.status, f.version, APPLY_ERROR]
                    )
                replies = await scripts.execute(pipe)
            for fact, (won, reason, replaced) in zip(part, replies, strict=True):
                if int(won):
                    claimed.append(Claimed(fact, decoded(reason), decoded(replaced)))
        return claimed

    async def set_reason(self, credential: str, reason: str) -> None:
        await self._redis.hset(self._key, f"r|{credential}", reason)

    async def unclaim(self, claim: Claimed) -> None:
        args: list[str | int] = [claim.fact.credential, claim.fact.version, claim.replaced_version, claim.reason]
        await self._unclaim(keys=[self._key], args=args)


async def notify_claimed(
    transitions: Transitions, notifier: Notifier, snapshot: Snapshot, claims: list[Claimed]
) -> None:
    """Emit one credentials_failure per claim; a claim whose event could not be written is handed back."""
    for n, claim in enumerate(claims):
        try:
            await notifier.emit(
                notifications.credentials_failure(snapshot, credential=claim.fact.credential, error=claim.reason)
            )
        except Exception:
            for rest in claims[n:]:
                await transitions.unclaim(rest)
            raise


class CredentialWatch:
    """Feeds every new snapshot's credential statuses to ``Transitions``; notifies the transitions it claims."""

    def __init__(self, transitions: Transitions, notifier: Notifier) -> None:
        self._transitions = transitions
        self._notifier = notifier
        self._seen: Snapshot | None = None

    async def observe(self, snapshot: Snapshot) -> int:
        """Record what changed since the last snapshot seen (everything, the first time); returns events emitted."""
        before = self._seen
        if before is not None and before.version == snapshot.version:
            return 0
        claims = await self._transitions.record(_facts(before, snapshot))
        await notify_claimed(self._transitions, self._notifier, snapshot, claims)
        self._seen = snapshot  # only now: after a failed emit the same difference is recorded again
        return len(claims)


def _facts(before: Snapshot | None, now: Snapshot) -> list[Fact]:
    if before is None:
        return [Fact(c.id, c.status, now.version) for c in now.credentials.values()]
    facts: list[Fact] = []
    for cred in now.credentials.values():
        old = before.credentials.get(cred.id)
        if old is None or old.status != cred.status:
            if old is not None:  # also the earlier fact, in case no worker recorded it (a flushed hash)
                facts.append(Fact(cred.id, old.status, before.version))
            facts.append(Fact(cred.id, cred.status, now.version))
    facts += [Fact(gone, "GONE", now.version) for gone in before.credentials.keys() - now.credentials.keys()]
    return facts


# -- verification_failures -----------------------------------------------------------------------------------


class BurstDetector:
    """Counts failed verifications per integration and minute; the failure that reaches the threshold notifies.

    The window is a hash (``count`` and ``reason:<code>`` → n) under ``Keys.verification_burst``; HINCRBY is
    atomic, so exactly one caller sees the count equal the threshold, whatever the number of receivers.
    """

    def __init__(
        self, redis: Redis, keys: Keys, notifier: Notifier, snapshot: CurrentSnapshot, *, threshold: int
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._notifier = notifier
        self._snapshot = snapshot
        self._threshold = threshold

    async def failed(self, integration_id: str, project: str, reason: str, now: float) -> None:
        """Never raises: an unreachable Redis must not change the 401 the sender gets."""
        window = int(now // 60)
        key = self._keys.verification_burst(integration_id, window)
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hincrby(key, "count", 1)
                pipe.hincrby(key, f"reason:{reason}", 1)
                pipe.expire(key, 120)
                count, *_ = await pipe.execute()
            if int(count) == self._threshold:
                await self._notify(integration_id, project, reason, window, await self._redis.hgetall(key), now)
        except (RedisError, OSError, StoreUnavailable) as exc:
            logger.warning(
                "verification burst not counted", extra={"integration": integration_id, "error": type(exc).__name__}
            )

    async def _notify(
        self, integration_id: str, project: str, reason: str, window: int, counts: dict[Any, Any], now: float
    ) -> None:
        snapshot = self._snapshot()
        project = project or _project_of(snapshot, integration_id)
        reasons = {decoded(k)[7:]: int(v) for k, v in counts.items() if decoded(k).startswith("reason:")}
        message = (
            f"{self._threshold} webhooks to integration {integration_id} failed verification within a minute "
            f"(last reason: {reason}): a misconfigured secret or an attack"
        )
        data = {
            "integrationId": integration_id,
            "count": self._threshold,
            "windowStart": window * 60_000,
            "reasons": reasons,
        }
        event = notifications.router_event(
            snapshot,
            "verification_failures",
            project=project,
            integration=integration_id,
            message=message,
            data=data,
            now=now,
        )
        await self._notifier.emit(event)


def _project_of(snapshot: Snapshot, integration_id: str) -> str:
    integration = snapshot.integrations.get(integration_id)
    if integration is not None:
        return integration.project
    custom = snapshot.custom_webhooks.get(integration_id)  # custom webhooks count under their definition id
    return custom.project if custom is not None else ""


# -- wiring ---------------------------------------------------------------------------------------------------


def burst_detector(
    settings: Settings, redis: Redis, keys: Keys, store: EventStore, cache: SnapshotCache
) -> BurstDetector:
    """The detector ``Diagnostics`` gets in the app's lifespan."""
    notifier = Notifier(store, keys)
    return BurstDetector(redis, keys, notifier, lambda: cache.current, threshold=settings.verification_burst_threshold)


class Producers:
    """The workers' share: the executions bridge and the credential watch, two supervised tasks.

    ``store`` reads the executions stream as consumer group ``NOTIFY_GROUP``."""

    def __init__(
        self, settings: Settings, store: EventStore, cache: SnapshotCache, keys: Keys, notifier: Notifier
    ) -> None:
        config = BridgeConfig(
            execution_url_template=settings.execution_url_template,
            public_url=settings.public_url,
            block_ms=settings.route_block_ms,
            claim_idle_ms=settings.claim_idle_ms,
        )
        self._cache = cache
        self._poll_s = settings.registry_refresh_s
        self.bridge = ExecutionsBridge(store, notifier, lambda: cache.current, keys, config)
        self.watch = CredentialWatch(Transitions.of(store, keys), notifier)

    def tasks(self) -> list[Task]:
        return [
            Task("executions-bridge", self.bridge.step, reset=self.bridge.reset),
            Task("credential-watch", self._observe, pause_s=self._poll_s),
        ]

    async def _observe(self) -> None:
        await self.watch.observe(self._cache.current)
