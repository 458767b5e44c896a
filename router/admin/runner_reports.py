"""The runners' reports over HTTP: an execution's success or failure, and a credential found invalid.

The admin-authenticated form of ``RunnerClient.report_success`` / ``report_failure`` for runners without the
Python client (either may carry the execution's end, task count and step executions, in the platform's Task
History shapes), and the credential invalidation whose transition ``router.notifications.producers`` turns into
one credentials_failure.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import Depends, Path
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from router.admin import scopes as at
from router.admin.guard import admin, admin_router
from router.admin.problems import problem, responses
from router.delivery.runner import Job, RunnerClient
from router.history.executions import executions
from router.history.runs import INLINE_BYTES, LATEST_MS, MAX_STEPS, RunReport, StepExecution
from router.ingress.webhooks import BodyTooLarge
from router.notifications.events import Notifier
from router.notifications.producers import Fact, Transitions, notify_claimed
from router.runtime.state import State, app_state
from router.storage.entries import TriggerJob
from subscriptions.models import Credential, Id, Workflow
from subscriptions.snapshot import Snapshot

MAX_BODY_BYTES = 64 * 1024
REPORT_BODY_BYTES = 1024 * 1024  # an execution's report: its step executions, each input and output up to INLINE_BYTES
_EXECUTION_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"

# Runners post without a Content-Type too: the body is read as JSON all the same, as it always was.
router = admin_router(tags=["runner reports"])


class StepRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # The platform's field names.
    stepId: Annotated[str, StringConstraints(min_length=1, max_length=128)] = Field(description="The failed step")
    instanceId: Annotated[str, StringConstraints(max_length=128)] = Field("", description="The step's instance")
    startTime: int | None = Field(None, ge=0, le=LATEST_MS, description="When the step started, unix ms")
    endTime: int | None = Field(None, ge=0, le=LATEST_MS, description="When the step failed, unix ms")


StepId = Annotated[str, StringConstraints(min_length=1, max_length=128)]


def _utc(moment: datetime) -> datetime:
    # No zone means UTC. A zone can carry 0001-01-01 or 9999-12-31 out of the years a datetime (and the ISO 8601
    # answers Task History gives) can hold: refused here, not stored to fail every later listing.
    try:
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    except OverflowError:
        raise ValueError("outside the years 1 to 9999 in UTC") from None


Moment = Annotated[datetime, AfterValidator(_utc)]


class StepReport(BaseModel):
    """One step execution, in the platform's Task History shape (§3.6), with its input and output."""

    model_config = ConfigDict(extra="forbid")

    id: StepId = Field(description="The step execution's id, unique within the execution")
    stepId: StepId = Field(description="The workflow step it ran")
    status: Literal["EXECUTING", "SUCCEEDED", "FAILED", "DELAYED"]
    type: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(examples=["ACTION/REQUEST"])
    start: Moment | None = Field(None, description="ISO 8601; no zone means UTC")
    end: Moment | None = Field(None, description="ISO 8601; no zone means UTC")
    next: list[StepId] = Field(default_factory=list, max_length=100, description="The step executions after it")
    prev: StepId | None = Field(None, description="The step execution before it")
    input: Any = Field(None, description=f"Kept up to {INLINE_BYTES} bytes of JSON, else isLargeInput")
    output: Any = Field(None, description=f"Kept up to {INLINE_BYTES} bytes of JSON, else isLargeOutput")


