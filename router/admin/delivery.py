"""Admin API for deliveries to HTTP targets: dead letters (list, re-drive), a target's state, a job's history."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import Path, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from router.admin import paging
from router.admin import scopes as at
from router.admin.guard import admin, admin_router
from router.admin.params import clamped_limit
from router.admin.problems import bad_parameter, problem
from router.delivery.disabled import DisabledTargets
from router.delivery.limits import Limiter
from router.delivery.outcomes import DeliveryRecords
from router.delivery.retry import Verdict
from router.delivery.worker import redrive
from router.runtime.state import app_state
from router.storage.entries import TriggerJob
from router.storage.store import StoredEvent
from router.storage.stream_id import StreamId

# A re-drive posted without a Content-Type is read as JSON all the same, as it always was.
router = admin_router(tags=["delivery"])

WorkflowId = Annotated[str, Path(description="The workflow whose HTTP target it is")]


class Attempt(BaseModel):
    """One POST to the target, as recorded."""

    model_config = ConfigDict(extra="forbid")

    at: float = Field(description="When it started, unix seconds")
    at_iso: str | None = Field(description="`at`, ISO 8601 UTC")
    status: int | None = Field(description="The target's HTTP status; null when no response arrived")
    duration_ms: float
    error_class: str | None = Field(description="Null on 2xx; `http_status` for other statuses, else the failure")
    retry_after_s: float | None = Field(None, description="The target's Retry-After, seconds from `at`")
    verdict: Verdict | None = Field(None, description="What the worker made of it")


class DeadLetter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="The dead letter's id: what a re-drive names, and a cursor")
    job_id: str
    workflow: str
    credential: str
    event_id: str
    reason: str = Field(description="Why it was dead-lettered (`target_gone`, `attempts_exhausted`, ...)")
    dead_at: float = Field(description="Unix seconds")
    dead_at_iso: str | None = Field(description="`dead_at`, ISO 8601 UTC")
    attempts: list[Attempt]
    body_bytes: int = Field(description="The job body's size (the body itself is not shown)")


class DeadLetterPage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data: list[DeadLetter]
    next: str | None = Field(description="The next page's path and query; null on the last page")
    next_id: str | None = Field(description="The cursor `next` carries (what `next` was before it was a link)")


class Redrive(BaseModel):
    """Exactly one of ``id`` (one dead letter) or ``workflow`` (every dead letter of that workflow's target)."""

    id: str | None = Field(None, description="A dead letter's id")
    workflow: str | None = Field(None, description="A workflow: re-drive every dead letter of its target")

    @model_validator(mode="after")
    def _exactly_one(self) -> Redrive:
        if (self.id is None) == (self.workflow is None):
            raise ValueError('give exactly one of "id" or "workflow"')
        return self


class Redriven(BaseModel):
    model_config = ConfigDict(extra="forbid")

    redriven: int = Field(description="How many dead letters went back to work")


class Disabled(BaseModel):
    model_config = ConfigDict(extra="forbid")

    at: float = Field(description="When a 410 Gone disabled the target, unix seconds")
    at_iso: str | None = Field(description="`at`, ISO 8601 UTC")
    status: int | None = Field(description="The status that disabled it")


class Breaker(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: Literal["open", "closed"]
    consecutive_failures: int
    opened_at: float | None = Field(description="When it opened, unix seconds; null while closed")
    probe_in_flight: bool


class TargetState(BaseModel):
    model_config = ConfigDict(extra="forbid")

    workflow: str
    disabled: Disabled | None = Field(description="Null while the target is enabled")
    breaker: Breaker


class Enabled(BaseModel):
    model_config = ConfigDict(extra="forbid")

    workflow: str
    enabled: Literal[True]
    was_disabled: bool


class DeliveryRecord(BaseModel):
    """A finished job's record (strings as stored)."""

    model_config = ConfigDict(extra="forbid")

    status: str = Field(description="`delivered` or `dead`")
    reason: str = Field("", description="Why it was dead-lettered; empty when delivered")
    workflow: str = ""
    destination: str = Field("", description="The destination, for a failure event's delivery")
    event_id: str = ""
    attempts: list[Attempt]
    at: str = Field(description="When it ended, unix seconds (a decimal string, as stored)")
    at_iso: str | None = Field(description="`at`, ISO 8601 UTC")


def _dead(stored: StoredEvent) -> dict[str, Any]:
    # Lenient: a dead letter may be an entry the worker could not read as a job at all (malformed_entry).
    job = TriggerJob.lenient(stored.fields)
    dead = {
        "id": stored.id,
        "job_id": job.job_id,
        "workflow": job.workflow,
        "credential": job.credential,
        "event_id": job.event_id,
        "reason": job.dead_reason,
        "dead_at": float(job.dead_at or 0),
        "attempts": paging.attempts_with_iso(json.loads(job.attempts or b"[]")),
        "body_bytes": len(job.body),
    }
    return paging.with_iso(dead, seconds=["dead_at"])


@router.get("/dead-letters", response_model=DeadLetterPage, summary="Dead letters of HTTP targets, oldest first")
@admin(at.OPERATOR_ONLY)
async def list_dead_letters(
    request: Request,
    workflow: Annotated[str | None, Query(description="Only this workflow's dead letters")] = None,
    # A string, read by clamped_limit: a limit that is no number keeps the 400 it always had.
    limit: Annotated[
        str | None, Query(description="Entries per page: an integer, 1-1000 (default 100; larger is capped)")
    ] = None,
    cursor: Annotated[str | None, Query(description="A dead letter's id: the page starts after it")] = None,
    after: Annotated[str | None, Query(deprecated=True, description="The older name of `cursor`")] = None,
) -> Response:
    """With ``workflow``, a page may hold fewer entries than ``limit`` and still have a ``next``."""
    state = app_state(request)
    name, given = paging.cursor(request, "after")
    start = given or "-"
    count = clamped_limit(request, 100, 1000)
    if start != "-" and not StreamId.is_valid(start, event=True):
        return bad_parameter(name, f"{name} must be a dead-letter id")
    dead = [k.delivery_dead for k in state["keys"].every_shard]
    entries = await state["store"].scan_shards(dead, after=start, count=count)
    data = [d for d in map(_dead, entries) if workflow is None or d["workflow"] == workflow]
    next_after = entries[-1].id if len(entries) == count else None
    return JSONResponse(paging.page(data, paging.next_link(request, next_after, "after"), next_id=next_after))


@router.post("/dead-letters/redrive", response_model=Redriven, summary="Send dead letters back to work")
@admin(at.OPERATOR_ONLY)
async def redrive_dead_letters(request: Request, body: Redrive) -> Response:
    """404 for an ``id`` that names no dead letter."""
    state = app_state(request)
    if body.id is not None and not StreamId.is_valid(body.id, event=True):
        return problem(404, "not_found")
    count = await redrive(state["store"], state["keys"], entry_id=body.id, workflow=body.workflow)
    if body.id is not None and count == 0:
        return problem(404, "not_found")
    return JSONResponse({"redriven": count})


@router.get("/targets/{workflow_id}", response_model=TargetState, summary="An HTTP target's state")
@admin(at.read(at.workflow()))
async def target_state(request: Request, workflow_id: WorkflowId) -> Response:
    """Whether a 410 Gone disabled it, and its circuit breaker. 404 unless the workflow has an HTTP target."""
    state = app_state(request)
    workflow = state["cache"].current.workflows.get(workflow_id)
    if workflow is None or workflow.target.type != "http":
        return problem(404, "not_found")
    disabled = await DisabledTargets.of(state["store"], state["keys"]).record(workflow_id)
    breaker = await Limiter.of(state["store"], state["keys"]).state(workflow_id)
    if disabled is not None:
        disabled = paging.with_iso(disabled, seconds=["at"])
    return JSONResponse({"workflow": workflow_id, "disabled": disabled, "breaker": dict(breaker)})


@router.post("/targets/{workflow_id}/enable", response_model=Enabled, summary="Re-enable an HTTP target")
@admin(at.write(at.workflow()))
async def enable_target(request: Request, workflow_id: WorkflowId) -> Response:
    """Re-enable a target that a 410 Gone disabled (its dead letters can then be re-driven)."""
    state = app_state(request)
    removed = await DisabledTargets.of(state["store"], state["keys"]).enable(workflow_id)
    return JSONResponse({"workflow": workflow_id, "enabled": True, "was_disabled": removed})


@router.get("/deliveries/{job_id}", response_model=DeliveryRecord, summary="A finished delivery job's attempts")
@admin(at.OPERATOR_ONLY)
async def delivery_history(
    request: Request,
    job_id: Annotated[str, Path(description="The trigger job's id (parts percent-encoded, as listed)")],
) -> Response:
    """404 while the job is still running, or once its record outlived the retention period."""
    state = app_state(request)
    record: dict[str, Any] = await DeliveryRecords.of(state["store"], state["keys"]).history(job_id)
    if not record:
        return problem(404, "not_found")
    record["attempts"] = paging.attempts_with_iso(json.loads(record.get("attempts", "[]")))
    return JSONResponse(paging.with_iso(record, seconds=["at"]))
