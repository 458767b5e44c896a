"""The runners' reports over HTTP: an execution's failure and a credential found invalid.

The admin-authenticated form of ``RunnerClient.report_failure`` for runners without the Python client, and the
credential invalidation whose transition ``router.notifications.producers`` turns into one credentials_failure.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from router.admin import scopes as at
from router.admin.guard import admin
from router.admin.problems import invalid_body, problem
from router.delivery.runner import Job, RunnerClient
from router.notifications.events import Notifier
from router.notifications.producers import Fact, Transitions, notify_claimed
from router.runtime.state import app_state
from router.storage.entries import TriggerJob
from subscriptions.models import Credential, Id, Workflow
from subscriptions.snapshot import Snapshot

MAX_BODY_BYTES = 64 * 1024
_EXECUTION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")


class StepRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stepId: Annotated[str, StringConstraints(min_length=1, max_length=128)]  # the platform's field names
    instanceId: Annotated[str, StringConstraints(max_length=128)] = ""


class FailureReport(BaseModel):
    """What a runner without the Python client posts when an execution failed."""

    model_config = ConfigDict(extra="forbid")

    workflow: Id
    user: Id
    error: Annotated[str, StringConstraints(min_length=1, max_length=10_000)]
    step: StepRef | None = None


class Invalidation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    error: Annotated[str, StringConstraints(min_length=1, max_length=200)] = Field(examples=["invalid_grant"])


def _problems(exc: ValidationError) -> list[str]:
    return [f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors(include_input=False)]


def _bad(problems: list[str]) -> Response:
    return invalid_body(problems)


async def _json(request: Request) -> tuple[Any, list[str]]:
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        return None, [f"body: larger than {MAX_BODY_BYTES} bytes"]
    try:
        return json.loads(raw), []
    except (ValueError, UnicodeDecodeError):
        return None, ["body: not valid JSON"]


def _job(snapshot: Snapshot, wf: Workflow, execution_id: str, user: str) -> Job:
    """The job fields report_failure reads, for an execution the router knows only by its id."""
    integration = snapshot.integrations.get(wf.integration)
    entry = TriggerJob(
        event_id="",
        execution_id=execution_id,
        project=wf.project,
        workflow=wf.id,
        integration=wf.integration,
        integration_type=integration.type if integration else "",
        user=user,
    )
    return Job("", entry)


@admin(at.write(at.body_workflow()))
async def report_failure(request: Request) -> Response:
    """``POST /api/executions/{execution_id}/failure``: the HTTP form of ``RunnerClient.report_failure``."""
    state = app_state(request)
    execution_id = request.path_params["execution_id"]
    body, problems = await _json(request)
    if not _EXECUTION_ID.match(execution_id):
        problems.append("execution_id: 1-128 characters of A-Z a-z 0-9 _ . : -, starting with a letter or digit")
    report: FailureReport | None = None
    if body is not None:
        try:
            report = FailureReport.model_validate(body)
        except ValidationError as exc:
            problems += _problems(exc)
    if problems or report is None:
        return _bad(problems)
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
        _job(snapshot, wf, execution_id, report.user),
        report.error,
        step_id=step.stepId if step else "",
        instance_id=step.instanceId if step else "",
    )
    return JSONResponse({"id": record_id, "execution_id": execution_id}, status_code=202)


@admin(at.write(at.credential()))
async def invalidate_credential(request: Request) -> Response:
    """``POST /api/credentials/{credential_id}/invalidate``: mark INVALID; one credentials_failure per transition."""
    state = app_state(request)
    body, problems = await _json(request)
    if problems:
        return _bad(problems)
    try:
        reason = Invalidation.model_validate(body).error
    except ValidationError as exc:
        return _bad(_problems(exc))
    registry = state["registry"]
    credential_id = request.path_params["credential_id"]
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


routes = [
    Route("/api/executions/{execution_id}/failure", report_failure, methods=["POST"]),
    Route("/api/credentials/{credential_id}/invalidate", invalidate_credential, methods=["POST"]),
]
