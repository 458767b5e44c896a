"""Trigger executions as the history knows them: a trigger job's status from the indexes, its user, workflow and
credential from the routing outcome, and its delivery from the delivery records. Every API that shows executions
(the admin API's ``/api/executions``, the platform's Task History API) reads them here and only shapes them.

A Request trigger's caller is given its job's id before routing has indexed the job: until then the execution is
read from its stored event, EXECUTING, so the id answers at once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from router.delivery.outcomes import DeliveryRecords
from router.history.indexes import BadFilter, EventIndex
from router.history.runs import RunReport, RunReports
from router.routing.outcomes import RoutingOutcomes
from router.storage.entries import IngestEvent
from router.storage.keys import Keys, trigger_job_id
from router.storage.store import EventStore
from router.storage.stream_id import StreamId

_JOB_ID = re.compile(r"^([0-9]{1,20}-[0-9]{1,20}(?:-[1-9][0-9]{0,3})?):.+$")


@dataclass(frozen=True, slots=True)
class Delivery:
    """Where a trigger job's delivery stands: ``queued`` (on a work stream: a delivery worker's or a workflow
    runner's), ``retrying`` (``next_attempt_at`` set), or how it ended (``ended_at`` set)."""

    state: str
    attempts: list[Any]  # as stored: each with ``at`` in epoch seconds
    reason: str | None = None
    ended_at: float | None = None  # epoch seconds
    next_attempt_at: float | None = None  # epoch seconds

    @property
    def ended(self) -> bool:
        return self.state not in ("queued", "retrying")


@dataclass(frozen=True, slots=True)
class Execution:
    id: str  # the trigger job's id
    event_id: str
    status: str  # one of JOB_STATUSES
    workflow: str | None
    user: str | None
    credential: str | None
    started_ms: int  # when its event was stored
    delivery: Delivery
    project: str | None = None  # read only for an execution not routed yet: the index knows the others' projects
    report: RunReport | None = None  # what its workflow runner reported: end, task count, steps

    @property
    def ended_ms(self) -> int | None:
        """When the workflow ended as its runner reported it, else when the router's delivery of it ended."""
        if self.report is not None and self.report.ended_ms is not None:
            return self.report.ended_ms
        return int(self.delivery.ended_at * 1000) if self.delivery.ended_at else None

    @property
    def run_duration_ms(self) -> int | None:
        ended = self.ended_ms
        return None if ended is None else ended - self.started_ms


def parse_date(name: str, value: str) -> int:
    """Epoch ms of an ISO 8601 date or datetime (no zone means UTC); BadFilter (→ 400) saying what was expected."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise BadFilter(
            f"{name} must be an ISO 8601 date or datetime (2024-05-01, 2024-05-01T12:00:00Z, "
            f"2024-05-01T12:00:00+02:00), got {value!r}",
            name,
        ) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


async def deliveries(store: EventStore, keys: Keys, job_ids: Sequence[str]) -> list[Delivery]:
    """Each trigger job's delivery, in the order of ``job_ids``, in one round trip."""
    out = []
    for record in await DeliveryRecords.of(store, keys).records(job_ids):
        history, due = record.history, record.due
        if history:
            out.append(
                Delivery(
                    state=history.get("status", ""),
                    attempts=json.loads(history.get("attempts") or "[]"),
                    reason=history.get("reason") or None,
                    ended_at=float(history.get("at") or 0) or None,
                )
            )
        elif due is not None:  # a retry is scheduled
            out.append(Delivery("retrying", json.loads(record.waiting_attempts), next_attempt_at=due))
        else:
            out.append(Delivery("queued", []))
    return out


async def executions(store: EventStore, keys: Keys, job_ids: Sequence[str]) -> list[Execution]:
    """The executions ``job_ids`` name, in their order; unknown (or trimmed) ids are left out."""
    known = [j for j in job_ids if _JOB_ID.match(j) and StreamId.is_valid(_event_of(j), event=True)]
    statuses = await EventIndex.of(store, keys).job_status(known)
    found = [(j, s) for j, s in zip(known, statuses, strict=True) if s]
    event_ids = [_event_of(j) for j, _ in found]
    outcomes = await RoutingOutcomes(store, keys).get_many(event_ids)
    routed = {j.get("job_id"): j for o in outcomes for j in outcome_jobs(o)}
    states = await deliveries(store, keys, [j for j, _ in found])
    reports = await RunReports.of(store, keys).get_many([j for j, _ in found])
    out = {}
    for (job_id, status), event_id, delivery, report in zip(found, event_ids, states, reports, strict=True):
        job = routed.get(job_id, {})
        out[job_id] = Execution(
            id=job_id,
            event_id=event_id,
            status=status,
            workflow=job.get("workflow"),
            user=job.get("user"),
            credential=job.get("credential") or None,
            started_ms=StreamId.parse(event_id, event=True).ms,
            delivery=delivery,
            report=report,
        )
    out |= await _not_routed(store, keys, [j for j, s in zip(known, statuses, strict=True) if not s])
    return [out[j] for j in dict.fromkeys(job_ids) if j in out]


async def _not_routed(store: EventStore, keys: Keys, job_ids: Sequence[str]) -> dict[str, Execution]:
    """Request trigger executions whose event is stored and not routed yet (the routing backlog), by job id."""
    if not job_ids:
        return {}
    stored = await store.get_events(keys, list(dict.fromkeys(map(_event_of, job_ids))))
    statuses = await EventIndex.of(store, keys).statuses([e.id for e in stored])
    unrouted = [e for e, status in zip(stored, statuses, strict=True) if status == "received"]
    waiting = {e.id: IngestEvent.lenient(e.fields, e.id) for e in unrouted}
    out = {}
    for job_id in job_ids:
        event = waiting.get(_event_of(job_id))
        # Only the one job routing will make of the call; once routed, the index answers (or knows no such job).
        if event is None or event.source != "request":
            continue
        if job_id != trigger_job_id(event.id, event.workflow, event.credential):
            continue
        out[job_id] = Execution(
            id=job_id,
            event_id=event.id,
            status="EXECUTING",
            workflow=event.workflow,
            user=event.user,
            credential=event.credential or None,
            started_ms=StreamId.parse(event.id, event=True).ms,
            delivery=Delivery("queued", []),
            project=event.project,
        )
    return out


def _event_of(job_id: str) -> str:
    match = _JOB_ID.match(job_id)
    return match.group(1) if match else ""


def outcome_jobs(outcome: bytes | str | None) -> list[dict[str, Any]]:
    """The trigger jobs a routing outcome lists (none when it is missing or unreadable)."""
    try:
        jobs = json.loads(outcome or "{}").get("jobs", [])
    except (ValueError, AttributeError):
        return []
    return [j for j in jobs if isinstance(j, dict)]
