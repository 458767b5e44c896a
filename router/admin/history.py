"""Admin API for event history: search stored events, trace one through routing and delivery, list trigger executions.

``GET /api/events`` and ``GET /api/executions`` page with an opaque ``cursor``; ``nextLink`` repeats the request's
filters with the next cursor (null on the last page) and ``total`` counts every match, as the Task History API does.
Dates are ISO 8601 (``2024-05-01``, ``2024-05-01T12:00:00Z``, or with an offset; no zone means UTC); ``afterDate``
is inclusive, ``beforeDate`` exclusive.
"""

from __future__ import annotations

import base64
import json
from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema
from pydantic.config import JsonDict
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from router.admin import scopes as at
from router.admin.delivery import Attempt
from router.admin.guard import admin, admin_router
from router.admin.paging import attempts_with_iso, next_link, with_iso
from router.admin.paging import page as list_page
from router.admin.params import decimal
from router.admin.problems import problem
from router.history.executions import Delivery, deliveries, executions, parse_date
from router.history.indexes import JOB_STATUSES, STATUSES, BadFilter, EventFilter, EventIndex, JobFilter
from router.ingress import headers as stored_headers
from router.ingress.sdk.responses import iso_ms
from router.routing.outcomes import RoutingOutcomes
from router.runtime.state import State, app_state
from router.storage.entries import IngestEvent
from router.storage.store import StoredEvent

router = admin_router(tags=["history"])

# Only events that passed verification are stored: a rejected request is kept as a diagnostic of its integration.
_VERIFIED_BY = {
    "": "provider signature",
    "webhook": "provider signature",
    "custom": "custom webhook definition",
    "app_event": "user token",
    "request": "user token",
    "lifecycle": "internal",
    "poll": "provider API (polled)",
    "scheduler": "internal",
}


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RoutedJob(_Answer):
    job_id: str = Field(description="The trigger job's id (`<event id>:<workflow>:<credential or user>`)")
    workflow: str
    credential: str = Field(description="Empty for a job made for a user rather than a credential")
    user: str


class Routing(_Answer):
    status: str = Field(
        description="`received` until routed; then `matched`, `no_credential`, `no_workflow`, `integration_unknown`, "
        "`integration_disabled`, `malformed_entry`, ..."
    )
    jobs: list[RoutedJob] = Field(default=[], description="The trigger jobs routing made (absent until routed)")
    skipped: dict[str, int] = Field(default={}, description="Why matching jobs were not made: reason → count")


class EventSummary(_Answer):
    id: str = Field(description="The stored event's id")
    received_at: int = Field(description="When it was received, in epoch milliseconds")
    received_at_iso: str | None = Field(description="`received_at`, ISO 8601 UTC")
    status: str = Field(description=f"One of {', '.join(STATUSES)}")
    project: str
    source: str = Field(description="`webhook`, `custom`, `app_event`, `request` or `lifecycle`")
    integration: str
    integration_type: str
    provider_id: str = Field(description="The provider's tenant id the event named")
    credential: str | None = Field(description="The credential a user-level URL named")
    event_type: str
    delivery_id: str = Field(description="The provider's delivery id (duplicates are dropped by it)")
    replay_of: str | None = Field(description="On a replayed copy: the event it copies")
    routing: Routing


class JobDelivery(RoutedJob):
    state: str = Field(description="`queued`, `retrying`, or how the delivery ended (`delivered`, `dead`, ...)")
    reason: str | None = Field(default=None, description="Why it ended so (ended jobs)")
    attempts: list[Attempt] = Field(description="Every delivery attempt (HTTP targets)")
    ended_at: float | None = Field(default=None, description="When it ended, in epoch seconds (ended jobs)")
    ended_at_iso: str | None = Field(default=None, description="`ended_at`, ISO 8601 UTC")
    next_attempt_at: float | None = Field(default=None, description="When it is retried, epoch seconds (retrying)")
    next_attempt_at_iso: str | None = Field(default=None, description="`next_attempt_at`, ISO 8601 UTC")


class EventVerification(_Answer):
    result: str = Field(description="Always `verified`: a request that failed is not stored")
    by: str = Field(description="What verified it: `provider signature`, `user token`, ...")


class EventDetail(EventSummary):
    headers: dict[str, str] = Field(description="The stored headers the current allow-list shows")
    body_base64: str = Field(description="The body exactly as received")
    body: str | None = Field(description="The body as UTF-8 text; null when it is not")
    verification: EventVerification
    jobs: list[JobDelivery] = Field(description="Each trigger job with its delivery state")


