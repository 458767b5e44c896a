"""``/api/projects`` and, under each project, its registry records: integrations, users, credentials, workflows,
activations, custom webhooks, API resources and resource connections (destinations have their own routes).

Every kind has the same routes: list (paged) and create (POST) on the collection; read, create or replace (PUT),
merge-patch (PATCH, RFC 7396) and delete on one record. Writes take ``hookrouter apply``'s path
(``record_writes``); answers show secrets as counts, names or fingerprints only (``record_views``). Every
single-record answer carries an ``ETag``; PUT, PATCH and DELETE honour ``If-Match``. Reading needs the project's
read scope, writing its write scope; listing and creating projects need ``operator``.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Header, Path, Query
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from router.admin import paging
from router.admin import record_views as views
from router.admin import scopes as at
from router.admin.guard import admin, admin_router
from router.admin.params import clamped_limit
from router.admin.problems import invalid_body, problem, responses
from router.admin.record_writes import (
    MERGE_PATCH,
    SEGMENTS,
    Make,
    Outcome,
    Refused,
    Where,
    adding_secret,
    delete,
    patching,
    read_object,
    refuse,
    removing_secret,
    replacing,
    write,
)
from router.runtime.state import app_state
from subscriptions.api_keys import OPERATOR
from subscriptions.models import RECORD_TYPES, Activation, activation_id
from subscriptions.plan import Stored, project_of
from subscriptions.registry import Registry

router = admin_router(tags=["records"])

ProjectId = Annotated[str, Path(description="The project's id")]
RecordId = Annotated[str, Path(description="The record's id")]
IfMatch = Annotated[
    str | None, Header(description="Write only if the record's ETag is one of these (`*`: only if it exists)")
]
Limit = Annotated[int | None, Query(description="Records per page, 1-1000 (default 100; larger is capped)")]
Cursor = Annotated[str | None, Query(description="A record id: the page starts after it")]
READ, WRITE = at.read(at.path("project_id")), at.write(at.path("project_id"))
OWN_PROJECT_READ, OWN_PROJECT_WRITE = at.read(at.path("record_id")), at.write(at.path("record_id"))

# --- reading ---------------------------------------------------------------------------------------------------


async def _one(request: Request, where: Where) -> Response:
    registry: Registry = app_state(request)["registry"]
    found = await registry.read(where.kind, where.record_id)
    if found is None or project_of(found[0]) != where.project:
        return problem(404, "not_found")
    record, document = found
    users = await _users(registry, where.project, [where.record_id]) if where.kind == "workflow" else {}
    body = views.show(where.kind, record, registry.box, activations=users.get(where.record_id, []))
    return JSONResponse(body, headers={"ETag": views.etag(document)})


async def _users(registry: Registry, project: str, workflows: list[str]) -> dict[str, list[str]]:
    """The activated users of each workflow."""
    wanted, out = set(workflows), {w: list[str]() for w in workflows}
    for a in await registry.all("activation"):
        if isinstance(a, Activation) and a.project == project and a.workflow in wanted:
            out[a.workflow].append(a.user)
    return {w: sorted(users) for w, users in out.items()}


def _id(record: BaseModel) -> str:
    return str(record.model_dump()["id"])


async def _list(request: Request, kind: str, project: str | None) -> Response:
    registry: Registry = app_state(request)["registry"]
    if project is not None and await registry.get("project", project) is None:
        return problem(404, "unknown_project", "no such project")
    limit = clamped_limit(request, 100, 1000)
    _, after = paging.cursor(request)
    every = sorted((r for r in await registry.all(kind) if project is None or project_of(r) == project), key=_id)
    chosen = [r for r in every if after is None or _id(r) > after][:limit]
    users = await _users(registry, project or "", [_id(r) for r in chosen]) if kind == "workflow" else {}
    data = [views.show(kind, r, registry.box, activations=users.get(_id(r), [])) for r in chosen]
    more = len(chosen) == limit and _id(chosen[-1]) != _id(every[-1])
    last = _id(chosen[-1]) if more else None
    return JSONResponse(paging.page(data, paging.next_link(request, last), total=len(every)))


# --- request bodies, as the schema documents them -----------------------------------------------------------------

SCHEMAS: dict[str, Any] = {}  # component schemas the request bodies refer to; the application adds them


def _body_schema(kind: str) -> str:
    """The registry model's own schema (what a body is validated against), with ``id`` and ``project`` optional:
    the path names them. Returns the component's name."""
    model = RECORD_TYPES[kind]
    name = f"{model.__name__}Body"
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}Body")
    for sub, definition in schema.pop("$defs", {}).items():
        SCHEMAS.setdefault(f"{sub}Body", definition)
    schema["required"] = [r for r in schema.get("required", []) if r not in ("id", "project")]
    if kind == "workflow":
        schema["properties"]["activations"] = {
            "type": "array",
            "items": {"type": "string"},
            "description": "The users it is activated for: exactly these when given; left out, those it has stay",
        }
    SCHEMAS[name] = schema
    return name


