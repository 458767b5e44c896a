"""Enabling and disabling a workflow for the calling user (§2.1 rows 3 and 4):
``POST`` / ``DELETE /projects/{project_id}/sdk/workflows/{workflow_id}``.

The platform keeps a user's enablement in their accounts' ``config.configuredWorkflows`` (L1447–1456), so this
sets ``enabled`` there, keeping the workflow's settings: on the account an ``X-Paragon-Credential`` header names,
else on every account the user has of the workflow's integration. A user with no such account has nothing to
enable it on: 404 ``not_connected``. Answers 200 with the accounts as ``GET /sdk/credentials`` shows them.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from router.ingress.sdk.caller import Refused, identify
from router.ingress.sdk.user_views import credential_view, credentials_of
from router.ingress.sdk.users import commit
from router.runtime.state import app_state
from subscriptions.models import ConfiguredWorkflow, Credential
from subscriptions.plan import Stored


def _switched(credential: Credential, workflow: str, enabled: bool) -> Credential:
    config = credential.config
    current = config.configured_workflows.get(workflow, ConfiguredWorkflow())
    workflows = {**config.configured_workflows, workflow: current.model_copy(update={"enabled": enabled})}
    return credential.model_copy(update={"config": config.model_copy(update={"configured_workflows": workflows})})


async def _switch(request: Request, enabled: bool) -> Response:
    state = app_state(request)
    caller = await identify(request, state)
    snapshot = state["cache"].current
    workflow_id = request.path_params["workflow_id"]
    wf = snapshot.workflows.get(workflow_id)
    if wf is None or wf.project != caller.project.id:
        raise Refused(404, "unknown_workflow", message=f"no workflow {workflow_id[:200]!r} in this project")
    if caller.credential is not None and caller.credential.integration != wf.integration:
        raise Refused(404, "unknown_credential", message="the credential named is not an account of its integration")
    chosen = [caller.credential] if caller.credential else credentials_of(snapshot, caller.project.id, caller.user.id)
    targets = {c.id for c in chosen if c.integration == wf.integration}
    if not targets:
        raise Refused(404, "not_connected", message=f"the user has no account of {wf.integration!r}")

    def build(stored: Stored) -> list[tuple[str, Any]]:
        return [
            ("credential", _switched(c, wf.id, enabled))
            for c in stored.get("credential", [])
            if isinstance(c, Credential) and c.id in targets and c.user == caller.user.id
        ]

    after = await commit(state, caller.project.id, build)
    shown = [after.credentials[c] for c in sorted(targets) if c in after.credentials]
    return JSONResponse([credential_view(c) for c in shown])


async def enable_workflow(request: Request) -> Response:
    return await _switch(request, True)


async def disable_workflow(request: Request) -> Response:
    return await _switch(request, False)


_PATH = "/projects/{project_id}/sdk/workflows/{workflow_id}"
routes = [
    Route(_PATH, enable_workflow, methods=["POST"]),
    Route(_PATH, disable_workflow, methods=["DELETE"]),
]
