"""The admin API's views of integrations and workflows: verification failures, handshake captures, triggers."""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from router.admin import paging
from router.admin import scopes as at
from router.admin.guard import admin
from router.admin.problems import problem
from router.runtime.state import app_state
from router.storage.entries import TriggerJob
from subscriptions.models import Integration


@admin(at.OPERATOR_ONLY)
async def list_integrations(request: Request) -> Response:
    state = app_state(request)
    counts = await state["store"].repeat_counts(state["keys"].duplicates)
    integrations = state["cache"].current.integrations.values()
    data = [_integration(i, counts.get(i.id, 0)) for i in integrations]
    return JSONResponse(paging.page(data, total=len(data)))


def _integration(integration: Integration, duplicates: int) -> dict[str, Any]:
    # Secrets are never returned, only how many are active.
    data = integration.model_dump(mode="json", exclude={"secrets"})
    data["secrets_count"] = len(integration.secrets)
    data["duplicates"] = duplicates
    return data


@admin(at.read(at.workflow()))
async def list_triggers(request: Request) -> Response:
    state = app_state(request)
    workflow_id = request.path_params["workflow_id"]
    if workflow_id not in state["cache"].current.workflows:
        return problem(404, "not_found")
    entries = await state["store"].latest(state["keys"].triggers(workflow_id), 50)
    return JSONResponse(paging.page([_trigger(e.id, TriggerJob.lenient(e.fields)) for e in entries]))


def _trigger(entry_id: str, job: TriggerJob) -> dict[str, str]:
    return {
        "id": entry_id,
        "job_id": job.job_id,
        "event_id": job.event_id,
        "workflow": job.workflow,
        "credential": job.credential,
        "user": job.user,
        "event_type": job.event_type,
        "provider_id": job.provider_id,
    }


@admin(at.read(at.integration()))
async def verification_failures(request: Request) -> Response:
    """Recent rejected webhooks of one integration, with the verifier's diagnostics (no secrets)."""
    state = app_state(request)
    integration_id = request.path_params["integration_id"]
    if integration_id not in state["cache"].current.integrations:
        return problem(404, "not_found")
    data = [paging.with_iso(f, ms=["at"]) for f in await state["diagnostics"].failures(integration_id)]
    return JSONResponse(paging.page(data, total=len(data)))


@admin(at.read(at.integration()))
async def handshake_captures(request: Request) -> Response:
    """Values providers handed over in handshakes (Notion's verification token, ...), for the operator."""
    state = app_state(request)
    integration_id = request.path_params["integration_id"]
    if integration_id not in state["cache"].current.integrations:
        return problem(404, "not_found")
    captures, dropped = await state["diagnostics"].captures(integration_id)
    data = [paging.with_iso(c, ms=["at"]) for c in captures]
    return JSONResponse(paging.page(data, total=len(data), dropped=dropped))


@admin(at.write(at.integration()))
async def clear_handshake_captures(request: Request) -> Response:
    """Forget an integration's captures, so the next handshake the provider resends has room to be kept."""
    state = app_state(request)
    integration_id = request.path_params["integration_id"]
    if integration_id not in state["cache"].current.integrations:
        return problem(404, "not_found")
    return JSONResponse({"deleted": await state["diagnostics"].clear_captures(integration_id)})


@admin(at.write(at.integration()))
async def activate_capture(request: Request) -> Response:
    """Make a captured handshake value an active signing secret of its integration."""
    state = app_state(request)
    integration = state["cache"].current.integrations.get(request.path_params["integration_id"])
    if integration is None:
        return problem(404, "not_found")
    at = request.path_params["at"]  # a capture's id, or (as before ids existed) its time in milliseconds
    captures, _ = await state["diagnostics"].captures(integration.id)
    match = next((c for c in captures if c.get("id") == at), None) or next(
        (c for c in captures if str(c["at"]) == at), None
    )
    if match is None:
        return problem(404, "not_found")
    if any(s.get_secret_value() == match["value"] for s in integration.secrets):
        return JSONResponse(
            {"integration": integration.id, "secrets_count": len(integration.secrets), "change": "unchanged"}
        )
    secrets = [*integration.secrets, SecretStr(match["value"])]
    action = await state["registry"].put(integration.model_copy(update={"secrets": secrets}))
    return JSONResponse({"integration": integration.id, "secrets_count": len(secrets), "change": action})


routes = [
    Route("/api/integrations", list_integrations),
    Route("/api/integrations/{integration_id}/verification-failures", verification_failures),
    Route("/api/integrations/{integration_id}/handshakes", handshake_captures),
    Route("/api/integrations/{integration_id}/handshakes", clear_handshake_captures, methods=["DELETE"]),
    Route("/api/integrations/{integration_id}/handshakes/{at}/activate", activate_capture, methods=["POST"]),
    Route("/api/workflows/{workflow_id}/triggers", list_triggers),
]