def _body(name: str, *media_types: str) -> dict[str, Any]:
    ref = {"schema": {"$ref": f"#/components/schemas/{name}"}}
    return {"requestBody": {"required": True, "content": {m: ref for m in media_types or ("application/json",)}}}


def _patch_media(request: Request) -> Response | None:
    media = request.headers.get("content-type", "application/json").partition(";")[0].strip().lower()
    if media in (MERGE_PATCH, "application/json"):
        return None
    return problem(415, "unsupported_media_type", f"a PATCH body is {MERGE_PATCH} (or application/json)")


# --- the routes of one kind -------------------------------------------------------------------------------------

ONE = responses(s412="`If-Match` does not match the record's ETag (`precondition_failed`)")
ETAG = {"ETag": {"description": "The record's version: send it as `If-Match`", "schema": {"type": "string"}}}
LOCATION = {"Location": {"description": "The new record's path", "schema": {"type": "string"}}}
TAGGED: dict[int | str, dict[str, Any]] = {200: {"headers": ETAG}}
UNSUPPORTED = responses(s415=f"A PATCH body that is neither {MERGE_PATCH} nor application/json")


def refusing(endpoint: Callable[..., Awaitable[Response]]) -> Callable[..., Awaitable[Response]]:
    """The endpoint, answering a Refused (raised while reading its body) with the refusal's problem."""

    @functools.wraps(endpoint)
    async def answer(*args: Any, **kwargs: Any) -> Response:
        try:
            return await endpoint(*args, **kwargs)
        except Refused as refused:
            return refused.response

    return answer


def _named(function: Callable[..., Awaitable[Response]], name: str) -> Callable[..., Awaitable[Response]]:
    # The audit trail names the action by the endpoint's name.
    function.__name__ = function.__qualname__ = name
    return refusing(function)


