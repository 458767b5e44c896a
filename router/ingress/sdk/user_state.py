"""The SDK's user-state endpoints, called with a user token (§2.1 rows 6–11):

- ``GET /projects/{id}/sdk/me``: the user, their integrations and accounts, their metadata;
- ``PATCH /projects/{id}/sdk/me``: ``{"meta": {...}}`` merged into the user's metadata (a member set to ``null``
  is removed), which Workflow Permissions read from the next event on;
- ``GET /projects/{id}/sdk/integrations``: the project's integrations and the workflows the user may have;
- ``GET /projects/{id}/sdk/metadata``: how the Connect Portal shows each integration type (name, colour, icon);
- ``GET /projects/{id}/sdk/credentials`` and ``GET .../credentials/{credentialId}``: the user's accounts;
- ``PATCH /projects/{id}/sdk/credentials/{credentialId}``: ``{"config": {...}}`` replaces the account's config
  (``configuredWorkflows``: per workflow ``enabled`` and ``settings``; ``sharedSettings``), which routing honours;
- ``DELETE /projects/{id}/sdk/integrations/{integrationId}``: disconnects the user's accounts of that integration
  (only the one an ``X-Paragon-Credential`` header names, when sent): routing to them stops, their settings go,
  and the lifecycle deletes the provider-side subscriptions nobody needs any more.

A user sees only their own accounts in the token's project: another's is answered 404, as one that does not
exist. Refusals are problem documents whose ``error`` is the code (as the SDK's other answers carry it).
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from router import strict_json
from router.ingress.sdk.caller import Caller, Refused, identify
from router.ingress.sdk.user_views import (
    credential_view,
    credentials_of,
    integrations_view,
    metadata_view,
    user_view,
)
from router.ingress.sdk.users import WriteRefused, commit
from router.ingress.webhooks import read_body
from router.runtime.state import State, app_state
from subscriptions.models import ConnectedUser, Credential, CredentialConfig, Integration
from subscriptions.plan import Stored
from subscriptions.snapshot import Snapshot

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 256 * 1024  # a user's settings and metadata, not documents
_CONFIG_SHAPE = (
    '{"config": {"configuredWorkflows": {"<workflow id>": {"enabled": true, "settings": {}}}, "sharedSettings": {}}}'
)


def _invalid(*problems: str) -> Refused:
    return Refused(400, "invalid_body", message="; ".join(problems), problems=list(problems))


async def read_json(request: Request) -> Any:
    """The body as strict JSON (at most ``MAX_BODY_BYTES``), or Refused."""
    raw = await read_body(request, MAX_BODY_BYTES)
    try:
        return strict_json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise Refused(400, "invalid_json", message=strict_json.refusal(exc)) from None


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _invalid(f"{where}: must be a JSON object")
    return value


def _only(doc: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(doc) - allowed)
    if unknown:
        names = ", ".join(repr(n[:100]) for n in unknown[:10])
        raise _invalid(f"{where}: unknown member(s) {names}; allowed: {', '.join(sorted(allowed))}")


# --- the user ----------------------------------------------------------------------------------------------------


async def get_me(request: Request) -> Response:
    state = app_state(request)
    caller = await identify(request, state)
    return JSONResponse(user_view(state["cache"].current, caller.project, caller.user))


def _merged_meta(doc: Any, current: dict[str, Any]) -> dict[str, Any]:
    body = _object(doc, "body")
    _only(body, {"meta"}, "body")
    if "meta" not in body:
        raise _invalid('body: must be {"meta": {...}}')
    meta = dict(current)
    for name, value in _object(body["meta"], "meta").items():
        if value is None:
            meta.pop(name, None)  # null removes a member, as in a JSON merge patch
        else:
            meta[name] = value
    if len(meta) > 1000:
        raise _invalid("meta: at most 1000 members")
    return meta


async def patch_me(request: Request) -> Response:
    state = app_state(request)
    caller = await identify(request, state)
    doc = await read_json(request)
    _merged_meta(doc, caller.user.metadata)  # refuse a bad body before writing anything

    def build(stored: Stored) -> list[tuple[str, Any]]:
        user = next(
            (u for u in stored.get("user", []) if isinstance(u, ConnectedUser) and u.id == caller.user.id), None
        )
        if user is None or user.project != caller.project.id:
            raise WriteRefused(404, "unknown_user", "the user was deleted meanwhile")
        return [("user", user.model_copy(update={"metadata": _merged_meta(doc, user.metadata)}))]

    snapshot = await commit(state, caller.project.id, build)
    user = snapshot.users.get(caller.user.id, caller.user)
    return JSONResponse(user_view(snapshot, caller.project, user))


# --- the user's accounts -----------------------------------------------------------------------------------------


def _own(snapshot: Snapshot, caller: Caller, credential_id: str) -> Credential:
    cred = snapshot.credentials.get(credential_id)
    if cred is None or cred.user != caller.user.id or cred.project != caller.project.id:
        raise Refused(404, "unknown_credential", message=f"no credential {credential_id[:200]!r} for this user")
    return cred


async def list_integrations(request: Request) -> Response:
    state = app_state(request)
    caller = await identify(request, state)
    return JSONResponse(integrations_view(state["cache"].current, caller.project, caller.user))


async def get_metadata(request: Request) -> Response:
    state = app_state(request)
    caller = await identify(request, state)
    return JSONResponse(metadata_view(state["cache"].current, caller.project))


async def list_credentials(request: Request) -> Response:
    state = app_state(request)
    caller = await identify(request, state)
    mine = credentials_of(state["cache"].current, caller.project.id, caller.user.id)
    return JSONResponse([credential_view(c) for c in mine])


async def get_credential(request: Request) -> Response:
    state = app_state(request)
    caller = await identify(request, state)
    cred = _own(state["cache"].current, caller, request.path_params["credential_id"])
    return JSONResponse(credential_view(cred))


def _workflow_problems(snapshot: Snapshot, cred: Credential, workflows: dict[str, Any]) -> list[str]:
    problems = []
    for wf_id, entry in workflows.items():
        where = f"config.configuredWorkflows.{wf_id[:100]}"
        wf = snapshot.workflows.get(wf_id)
        if wf is None or wf.project != cred.project or wf.integration != cred.integration:
            problems.append(f"{where}: no workflow of this account's integration has this id")
        elif not isinstance(entry, dict) or not isinstance(entry.get("enabled"), bool):
            problems.append(f'{where}: must be {{"enabled": true or false, "settings": {{...}}}}')
        elif set(entry) - {"enabled", "settings"}:
            problems.append(f"{where}: only enabled and settings are allowed")
    return problems


def parse_config(doc: Any, snapshot: Snapshot, cred: Credential) -> CredentialConfig:
    """The config a PATCH body replaces the account's with, or Refused naming every problem."""
    body = _object(doc, "body")
    _only(body, {"config"}, "body")
    if "config" not in body:
        raise _invalid(f"body: must be {_CONFIG_SHAPE}")
    config = _object(body["config"], "config")
    _only(config, {"configuredWorkflows", "sharedSettings"}, "config")
    workflows = _object(config.get("configuredWorkflows", {}), "config.configuredWorkflows")
    shared = _object(config.get("sharedSettings", {}), "config.sharedSettings")
    problems = _workflow_problems(snapshot, cred, workflows)
    if problems:
        raise _invalid(*problems[:100])
    try:
        return CredentialConfig.model_validate({"configured_workflows": workflows, "shared_settings": shared})
    except ValidationError as exc:
        # Locations and messages only: the input may be large or sensitive.
        raise _invalid(*(f"config.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:100])) from None


async def patch_credential(request: Request) -> Response:
    state = app_state(request)
    caller = await identify(request, state)
    cred = _own(state["cache"].current, caller, request.path_params["credential_id"])
    config = parse_config(await read_json(request), state["cache"].current, cred)

    def build(stored: Stored) -> list[tuple[str, Any]]:
        current = next((c for c in stored.get("credential", []) if isinstance(c, Credential) and c.id == cred.id), None)
        if current is None or current.user != caller.user.id or current.project != caller.project.id:
            raise WriteRefused(404, "unknown_credential", "the account was disconnected meanwhile")
        return [("credential", current.model_copy(update={"config": config}))]

    snapshot = await commit(state, caller.project.id, build)
    return JSONResponse(credential_view(snapshot.credentials.get(cred.id, cred.model_copy(update={"config": config}))))


# --- disconnecting -----------------------------------------------------------------------------------------------


def _integration(snapshot: Snapshot, caller: Caller, name: str) -> Integration:
    """An integration of the caller's project by id, or by type (the SDK's ``uninstallIntegration("slack")``)."""
    integration = snapshot.integrations.get(name)
    if integration is not None and integration.project == caller.project.id:
        return integration
    typed = sorted(
        (i for i in snapshot.integrations.values() if i.project == caller.project.id and i.type == name),
        key=lambda i: i.id,
    )
    if len(typed) == 1:
        return typed[0]
    raise Refused(404, "unknown_integration", message=f"no integration {name[:200]!r} in this project")


async def disconnect(request: Request) -> Response:
    state: State = app_state(request)
    caller = await identify(request, state)
    snapshot = state["cache"].current
    integration = _integration(snapshot, caller, request.path_params["integration_id"])
    if caller.credential is not None and caller.credential.integration != integration.id:
        raise Refused(404, "unknown_credential", message="the credential named is not an account of this integration")
    chosen = [caller.credential] if caller.credential else credentials_of(snapshot, caller.project.id, caller.user.id)
    targets = {c.id for c in chosen if c.integration == integration.id}
    if not targets:
        raise Refused(404, "not_connected", message=f"the user has no account of {integration.id!r}")

    def deletes(stored: Stored) -> list[tuple[str, str]]:
        return [
            ("credential", c.id)
            for c in stored.get("credential", [])
            if isinstance(c, Credential) and c.id in targets and c.user == caller.user.id
        ]

    await commit(state, caller.project.id, lambda stored: [], deletes)
    logger.info(
        "integration disconnected",
        extra={"project": caller.project.id, "integration": integration.id, "credentials": len(targets)},
    )
    return Response(status_code=204)


_BASE = "/projects/{project_id}/sdk"
routes = [
    Route(f"{_BASE}/me", get_me, methods=["GET"]),
    Route(f"{_BASE}/me", patch_me, methods=["PATCH"]),
    Route(f"{_BASE}/credentials", list_credentials, methods=["GET"]),
    Route(f"{_BASE}/credentials/{{credential_id}}", get_credential, methods=["GET"]),
    Route(f"{_BASE}/credentials/{{credential_id}}", patch_credential, methods=["PATCH"]),
    Route(f"{_BASE}/integrations", list_integrations, methods=["GET"]),
    Route(f"{_BASE}/metadata", get_metadata, methods=["GET"]),
    Route(f"{_BASE}/integrations/{{integration_id}}", disconnect, methods=["DELETE"]),
]
