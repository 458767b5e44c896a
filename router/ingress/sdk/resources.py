"""``POST /projects/{project_id}/sdk/resources/{resource_id}/connect``: a user connects to one of the operator's
API resources (the SDK's ``connectAction``, L7788–7808) with their credentials for it, for example
``{"access_token": "...", "refresh_token": "..."}``.

The body's members (strings) become the user's ``ResourceConnection`` values, sealed at rest and never shown
again; connecting again replaces them and keeps the connection's ``provider_id`` (set by the operator for
app-level routing). The connection's id is ``<resource id>:<user id>`` (a digest when that is too long), so a
user has one connection per resource. Only user-level resources take connections: an app-level one has a single
set of credentials, configured by the operator. Answers 201 (created) or 200 (replaced) with
``{"id", "resourceId", "userId"}``; refusals are problem documents as on the other user-state endpoints.
"""

from __future__ import annotations

import hashlib
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from router.ingress.sdk.caller import Refused, identify
from router.ingress.sdk.user_state import read_json
from router.ingress.sdk.users import commit
from router.runtime.state import app_state
from subscriptions.custom import ResourceConnection
from subscriptions.models import Id
from subscriptions.plan import Stored

MAX_VALUES = 100
MAX_VALUE_CHARS = 8192


def connection_id(resource: str, user: str) -> str:
    readable = f"{resource}:{user}"
    if len(readable) <= 128:
        return readable
    return "rc-" + hashlib.sha256(f"{resource}\0{user}".encode()).hexdigest()[:40]


def _values(doc: Any) -> dict[str, str]:
    if not isinstance(doc, dict) or not doc:
        raise Refused(
            400, "invalid_body", message='the body must be a JSON object of credentials: {"access_token": ...}'
        )
    problems = [
        f"{name[:100]}: must be a string of at most {MAX_VALUE_CHARS} characters"
        for name, value in doc.items()
        if not isinstance(value, str) or len(value) > MAX_VALUE_CHARS
    ]
    if len(doc) > MAX_VALUES:
        problems.append(f"body: at most {MAX_VALUES} members")
    if problems:
        raise Refused(400, "invalid_body", message="; ".join(problems[:100]), problems=problems[:100])
    return dict(doc)


async def connect_resource(request: Request) -> Response:
    state = app_state(request)
    caller = await identify(request, state)
    resource_id = request.path_params["resource_id"]
    resource = state["cache"].current.api_resources.get(resource_id)
    if resource is None or resource.project != caller.project.id:
        raise Refused(404, "unknown_resource", message=f"no API resource {resource_id[:200]!r} in this project")
    if resource.level != "user":
        raise Refused(
            409, "app_level_resource", message="an app-level resource has one set of credentials: the operator's"
        )
    values = _values(await read_json(request))
    record_id: Id = connection_id(resource.id, caller.user.id)
    created = record_id not in state["cache"].current.resource_connections

    def build(stored: Stored) -> list[tuple[str, Any]]:
        current = next(
            (
                c
                for c in stored.get("resource_connection", [])
                if isinstance(c, ResourceConnection) and c.id == record_id
            ),
            None,
        )
        if current is not None and (current.user, current.project) != (caller.user.id, caller.project.id):
            raise Refused(409, "conflict", message="the connection's id is taken by another user")
        provider_id = current.provider_id if current is not None else None
        connection = ResourceConnection.model_validate(
            {
                "id": record_id,
                "project": caller.project.id,
                "user": caller.user.id,
                "api_resource": resource.id,
                "provider_id": provider_id,
                "values": values,
            }
        )
        return [("resource_connection", connection)]

    await commit(state, caller.project.id, build)
    body = {"id": record_id, "resourceId": resource.id, "userId": caller.user.id}
    return JSONResponse(body, status_code=201 if created else 200)


routes = [Route("/projects/{project_id}/sdk/resources/{resource_id}/connect", connect_resource, methods=["POST"])]
