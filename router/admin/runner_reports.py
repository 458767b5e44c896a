"""The runners' reports over HTTP: an execution's failure and a credential found invalid.

The admin-authenticated form of ``RunnerClient.report_failure`` for runners without the Python client, and the
credential invalidation whose transition ``router.notifications.producers`` turns into one credentials_failure.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Depends, Path
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from router.admin import scopes as at
from router.admin.guard import admin, admin_router
from router.admin.problems import problem, responses
from router.delivery.runner import Job, RunnerClient
from router.history.executions import executions
from router.ingress.webhooks import BodyTooLarge
from router.notifications.events import Notifier
from router.notifications.producers import Fact, Transitions, notify_claimed
from router.runtime.state import State, app_state
from router.storage.entries import TriggerJob
from subscriptions.models import Credential, Id, Workflow
from subscriptions.snapshot import Snapshot

MAX_BODY_BYTES = 64 * 1024
_EXECUTION_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"

# Runners post without a Content-Type too: the body is read as JSON all the same, as it always was.
router = admin_router(tags=["runner reports"])


class StepRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # The platform's field names.
    stepId: Annotated[str, StringConstraints(min_length=1, max_length=128)] = Field(description="The failed step")
    instanceId: Annotated[str, StringConstraints(max_length=128)] = Field("", description="The step's instance")
    startTime: int | None = Field(None, ge=0, description="When the step started, unix ms")
    endTime: int | None = Field(None, ge=0, description="When the step failed, unix ms")


class FailureReport(BaseModel):
    """What a runner without the Python client posts when an execution failed."""

    model_config = ConfigDict(extra="forbid")

    workflow: Id = Field(description="The workflow the execution ran; its project is the one the key must write")
    user: Id = Field(description="The connected user it ran for")
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


@router.post(
    "/executions/{execution_id}/failure",
    response_model=Reported,
    status_code=202,
    summary="Report an execution's failure (a workflow_failure follows)",
    dependencies=[Depends(_bounded)],
    responses=_TOO_LARGE,
)
@admin(at.write(at.body_workflow()))
async def report_failure(
    request: Request,
    execution_id: Annotated[
        str, Path(pattern=_EXECUTION_ID, description="The execution's id: 1-128 of A-Z a-z 0-9 _ . : -")
    ],
    report: FailureReport,
) -> Response:
    """The HTTP form of ``RunnerClient.report_failure``, for runners without the Python client. 404
    ``unknown_workflow`` when the workflow is not in the registry."""
    state = app_state(request)
    snapshot = await state["cache"].refresh()  # a workflow applied a moment ago is known
    wf = snapshot.workflows.get(report.workflow)
    if wf is None:
        return problem(404, "unknown_workflow")
    settings = state["settings"]
    client = RunnerClient.of(
        state["store"], state["keys"], wf.id, settings.consumer_name, maxlen=settings.stream_maxlen
    )
    step = report.step
    record_id = await client.report_failure(
        await _job(state, snapshot, wf, execution_id, report.user),
        report.error,
        step_id=step.stepId if step else "",
        instance_id=step.instanceId if step else "",
        started_ms=step.startTime if step else None,
        ended_ms=step.endTime if step else None,
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
