"""Request triggers: ``POST /projects/{project_id}/sdk/triggers/{workflow_id}`` with a user token.

Accepts JSON, the platform's hex file object, multipart/form-data (a ``paragon-file`` part) and
x-www-form-urlencoded; checks the workflow's validation rules (400 listing every violation); stores
the call. A workflow without a response step is answered 202 ``{"executionId"}`` at once; one with a
response step gets the runner's response (see ``router.ingress.sdk.responses``), or after
``request_trigger_timeout_s`` a 542 with the execution id while the execution goes on.

Refusals: 401/403 token; 404 unknown project, unknown workflow (absent, another project's, or not a
Request-triggered one), workflow not deployed, unknown credential; 403 workflow not activated for the
user, integration disabled, no usable credential; 413 too large; 503 store unavailable; 502 a
malformed response from the runner.

The execution id answered is the id of the trigger job routing makes of the call
(``<event id>:<workflow>:<credential>``): the id the Task History API, ``/api/executions`` and the
``workflow_failure`` event know the execution by, from the moment the call is answered.
"""

from __future__ import annotations

import logging
import time

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from router.errors import StoreUnavailable
from router.ingress.observe import observed
from router.ingress.sdk.caller import Caller, Refused, identify
from router.ingress.sdk.request_input import BadInput, CallInput, credential_headers, describe, read_call, violations
from router.ingress.sdk.responses import RunnerResponse, iso_ms
from router.ingress.webhooks import error, read_body
from router.routing.core import credential_gate
from router.routing.sdk import pick_credential
from router.runtime.state import State, app_state
from router.storage.entries import IngestEvent
from router.storage.keys import trigger_job_id
from subscriptions.models import Credential, Workflow
from subscriptions.snapshot import Snapshot

logger = logging.getLogger(__name__)

TIMEOUT_MESSAGE = "Workflow has been enqueued but has not completed."


def _runnable(snapshot: Snapshot, caller: Caller, workflow_id: str) -> tuple[Workflow, Credential]:
    """The workflow and credential this call runs with, or Refused saying why it cannot run."""
    wf = snapshot.workflows.get(workflow_id)
    if wf is None or wf.project != caller.project.id or wf.trigger_type != "request":
        raise Refused(404, "unknown_workflow", message=f"no Request-triggered workflow {workflow_id[:200]!r}")
    if not wf.deployed:
        raise Refused(404, "workflow_not_deployed", message="deploy the workflow to make its endpoint live")
    integration = snapshot.integrations.get(wf.integration)
    if integration is None or not integration.enabled:
        raise Refused(403, "integration_disabled")
    named = caller.credential.id if caller.credential else ""
    cred = pick_credential(snapshot, caller.user.id, wf.integration, named)
    if not snapshot.is_activated(wf.id, caller.user.id, cred):  # enabled for the account it would run with
        raise Refused(403, "workflow_not_activated", message="the workflow is not enabled for this user")
    if not snapshot.is_permitted(wf, caller.user.id):
        raise Refused(403, "workflow_permission_denied", message="the user's metadata fails the workflow's permissions")
    if cred is None or (named and cred.id != named):
        raise Refused(403, "no_credential", message=f"the user has no connected account of {wf.integration!r}")
    reason = credential_gate(snapshot, cred)
    if reason:
        raise Refused(403, reason)
    return wf, cred


async def _call(request: Request, state: State) -> tuple[Caller, Workflow, Credential, CallInput]:
    caller = await identify(request, state)
    wf, cred = _runnable(state["cache"].current, caller, request.path_params["workflow_id"])
    try:
        call = await read_call(request, await read_body(request, state["settings"].max_body_bytes))
    except BadInput as exc:
        raise Refused(400, exc.code, message=exc.message) from None
    found = violations(call, wf.request) if wf.request else []
    if found:
        raise Refused(400, "validation_failed", message=describe(found), violations=found)
    return caller, wf, cred, call


async def trigger_request(request: Request) -> Response:
    state = app_state(request)
    caller, wf, cred, call = await _call(request, state)
    submitted = int(time.time() * 1000)
    event = IngestEvent(
        source="request",
        project=caller.project.id,
        workflow=wf.id,
        user=caller.user.id,
        credential=cred.id,
        event_type="request",
        received_at=str(submitted),
        headers="{}",  # the call's headers are in the body, as the workflow sees them, credentials left out
        body=call.to_json(omit=credential_headers(wf.request)),
        **observed(request).fields(),
    )
    fields = event.to_fields()
    execution_id = ""
    try:
        event_id = await state["store"].append(state["keys"].of_event(*event.tenant).ingest, fields)
        # The job routing will make of this event, for this workflow and credential: its id is known now.
        execution_id = trigger_job_id(event_id, wf.id, cred.id)
        if not (wf.request and wf.request.has_response):
            return JSONResponse({"executionId": execution_id}, status_code=202)
        reply = await _answered(state, execution_id)
    except StoreUnavailable:
        logger.warning("event store unavailable; Request trigger refused", extra={"workflow": wf.id})
        raise
    except ValueError:
        logger.error("malformed response from the workflow runner", extra={"execution_id": execution_id})
        return error(502, "invalid_runner_response", executionId=execution_id)
    if reply is None:
        return JSONResponse(
            {
                "message": TIMEOUT_MESSAGE,
                "dateSubmitted": iso_ms(submitted),
                "projectId": caller.project.id,
                "workflowId": wf.id,
                "executionId": execution_id,
            },
            status_code=542,
        )
    return Response(reply.body, reply.status, headers=reply.headers, media_type=reply.content_type)


async def _answered(state: State, execution_id: str) -> RunnerResponse | None:
    # Registered once the event is stored (its id names the execution). A runner that answered sooner is not
    # missed: the wait reads the response hash before it listens for the doorbell.
    responses = state["responses"]
    with responses.expect(execution_id) as ready:
        return await responses.wait(execution_id, ready, state["settings"].request_trigger_timeout_s)