def _kind_routes(segment: str) -> None:
    kind = SEGMENTS[segment]
    view, page, body = views.VIEWS[kind], views.page_model(kind), _body_schema(kind)
    label, noun = kind.replace("_", " "), segment.replace("-", "_")
    single = noun.removesuffix("s")
    collection, item = f"/projects/{{project_id}}/{segment}", f"/projects/{{project_id}}/{segment}/{{record_id}}"

    async def list_records(
        request: Request, project_id: ProjectId, limit: Limit = None, cursor: Cursor = None
    ) -> Response:
        return await _list(request, kind, project_id)

    async def create_record(request: Request, project_id: ProjectId) -> Response:
        data = await read_object(request)
        record_id = data.get("id")
        if record_id is None and kind == "activation":
            record_id = activation_id(str(data.get("workflow", "")), str(data.get("user", "")))
        if not isinstance(record_id, str) or not record_id:
            return invalid_body(["id: required: the new record's id"], status=422)
        where = Where(kind, project_id, record_id)
        return await write(request, where, replacing(where, {**data, "id": record_id}), if_match=None, create=True)

    async def get_record(request: Request, project_id: ProjectId, record_id: RecordId) -> Response:
        return await _one(request, Where(kind, project_id, record_id))

    async def put_record(
        request: Request, project_id: ProjectId, record_id: RecordId, if_match: IfMatch = None
    ) -> Response:
        where = Where(kind, project_id, record_id)
        return await write(request, where, replacing(where, await read_object(request)), if_match=if_match)

    async def patch_record(
        request: Request, project_id: ProjectId, record_id: RecordId, if_match: IfMatch = None
    ) -> Response:
        where = Where(kind, project_id, record_id)
        refused = _patch_media(request)
        if refused is not None:
            return refused
        patch = patching(where, await read_object(request))
        return await write(request, where, patch, if_match=if_match, exists=True)

    async def delete_record(
        request: Request, project_id: ProjectId, record_id: RecordId, if_match: IfMatch = None
    ) -> Response:
        return await delete(request, Where(kind, project_id, record_id), if_match)

    created: dict[int | str, dict[str, Any]] = {
        201: {"model": view, "description": f"The {label} was created", "headers": {**ETAG, **LOCATION}}
    }
    router.get(collection, response_model=page, summary=f"The project's {label} records")(
        admin(READ)(_named(list_records, f"list_{noun}"))
    )
    router.post(
        collection,
        response_model=view,
        status_code=201,
        summary=f"Create a {label}",
        responses={201: {"headers": {**ETAG, **LOCATION}}, **responses(s409="The id is taken (`already_exists`)")},
        openapi_extra=_body(body),
    )(admin(WRITE)(_named(create_record, f"create_{single}")))
    router.get(item, response_model=view, summary=f"One {label}", responses=TAGGED)(
        admin(READ)(_named(get_record, f"get_{single}"))
    )
    router.put(
        item,
        response_model=view,
        summary=f"Create or replace a {label}",
        responses={**TAGGED, **created, **ONE},
        openapi_extra=_body(body),
    )(admin(WRITE)(_named(put_record, f"put_{single}")))
    router.patch(
        item,
        response_model=view,
        summary=f"Change a {label} (JSON merge patch)",
        responses={**TAGGED, **ONE, **UNSUPPORTED},
        openapi_extra=_body(body, MERGE_PATCH, "application/json"),
    )(admin(WRITE)(_named(patch_record, f"patch_{single}")))
    router.delete(
        item,
        status_code=204,
        response_class=Response,
        summary=f"Delete a {label}",
        responses={**ONE, **responses(s409="Other records still name it (`in_use`)")},
    )(admin(WRITE)(_named(delete_record, f"delete_{single}")))


for _segment in SEGMENTS:
    _kind_routes(_segment)


# --- projects ---------------------------------------------------------------------------------------------------

_PROJECT = _body_schema("project")
ProjectPage = views.page_model("project")


def _project_put(request: Request, where: Where, data: dict[str, Any]) -> Make:
    make = replacing(where, data)

    async def guarded(current: BaseModel | None, stored: Stored, outcome: Outcome) -> list[BaseModel]:
        # A project key may change its project, not bring a new one into being: creating one is the operator's.
        if current is None and OPERATOR not in request.state.caller.scopes:
            detail = "creating a project needs the scope operator"
            raise refuse(403, "insufficient_scope", detail, required=OPERATOR)
        return await make(current, stored, outcome)

    return guarded


@router.get("/projects", response_model=ProjectPage, summary="Every project")
@admin(at.OPERATOR_ONLY)
@refusing
async def list_projects(request: Request, limit: Limit = None, cursor: Cursor = None) -> Response:
    return await _list(request, "project", None)


@router.post(
    "/projects",
    response_model=views.ProjectView,
    status_code=201,
    summary="Create a project",
    responses={201: {"headers": {**ETAG, **LOCATION}}, **responses(s409="The id is taken (`already_exists`)")},
    openapi_extra=_body(_PROJECT),
)
@admin(at.OPERATOR_ONLY)
@refusing
async def create_project(request: Request) -> Response:
    data = await read_object(request)
    project_id = data.get("id")
    if not isinstance(project_id, str) or not project_id:
        return invalid_body(["id: required: the new project's id"], status=422)
    where = Where("project", project_id, project_id)
    return await write(request, where, replacing(where, data), if_match=None, create=True)