_LEGACY: JsonDict = {"deprecated": True}  # members kept for clients of the older shape


class EventsPage(_Answer):
    data: list[EventSummary] = Field(description="Newest first")
    next: str | None = Field(description="The next page's path and query; null on the last page")
    total: int = Field(description="Every event the filters match")
    nextLink: str | None = Field(description="The older name of `next`", json_schema_extra=_LEGACY)


class Execution(_Answer):
    """A trigger job in the Task History API's workflow-execution shape."""

    id: str = Field(description="The trigger job's id")
    userId: str | None
    workflowId: str | None
    credentialId: str | None
    eventId: str = Field(description="The stored event it was made from")
    status: str = Field(description=f"One of {', '.join(JOB_STATUSES)}")
    dateStarted: str = Field(description="When the event was received, ISO 8601 UTC")
    dateEnded: str | None = Field(description="When its delivery ended, ISO 8601 UTC")
    runDuration: int | None = Field(description="Milliseconds from start to end")
    state: str | None = Field(description="The delivery state, as on an event's jobs")
    attempts: list[Attempt]


class ExecutionsPage(_Answer):
    data: list[Execution] = Field(description="Newest first")
    next: str | None = Field(description="The next page's path and query; null on the last page")
    total: int = Field(description="Every execution the filters match")
    workflowExecutions: list[Execution] = Field(description="The older name of `data`", json_schema_extra=_LEGACY)
    nextLink: str | None = Field(description="The older name of `next`", json_schema_extra=_LEGACY)


# Read as text and checked by the route, so a bad value answers the 400 `bad_filter` naming it that it always did;
# the schema documents the value the route takes.
Limit = Annotated[
    str | None,
    WithJsonSchema({"type": "integer", "minimum": 1, "maximum": 1000}),
    Query(description="Results per page, 1-1000 (default 100)"),
]
Cursor = Annotated[str | None, Query(description="The `next` page's cursor (opaque)")]
_DATE = "ISO 8601 date or datetime (2024-05-01, 2024-05-01T12:00:00Z, or with an offset; no zone means UTC)"
AfterDate = Annotated[str | None, Query(alias="afterDate", description=f"Received at or after: an {_DATE}")]
BeforeDate = Annotated[str | None, Query(alias="beforeDate", description=f"Received before: an {_DATE}")]
User = Annotated[str | None, Query(description="A connected user's id")]
UserAlias = Annotated[str | None, Query(alias="userId", deprecated=True, description="The older name of `user`")]


def _dates(after: str | None, before: str | None) -> tuple[int | None, int | None]:
    return (
        None if not after else parse_date("afterDate", after),
        None if not before else parse_date("beforeDate", before),
    )


def _limit(text: str | None) -> int:
    value = decimal("100" if text is None else text)
    if value is None or not 1 <= value <= 1000:
        raise BadFilter("limit must be an integer from 1 to 1000", "limit")
    return value


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


# Checked by the index (400 `bad_filter` listing the valid values); documented as the enumeration it is.
EventStatus = Annotated[
    str | None, WithJsonSchema({"type": "string", "enum": list(STATUSES)}), Query(description="Only events in it")
]
JobStatus = Annotated[
    str | None,
    WithJsonSchema({"type": "string", "enum": list(JOB_STATUSES)}),
    Query(description="Only executions in it"),
]


@router.get(
    "/events",
    response_model=EventsPage,
    summary="Search stored events, newest first",
    description="Filters combine; `provider_id` and `event_type` go with `integration`. "
    "`afterDate` is inclusive, `beforeDate` exclusive.",
)
@admin(at.read(at.query("project")))
async def list_events(
    request: Request,
    project: Annotated[str | None, Query(description="Only this project's events (a project key must name it)")] = None,
    integration: Annotated[str | None, Query(description="An integration's id")] = None,
    credential: Annotated[str | None, Query(description="A credential's id")] = None,
    user: User = None,
    user_id: UserAlias = None,
    provider_id: Annotated[str | None, Query(description="The provider's tenant id (with `integration`)")] = None,
    event_type: Annotated[str | None, Query(description="The provider's event type (with `integration`)")] = None,
    status: EventStatus = None,
    after_date: AfterDate = None,
    before_date: BeforeDate = None,
    limit: Limit = None,
    cursor: Cursor = None,
) -> Response:
    state = app_state(request)
    index = EventIndex.of(state["store"], state["keys"])
    after, before = _dates(after_date, before_date)
    flt = EventFilter(
        project=project or None,
        integration=integration or None,
        credential=credential or None,
        user=user or user_id or None,
        provider_id=provider_id or None,
        event_type=event_type or None,
        status=status or None,
        after_ms=after,
        before_ms=before,
    )
    page = await index.query(flt, cursor=cursor or None, limit=_limit(limit))
    events = await state["store"].get_events(state["keys"], page.ids)  # a trimmed one is simply left out
    ids = [e.id for e in events]
    outcomes = await RoutingOutcomes(state["store"], state["keys"]).get_many(ids)
    statuses = await index.statuses(ids)
    data = [_summary(e, o, s) for e, o, s in zip(events, outcomes, statuses, strict=True)]
    link = next_link(request, page.next_cursor)
    return JSONResponse(list_page(data, link, page.total, nextLink=link))