class RunFields(BaseModel):
    """What a runner may report of an execution besides its outcome; Task History shows it."""

    model_config = ConfigDict(extra="forbid")

    workflow: Id = Field(description="The workflow the execution ran; its project is the one the key must write")
    user: Id = Field(description="The connected user it ran for")
    dateEnded: Moment | None = Field(None, description="When the execution ended, ISO 8601; no zone means UTC")
    taskCount: int | None = Field(None, ge=0, le=1_000_000, description="The tasks it ran")
    stepExecutions: list[StepReport] = Field(default_factory=list, max_length=MAX_STEPS)

    @model_validator(mode="after")
    def _linked(self) -> RunFields:
        ids = [s.id for s in self.stepExecutions]
        if len(set(ids)) != len(ids):
            raise ValueError("stepExecutions: each id must be unique")
        for step in self.stepExecutions:
            unknown = [n for n in [*step.next, *([step.prev] if step.prev else [])] if n not in ids]
            if unknown:
                raise ValueError(f"stepExecutions: step {step.id!r} links to ids not reported: {unknown[:5]}")
        return self

    def run(self) -> RunReport | None:
        """The report to keep, or None when only the outcome was reported."""
        if self.dateEnded is None and self.taskCount is None and not self.stepExecutions:
            return None
        steps = tuple(
            StepExecution.of(
                id=s.id,
                step_id=s.stepId,
                status=s.status,
                type=s.type,
                start_ms=_ms(s.start),
                end_ms=_ms(s.end),
                next=s.next,
                prev=s.prev,
                input=s.input,
                output=s.output,
            )
            for s in self.stepExecutions
        )
        return RunReport(ended_ms=_ms(self.dateEnded), task_count=self.taskCount, steps=steps)


def _ms(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp() * 1000)  # in UTC: _utc made it so


class SuccessReport(RunFields):
    """What a runner without the Python client posts when an execution succeeded."""


class FailureReport(RunFields):
    """What a runner without the Python client posts when an execution failed."""

    error: Annotated[str, StringConstraints(min_length=1, max_length=10_000)] = Field(description="What went wrong")
    step: StepRef | None = None


class Invalidation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    error: Annotated[str, StringConstraints(min_length=1, max_length=200)] = Field(
        description="Why it is invalid: the credentials_failure event carries it", examples=["invalid_grant"]
    )


async def _bounded(request: Request) -> None:
    if len(await request.body()) > MAX_BODY_BYTES:
        raise BodyTooLarge(MAX_BODY_BYTES)


async def _report_bounded(request: Request) -> None:
    if len(await request.body()) > REPORT_BODY_BYTES:
        raise BodyTooLarge(REPORT_BODY_BYTES)


class Reported(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="The failure record's id on the executions stream")
    execution_id: str


class Invalidated(BaseModel):
    model_config = ConfigDict(extra="forbid")

    credential: str
    status: Literal["INVALID"]
    change: Literal["created", "updated", "unchanged"] = Field(
        description="`updated` when this request marked it INVALID, `unchanged` when it already was"
    )


_TOO_LARGE = responses(s413=f"A body over {MAX_BODY_BYTES} bytes (`body_too_large`)")
_REPORT_TOO_LARGE = responses(s413=f"A body over {REPORT_BODY_BYTES} bytes (`body_too_large`)")


async def _job(state: State, snapshot: Snapshot, wf: Workflow, execution_id: str, user: str) -> Job:
    """The job fields report_failure reads. An id naming one of this workflow's executions (a trigger job id, as
    Task History and a Request trigger's answer give it) ties the report to that job: Task History then shows it
    FAILED and the event can link it. Any other id is reported as given."""
    found = await executions(state["store"], state["keys"], [execution_id])
    run = found[0] if found and found[0].workflow == wf.id else None
    integration = snapshot.integrations.get(wf.integration)
    entry = TriggerJob(
        event_id=run.event_id if run else "",
        job_id=run.id if run else "",
        credential=(run.credential or "") if run else "",
        execution_id=execution_id,
        project=wf.project,
        workflow=wf.id,
        integration=wf.integration,
        integration_type=integration.type if integration else "",
        user=user,
    )
    return Job("", entry)


ExecutionId = Annotated[
    str, Path(pattern=_EXECUTION_ID, description="The execution's id: 1-128 of A-Z a-z 0-9 _ . : -")
]


def _client(state: State, wf: Workflow) -> RunnerClient:
    settings = state["settings"]
    return RunnerClient.of(
        state["store"],
        state["keys"],
        wf.id,
        settings.consumer_name,
        maxlen=settings.stream_maxlen,
        report_ttl_s=settings.retention_days * 86_400,
    )