@router.get("/projects/{project_id}", response_model=views.ProjectView, summary="One project", responses=TAGGED)
@admin(READ)
@refusing
async def get_project(request: Request, project_id: ProjectId) -> Response:
    return await _one(request, Where("project", project_id, project_id))


@router.put(
    "/projects/{project_id}",
    response_model=views.ProjectView,
    summary="Create (operator) or replace a project",
    responses={
        **TAGGED,
        201: {"model": views.ProjectView, "description": "The project was created", "headers": {**ETAG, **LOCATION}},
        **ONE,
    },
    openapi_extra=_body(_PROJECT),
)
@admin(WRITE)
@refusing
async def put_project(request: Request, project_id: ProjectId, if_match: IfMatch = None) -> Response:
    where = Where("project", project_id, project_id)
    make = _project_put(request, where, await read_object(request))
    return await write(request, where, make, if_match=if_match)


@router.patch(
    "/projects/{project_id}",
    response_model=views.ProjectView,
    summary="Change a project (JSON merge patch)",
    responses={**TAGGED, **ONE, **UNSUPPORTED},
    openapi_extra=_body(_PROJECT, MERGE_PATCH, "application/json"),
)
@admin(WRITE)
@refusing
async def patch_project(request: Request, project_id: ProjectId, if_match: IfMatch = None) -> Response:
    where = Where("project", project_id, project_id)
    refused = _patch_media(request)
    if refused is not None:
        return refused
    return await write(request, where, patching(where, await read_object(request)), if_match=if_match, exists=True)


@router.delete(
    "/projects/{project_id}",
    status_code=204,
    response_class=Response,
    summary="Delete a project that holds no records (operator)",
    responses={**ONE, **responses(s409="The project still holds records (`in_use`)")},
)
@admin(at.OPERATOR_ONLY)
@refusing
async def delete_project(request: Request, project_id: ProjectId, if_match: IfMatch = None) -> Response:
    return await delete(request, Where("project", project_id, project_id), if_match)


# --- an integration's signing secrets ---------------------------------------------------------------------------


class NewSecret(BaseModel):
    model_config = ConfigDict(extra="forbid")

    secret: SecretStr = Field(min_length=1, description="The signing secret to add; the others stay active")


SECRETS = "/projects/{project_id}/integrations/{record_id}/secrets"


@router.post(
    SECRETS,
    response_model=views.IntegrationView,
    status_code=201,
    summary="Add a signing secret to an integration (its `Location` is the new secret's)",
    responses={
        201: {"headers": {**ETAG, **LOCATION}},
        200: {"model": views.IntegrationView, "description": "The secret was already there", "headers": ETAG},
        **ONE,
    },
)
@admin(WRITE)
@refusing
async def add_integration_secret(
    request: Request, project_id: ProjectId, record_id: RecordId, new: NewSecret, if_match: IfMatch = None
) -> Response:
    where = Where("integration", project_id, record_id)
    location = f"{where.location(request)}/secrets"
    make = adding_secret(app_state(request)["registry"].box, new.secret.get_secret_value(), location)
    return await write(request, where, make, if_match=if_match, exists=True)


@router.delete(
    SECRETS + "/{secret_id}",
    status_code=204,
    response_class=Response,
    summary="Remove one signing secret of an integration",
    responses={**ONE, **responses(s409="It is the integration's last secret (`last_secret`)")},
)
@admin(WRITE)
@refusing
async def remove_integration_secret(
    request: Request,
    project_id: ProjectId,
    record_id: RecordId,
    secret_id: Annotated[str, Path(description="The secret's id, as `secret_ids` lists it")],
    if_match: IfMatch = None,
) -> Response:
    where = Where("integration", project_id, record_id)
    make = removing_secret(app_state(request)["registry"].box, secret_id)
    answer = await write(request, where, make, if_match=if_match, exists=True)
    if answer.status_code != 200:
        return answer
    return Response(status_code=204, headers={"ETag": answer.headers["etag"]})