@router.get(
    "/events/{event_id}",
    response_model=EventDetail,
    summary="One stored event: headers, body, verification, routing and every job's delivery",
)
@admin(at.read(at.event()))
async def get_event(request: Request, event_id: Annotated[str, Path(description="The stored event's id")]) -> Response:
    state = app_state(request)
    event = await state["store"].get_event(state["keys"], event_id)
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
    by_id = {j.get("job_id"): j for j in summaries}
    states = await deliveries(state["store"], state["keys"], job_ids)
    return [{**by_id.get(job_id, {}), **_delivery(d)} for job_id, d in zip(job_ids, states, strict=True)]


def _delivery(delivery: Delivery) -> dict[str, Any]:
    out: dict[str, Any] = {"state": delivery.state, "attempts": attempts_with_iso(delivery.attempts)}
    if delivery.ended:
        out.update(reason=delivery.reason, ended_at=delivery.ended_at)
    elif delivery.next_attempt_at is not None:
        out["next_attempt_at"] = delivery.next_attempt_at
    return with_iso(out, seconds=["ended_at", "next_attempt_at"])


@router.get(
    "/executions",
    response_model=ExecutionsPage,
    summary="List trigger executions (the Task History API's shape), newest first",
)
@admin(at.OPERATOR_ONLY)
async def list_executions(
    request: Request,
    workflow: Annotated[str | None, Query(description="A workflow's id")] = None,
    workflow_id: Annotated[
        str | None, Query(alias="workflowId", deprecated=True, description="The older name of `workflow`")
    ] = None,
    user: User = None,
    user_id: UserAlias = None,
    status: JobStatus = None,
    after_date: AfterDate = None,
    before_date: BeforeDate = None,
    limit: Limit = None,
    cursor: Cursor = None,
) -> Response:
    state = app_state(request)
    index = EventIndex.of(state["store"], state["keys"])
    after, before = _dates(after_date, before_date)
    f = JobFilter(
        workflow=workflow or workflow_id or None,
        user=user or user_id or None,
        status=status or None,
        after_ms=after,
        before_ms=before,
    )
    page = await index.jobs(f, cursor=cursor or None, limit=_limit(limit))
    runs = await _executions(state, page.ids)
    link = next_link(request, page.next_cursor)
    return JSONResponse(list_page(runs, link, page.total, workflowExecutions=runs, nextLink=link))


@router.get("/executions/{job_id:path}", response_model=Execution, summary="One trigger execution")
@admin(at.OPERATOR_ONLY)
async def get_execution(
    request: Request, job_id: Annotated[str, Path(description="The trigger job's id (it may contain `/`)")]
) -> Response:
    state = app_state(request)
    found = await _executions(state, [job_id])
    if not found:
        return problem(404, "not_found")
    return JSONResponse(found[0])


async def _executions(state: State, job_ids: list[str]) -> list[dict[str, Any]]:
    """Trigger jobs in the Task History API's workflow-execution shape; unknown (or trimmed) ids are left out."""
    out = []
    for run in await executions(state["store"], state["keys"], job_ids):
        ended = run.ended_ms
        out.append(
            {
                "id": run.id,
                "userId": run.user,
                "workflowId": run.workflow,
                "credentialId": run.credential,
                "eventId": run.event_id,
                "status": run.status,
                "dateStarted": iso_ms(run.started_ms),
                "dateEnded": iso_ms(ended) if ended is not None else None,
                "runDuration": run.run_duration_ms,
                "state": run.delivery.state,
                "attempts": attempts_with_iso(run.delivery.attempts),
            }
        )
    return out
