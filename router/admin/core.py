"""The admin API (``/api/...``): bearer-token protected views of the registry and stored events."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from router.admin import paging
from router.admin import scopes as at
from router.admin.problems import problem
from router.admin.scopes import Rule
from router.runtime.state import app_state
from router.storage.entries import TriggerJob
from subscriptions.api_keys import OPERATOR, PREFIX, allows
from subscriptions.models import Integration

Endpoint = Callable[[Request], Awaitable[Response]]
# Every guarded endpoint → the rule it declared: tests walk the app's routes and check each against its rule.
RULES: dict[Endpoint, Rule] = {}


@dataclass(frozen=True, slots=True)
class Caller:
    actor: str  # what the audit trail names: an API key's id, or "admin-token"
    scopes: tuple[str, ...]


async def _caller(request: Request) -> Caller | str:
    """Who is calling, or the error code to answer 401 with."""
    state = app_state(request)
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return "unauthorized"
    if given.startswith(PREFIX):
        key = await state["api_keys"].authenticate(given)
        return "unauthorized" if key is None else Caller(key.id, key.scopes)
    token = state["settings"].admin_token
    if token is None:
        return "admin_api_disabled"
    # The environment's admin token is the operator's bootstrap key.
    if not hmac.compare_digest(given.encode(), token.get_secret_value().encode()):
        return "unauthorized"
    return Caller("admin-token", (OPERATOR,))


async def _refusal(request: Request, rule: Rule, scopes: tuple[str, ...]) -> Response | None:
    if OPERATOR in scopes:  # the operator needs no lookup to find the project
        return None
    required, hidden = await rule.required(request)
    if allows(scopes, required):
        return None
    if hidden and not allows(scopes, hidden):
        return problem(404, "not_found")
    return problem(403, "insufficient_scope", f"this request needs the scope {required}", required=required)


def admin(rule: Rule) -> Callable[[Endpoint], Endpoint]:
    """Guard an endpoint: a valid credential (401 otherwise) holding the scope ``rule`` names for the request.
    A request that may change something is written to the audit trail with its answer's status, refusals included.
    """

    def decorate(endpoint: Endpoint) -> Endpoint:
        async def guarded(request: Request) -> Response:
            caller = await _caller(request)
            if isinstance(caller, str):
                return problem(401, caller, headers={"www-authenticate": "Bearer"})
            response = await _refusal(request, rule, caller.scopes) or await endpoint(request)
            if request.method not in ("GET", "HEAD"):
                audit = app_state(request)["audit"]
                await audit.record(caller.actor, endpoint.__name__, request.url.path, response.status_code)
            return response

        RULES[guarded] = rule
        return guarded

    return decorate


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