@router.post(
    "/executions/{execution_id}/success",
    response_model=Reported,
    status_code=202,
    summary="Report an execution's success, with its end, task count and step executions",
    dependencies=[Depends(_report_bounded)],
    responses=_REPORT_TOO_LARGE,
)
@admin(at.write(at.body_workflow()))
async def report_success(request: Request, execution_id: ExecutionId, report: SuccessReport) -> Response:
    """The HTTP form of ``RunnerClient.report_success``: Task History then shows the execution SUCCEEDED, with
    the end, task count and steps reported. 404 ``unknown_workflow`` when the workflow is not in the registry."""
    state = app_state(request)
    snapshot = await state["cache"].refresh()
    wf = snapshot.workflows.get(report.workflow)
    if wf is None:
        return problem(404, "unknown_workflow")
    job = await _job(state, snapshot, wf, execution_id, report.user)
    record_id = await _client(state, wf).report_success(job, run=report.run())
    return JSONResponse({"id": record_id, "execution_id": execution_id}, status_code=202)


@router.post(
    "/executions/{execution_id}/failure",
    response_model=Reported,
    status_code=202,
    summary="Report an execution's failure (a workflow_failure follows)",
    dependencies=[Depends(_report_bounded)],
    responses=_REPORT_TOO_LARGE,
)
@admin(at.write(at.body_workflow()))
async def report_failure(request: Request, execution_id: ExecutionId, report: FailureReport) -> Response:
    """The HTTP form of ``RunnerClient.report_failure``, for runners without the Python client. 404
    ``unknown_workflow`` when the workflow is not in the registry."""
    state = app_state(request)
    snapshot = await state["cache"].refresh()  # a workflow applied a moment ago is known
    wf = snapshot.workflows.get(report.workflow)
    if wf is None:
        return problem(404, "unknown_workflow")
    step = report.step
    record_id = await _client(state, wf).report_failure(
        await _job(state, snapshot, wf, execution_id, report.user),
        report.error,
        step_id=step.stepId if step else "",
        instance_id=step.instanceId if step else "",
        started_ms=step.startTime if step else None,
        ended_ms=step.endTime if step else None,
        run=report.run(),
    )
    return JSONResponse({"id": record_id, "execution_id": execution_id}, status_code=202)


@router.post(
    "/credentials/{credential_id}/invalidate",
    response_model=Invalidated,
    summary="Mark a credential INVALID (one credentials_failure per transition)",
    dependencies=[Depends(_bounded)],
    responses=_TOO_LARGE,
)
@admin(at.write(at.credential()))
async def invalidate_credential(
    request: Request,
    credential_id: Annotated[str, Path(description="The credential's id")],
    invalidation: Invalidation,
) -> Response:
    """However many runners report the same credential, its owners are told once."""
    state = app_state(request)
    reason = invalidation.error
    registry = state["registry"]
    version_before = await registry.version()
    credential = await registry.get("credential", credential_id)
    if not isinstance(credential, Credential):
        return problem(404, "not_found")
    if credential.status == "INVALID":
        return JSONResponse({"credential": credential_id, "status": "INVALID", "change": "unchanged"})
    transitions = Transitions.of(state["store"], state["keys"])
    # The reason goes first: whoever claims the transition, this request or a worker's watch that saw the new
    # snapshot sooner, notifies with it. The VALID fact covers a credential no watch has recorded yet.
    await transitions.set_reason(credential_id, reason)
    await transitions.record([Fact(credential_id, "VALID", version_before)])
    change = await registry.put(credential.model_copy(update={"status": "INVALID"}))
    claims = await transitions.record([Fact(credential_id, "INVALID", await registry.version())])
    snapshot = await state["cache"].refresh()
    await notify_claimed(transitions, Notifier(state["store"], state["keys"]), snapshot, claims)
    return JSONResponse({"credential": credential_id, "status": "INVALID", "change": change})
