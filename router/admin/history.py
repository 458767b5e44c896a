"""Admin API for event history: search stored events, trace one through routing and delivery, list trigger executions.

``GET /api/events`` and ``GET /api/executions`` page with an opaque ``cursor``; ``nextLink`` repeats the request's
filters with the next cursor (null on the last page) and ``total`` counts every match, as the Task History API does.
Dates are ISO 8601 (``2024-05-01``, ``2024-05-01T12:00:00Z``, or with an offset; no zone means UTC); ``afterDate``
is inclusive, ``beforeDate`` exclusive.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from router.admin import scopes as at
from router.admin.guard import admin
from router.admin.paging import attempts_with_iso, next_link, with_iso
from router.admin.paging import page as list_page
from router.admin.params import decimal
from router.admin.problems import problem
from router.delivery.outcomes import DeliveryRecords
from router.history.indexes import BadFilter, EventFilter, EventIndex, JobFilter
from router.ingress import headers as stored_headers
from router.ingress.sdk.responses import iso_ms
from router.routing.outcomes import RoutingOutcomes
from router.runtime.state import State, app_state
from router.storage.entries import IngestEvent
from router.storage.store import StoredEvent
from router.storage.stream_id import StreamId

_JOB_ID = re.compile(r"^([0-9]{1,20}-[0-9]{1,20}):.+$")
# Only events that passed verification are stored: a rejected request is kept as a diagnostic of its integration.
_VERIFIED_BY = {
    "": "provider signature",
    "webhook": "provider signature",
    "custom": "custom webhook definition",
    "app_event": "user token",
    "request": "user token",
    "lifecycle": "internal",
}


def parse_date(name: str, value: str) -> int:
    """Epoch ms of an ISO 8601 date or datetime; BadFilter (→ 400) saying what was expected."""
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


def _param(request: Request, *names: str) -> str | None:
    return next((v for n in names if (v := request.query_params.get(n))), None)


def _dates(request: Request) -> tuple[int | None, int | None]:
    after, before = _param(request, "afterDate"), _param(request, "beforeDate")
    return (
        None if after is None else parse_date("afterDate", after),
        None if before is None else parse_date("beforeDate", before),
    )


def _limit(request: Request) -> int:
    value = decimal(request.query_params.get("limit", "100"))
    if value is None or not 1 <= value <= 1000:
        raise BadFilter("limit must be an integer from 1 to 1000", "limit")
    return value


def event_filter(request: Request) -> EventFilter:
    after, before = _dates(request)
    return EventFilter(
        project=_param(request, "project"),
        integration=_param(request, "integration"),
        credential=_param(request, "credential"),
        user=_param(request, "user", "userId"),
        provider_id=_param(request, "provider_id"),
        event_type=_param(request, "event_type"),
        status=_param(request, "status"),
        after_ms=after,
        before_ms=before,
    )


def _summary(stored: StoredEvent, outcome: bytes | str | None, status: str) -> dict[str, Any]:
    event = IngestEvent.lenient(stored.fields, stored.id)
    summary = {
        "id": stored.id,
        "received_at": int(event.received_at or 0),
        "status": status,
        "project": event.project,
        "source": event.source or "webhook",
        "integration": event.integration,
        "integration_type": event.integration_type,
        "provider_id": event.provider_id,
        "credential": event.credential or None,
        "event_type": event.event_type,
        "delivery_id": event.delivery_id,
        "replay_of": event.replay_of or None,
        "routing": json.loads(outcome) if outcome else {"status": "received"},
    }
    return with_iso(summary, ms=["received_at"])


@admin(at.read(at.query("project")))
async def list_events(request: Request) -> Response:
    state = app_state(request)
    index = EventIndex.of(state["store"], state["keys"])
    page = await index.query(event_filter(request), cursor=_param(request, "cursor"), limit=_limit(request))
    events = await state["store"].get_many(state["keys"].ingest, page.ids)  # a trimmed one is simply left out
    ids = [e.id for e in events]
    outcomes = await RoutingOutcomes(state["store"], state["keys"]).get_many(ids)
    statuses = await index.statuses(ids)
    data = [_summary(e, o, s) for e, o, s in zip(events, outcomes, statuses, strict=True)]
    link = next_link(request, page.next_cursor)
    return JSONResponse(list_page(data, link, page.total, nextLink=link))


@admin(at.read(at.event()))
async def get_event(request: Request) -> Response:
    state = app_state(request)
    event_id = request.path_params["event_id"]
    event = await state["store"].get(state["keys"].ingest, event_id)
    if event is None:
        return problem(404, "not_found")
    keys = state["keys"]
    outcome = await RoutingOutcomes(state["store"], keys).get(event_id)
    status = await EventIndex.of(state["store"], keys).status_of(event_id)
    out = _summary(event, outcome, status)
    entry = IngestEvent.lenient(event.fields, event.id)
    body = entry.body
    try:
        stored = json.loads(entry.headers or "{}")
    except ValueError:
        stored = {}
    # Filtered again on the way out: what was stored under an older allow-list is not shown if it is now refused.
    out["headers"] = stored_headers.keep(stored) if isinstance(stored, dict) else {}
    out["body_base64"] = base64.b64encode(body).decode()
    try:
        out["body"] = body.decode("utf-8")
    except UnicodeDecodeError:
        out["body"] = None
    out["verification"] = {"result": "verified", "by": _VERIFIED_BY.get(out["source"], "provider signature")}
    jobs = out["routing"].get("jobs", []) if isinstance(out["routing"], dict) else []
    out["jobs"] = await _jobs(state, [j["job_id"] for j in jobs if isinstance(j, dict) and "job_id" in j], jobs)
    return JSONResponse(out)


async def _jobs(state: State, job_ids: list[str], summaries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each trigger job with its delivery state and every attempt (HTTP targets), in one round trip."""
    records = await DeliveryRecords.of(state["store"], state["keys"]).records(job_ids)
    by_id = {j.get("job_id"): j for j in summaries}
    out = []
    for job_id, record in zip(job_ids, records, strict=True):
        history, due = record.history, record.due
        job = dict(by_id.get(job_id, {}))
        if history:
            job.update(state=history.get("status", ""), reason=history.get("reason") or None)
            job["attempts"] = attempts_with_iso(json.loads(history.get("attempts") or "[]"))
            job["ended_at"] = float(history.get("at") or 0) or None
        elif due is not None:  # a retry is scheduled
            waiting = attempts_with_iso(json.loads(record.waiting_attempts))
            job.update(state="retrying", next_attempt_at=due, attempts=waiting)
        else:  # on its work stream: a delivery worker's or the workflow runner's
            job.update(state="queued", attempts=[])
        out.append(with_iso(job, seconds=["ended_at", "next_attempt_at"]))
    return out


