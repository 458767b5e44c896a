"""The workflow runner's side of the router: a small client a runner process uses.

The runner protocol:

- **Jobs.** Each workflow has a trigger stream, ``keys.triggers(workflow_id)``. Runners of a workflow
  read it in the consumer group ``runners`` (XREADGROUP), and XACK a job once it is handled. Delivery
  is at-least-once: a job whose runner died stays pending and can be reclaimed (``reclaim``); the
  job's deterministic ``job_id`` is the key to deduplicate on. Job fields: ``job_id``, ``event_id``,
  ``workflow``, ``trigger_type``, ``project``, ``integration``, ``integration_type``, ``user``,
  ``credential``, ``event_type`` (the provider event type, or the App Event name), ``received_at``
  (ms), ``headers`` (JSON), ``body`` (bytes: the provider's body, the App Event payload as JSON, or
  for Request triggers the parsed request as JSON: ``{"headers", "params", "body", "file"}``), and for
  Request triggers ``execution_id``.
- **Responses** (Request-triggered workflows with a response step): ``respond(execution_id, ...)``
  with a status, headers and a JSON body or file bytes with their MIME type; see
  ``router.ingress.sdk.responses`` for the wire format. A response after the caller's timeout (542) is kept for
  ``response_ttl_s`` and then dropped.
- **Execution reports.** ``report_success`` / ``report_failure`` append to ``keys.executions``. A
  failure record carries the fields of the platform's ``workflow_failure`` event (its ``data`` object
  in the ``data`` field, as JSON), so event destinations can render it without the runner's help. Either
  may carry a ``RunReport`` (``router.history.runs``): when the execution ended, its task count and its
  step executions, which Task History then shows (kept ``report_ttl_s``, the retention period).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from redis.asyncio import Redis

from router.delivery.job import Job
from router.history.indexes import index_reported
from router.history.runs import RunReport, RunReports
from router.ingress.sdk.responses import RunnerResponse, iso_ms, publish
from router.storage.entries import ExecutionReport, MalformedEntry
from router.storage.keys import OBSERVER_GROUP, RUNNER_GROUP, Keys
from router.storage.store import EventStore, StoredEvent

__all__ = ["Job", "RunnerClient"]

logger = logging.getLogger(__name__)

_NO_BODY = object()


class RunnerClient:
    @classmethod
    def of(
        cls, store: EventStore, keys: Keys, workflow_id: str, consumer: str, *, maxlen: int, report_ttl_s: int
    ) -> RunnerClient:
        """On the client ``store`` uses (its pool and deadline): the router's own reports, not a runner's."""
        return cls(store.redis, keys, workflow_id, consumer, maxlen=maxlen, report_ttl_s=report_ttl_s)

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        workflow_id: str,
        consumer: str,
        *,
        maxlen: int = 1_000_000,
        response_ttl_s: int = 300,
        report_ttl_s: int = 90 * 86_400,  # HOOKROUTER_RETENTION_DAYS' default: reports live as long as events
        group: str = RUNNER_GROUP,
    ) -> None:
        """``group``: the consumer group read; ``OBSERVER_GROUP`` for a reader that is no runner (``hookrouter
        forward``): it gets jobs from when it joined, the runners still get every job."""
        self._redis = redis
        self._keys = keys
        self._stream = keys.triggers(workflow_id)
        self._group = group
        self._store = EventStore(redis, maxlen=maxlen, group=group, consumer=consumer)
        self._response_ttl_s = response_ttl_s
        self._runs = RunReports(redis, keys)
        self._report_ttl_s = report_ttl_s
        self._group_ready = False

    async def _jobs(self, events: list[StoredEvent]) -> list[Job]:
        """The jobs of these entries. An entry that is no trigger job (an unknown field, no ``event_id``) would be
        handed out again and again if left pending, and no runner could run it: it is logged and acked."""
        jobs: list[Job] = []
        unreadable: list[str] = []
        for event in events:
            try:
                jobs.append(Job.read(event))
            except MalformedEntry as exc:
                logger.error("malformed trigger job acked unrun", extra={"entry": event.id, "field": exc.field})
                unreadable.append(event.id)
        await self._store.ack(self._stream, unreadable)
        return jobs

    async def _ensure_group(self) -> None:
        if not self._group_ready:
            await self._store.ensure_group(self._stream, start="$" if self._group == OBSERVER_GROUP else "0")
            self._group_ready = True

    async def leave(self) -> None:
        """Leave the group (an observer's group goes with its last consumer); what this consumer had pending is
        dropped from it, not from the runners'."""
        if self._group_ready:
            await self._store.leave_group(self._stream)
            self._group_ready = False

    async def read(self, *, count: int = 10, block_ms: int = 1000) -> list[Job]:
        """New jobs for this consumer (blocks up to ``block_ms``)."""
        await self._ensure_group()
        return await self._jobs(await self._store.read_new(self._stream, count=count, block_ms=block_ms))

    async def reclaim(self, *, min_idle_ms: int = 60_000, count: int = 10) -> list[Job]:
        """Jobs another runner took but has not acked for ``min_idle_ms``: it is presumed dead."""
        await self._ensure_group()
        return await self._jobs(await self._store.claim_stale(self._stream, min_idle_ms=min_idle_ms, count=count))

    async def ack(self, *jobs: Job) -> None:
        await self._store.ack(self._stream, [j.entry_id for j in jobs])

    async def respond(
        self,
        execution_id: str,
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
        body: Any = _NO_BODY,
        file: bytes | None = None,
        mime_type: str = "application/octet-stream",
    ) -> None:
        """Answer the Request trigger call of ``execution_id``: a JSON ``body``, or ``file`` bytes."""
        if (body is _NO_BODY) == (file is None):
            raise ValueError("respond() takes exactly one of body (JSON) and file (bytes)")
        if not 200 <= status <= 599:
            raise ValueError(f"status {status} is not a final HTTP status")
        if file is not None:
            response = RunnerResponse(status, mime_type, file, dict(headers or {}))
        else:
            encoded = json.dumps(body, separators=(",", ":")).encode()
            response = RunnerResponse(status, "application/json", encoded, dict(headers or {}))
        await publish(self._redis, self._keys, execution_id, response, self._response_ttl_s)

    async def report_success(self, job: Job, *, run: RunReport | None = None) -> str:
        """Record a succeeded execution; ``run``: its end, task count and steps, for Task History."""
        return await self._report(job, "workflow_success", {}, run)

    async def report_failure(
        self,
        job: Job,
        error: str,
        *,
        step_id: str = "",
        instance_id: str = "",
        started_ms: int | None = None,
        ended_ms: int | None = None,
        run: RunReport | None = None,
    ) -> str:
        """Record a failed execution (the platform's ``workflow_failure``); returns the record's id.

        ``started_ms``/``ended_ms`` (unix ms) are when the failed step ran: the event's ``stepExecution.startTime``
        and ``endTime``. Left out, the event says what the router knows (see ``producers.step_execution``).
        """
        step: dict[str, Any] = {}
        if step_id:
            step = {"stepId": step_id, "instanceId": instance_id or step_id}
        if started_ms is not None:
            step["startTime"] = started_ms
        if ended_ms is not None:
            step["endTime"] = ended_ms
        return await self._report(
            job, "workflow_failure", {"error": error, **({"stepExecution": step} if step else {})}, run
        )

    async def _report(self, job: Job, kind: str, extra: dict[str, Any], run: RunReport | None) -> str:
        now = int(time.time() * 1000)
        data = {
            "type": kind,
            "projectId": job.entry.project,
            "workflowId": job.entry.workflow,
            "workflowExecution": {"id": job.execution_id},
            "timestamp": now,
            **extra,
        }
        report = ExecutionReport(
            type=kind,
            timestamp=str(now),
            timestampISO=iso_ms(now),
            execution_id=job.execution_id,
            job_id=job.job_id,
            event_id=job.entry.event_id,
            project=job.entry.project,
            workflow=job.entry.workflow,
            integration=job.entry.integration,
            integration_type=job.entry.integration_type,
            user=job.entry.user,
            credential=job.entry.credential,
            error=str(extra.get("error", "")),
            data=json.dumps(data, separators=(",", ":")).encode(),
        )
        if run is not None:
            # Before the status: an execution shown ended is never shown without what its runner said of it.
            await self._runs.put(job.job_id or job.execution_id, run, ttl_s=self._report_ttl_s)
        report_id = await self._store.append(self._keys.executions, report.to_fields())
        # The history index shows the execution finished (Task History's SUCCEEDED / FAILED).
        await index_reported(self._redis, self._keys, job.entry.event_id, job.job_id, kind == "workflow_success")
        return report_id