@admin(at.OPERATOR_ONLY)
async def list_executions(request: Request) -> Response:
    state = app_state(request)
    index = EventIndex.of(state["store"], state["keys"])
    after, before = _dates(request)
    f = JobFilter(
        workflow=_param(request, "workflow", "workflowId"),
        user=_param(request, "user", "userId"),
        status=_param(request, "status"),
        after_ms=after,
        before_ms=before,
    )
    page = await index.jobs(f, cursor=_param(request, "cursor"), limit=_limit(request))
    executions = await _executions(state, index, page.ids)
    link = next_link(request, page.next_cursor)
    return JSONResponse(list_page(executions, link, page.total, workflowExecutions=executions, nextLink=link))


@admin(at.OPERATOR_ONLY)
async def get_execution(request: Request) -> Response:
    state = app_state(request)
    job_id = request.path_params["job_id"]
    found = await _executions(state, EventIndex.of(state["store"], state["keys"]), [job_id])
    if not found:
        return problem(404, "not_found")
    return JSONResponse(found[0])


async def _executions(state: State, index: EventIndex, job_ids: list[str]) -> list[dict[str, Any]]:
    """Trigger jobs in the Task History API's workflow-execution shape; unknown (or trimmed) ids are left out."""
    job_ids = [j for j in job_ids if _JOB_ID.match(j)]
    statuses = await index.job_status(job_ids)
    job_ids = [j for j, s in zip(job_ids, statuses, strict=True) if s]
    statuses = [s for s in statuses if s]
    event_ids = [_JOB_ID.match(j).group(1) for j in job_ids]  # type: ignore[union-attr]  # filtered above
    outcomes = await RoutingOutcomes(state["store"], state["keys"]).get_many(event_ids)
    details = await _jobs(state, job_ids, [j for o in outcomes for j in _outcome_jobs(o)])
    out = []
    for job_id, event_id, status, job in zip(job_ids, event_ids, statuses, details, strict=True):
        started = StreamId.parse(event_id).ms
        ended = int(job["ended_at"] * 1000) if job.get("ended_at") else None
        out.append(
            {
                "id": job_id,
                "userId": job.get("user"),
                "workflowId": job.get("workflow"),
                "credentialId": job.get("credential") or None,
                "eventId": event_id,
                "status": status,
                "dateStarted": iso_ms(started),
                "dateEnded": iso_ms(ended) if ended is not None else None,
                "runDuration": ended - started if ended is not None else None,
                "state": job.get("state"),
                "attempts": job.get("attempts", []),
            }
        )
    return out


def _outcome_jobs(outcome: bytes | str | None) -> list[dict[str, Any]]:
    try:
        jobs = json.loads(outcome or "{}").get("jobs", [])
    except (ValueError, AttributeError):
        return []
    return [j for j in jobs if isinstance(j, dict)]


routes = [
    Route("/api/events", list_events),
    Route("/api/events/{event_id}", get_event),
    Route("/api/executions", list_executions),
    Route("/api/executions/{job_id:path}", get_execution),
]
