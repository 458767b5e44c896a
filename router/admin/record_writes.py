"""How a registry record is written through the admin API: the path ``hookrouter apply`` takes.

Each record is validated by its model, then the project's records as they would be after the write are checked as
apply checks a file (references, triggers, public URLs, the egress policy), and the write goes through
``subscriptions.plan.apply_built``: one MULTI, one version bump, apply's rules (an integration's ``secrets`` and a
credential's ``values`` left out of a PUT are kept). Everything a request checks against what is stored (its
``If-Match``, the base of a merge patch, a reference, whether the id is free) is checked at the version the write
is committed at, so the check and the write are one step.

Activations: a workflow written with ``activations`` (user ids) has exactly those, as in a config file; written
without, it keeps the ones it has. Deleting a workflow deletes its activations; deleting a user deletes its
activations, credentials and resource connections (apply --prune could not delete a user and keep them either);
the lifecycle then deletes the provider-side subscriptions nobody needs. Deleting a record others still name
(an integration its workflows use, a project with records) is refused with 409 ``in_use``.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, SecretStr, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from router import strict_json
from router.admin import record_views as views
from router.admin.problems import invalid_body, problem
from router.egress.checks import record_refusals
from router.errors import RouterError
from router.runtime.state import app_state
from subscriptions.config import check
from subscriptions.crypto import SecretBox
from subscriptions.errors import RegistryChanged
from subscriptions.models import RECORD_TYPES, Activation, Integration, Workflow, activation_id
from subscriptions.plan import NESTED_KEPT_WHEN_OMITTED, Stored, apply_built, kept, project_of
from subscriptions.registry import Registry

# The path segment of each kind a project holds → its registry kind.
SEGMENTS = {
    "integrations": "integration",
    "users": "user",
    "credentials": "credential",
    "workflows": "workflow",
    "activations": "activation",
    "custom-webhooks": "custom_webhook",
    "api-resources": "api_resource",
    "resource-connections": "resource_connection",
}
MERGE_PATCH = "application/merge-patch+json"
# What deleting a record of a kind also deletes: records that exist only for it.
CASCADES: dict[str, tuple[tuple[str, str], ...]] = {
    "workflow": (("activation", "workflow"),),
    "user": (("activation", "user"), ("credential", "user"), ("resource_connection", "user")),
}


class Refused(RouterError):
    """A request the registry's state refuses; ``response`` (a problem document) says why. Answered by the
    endpoint itself, with every member the problem has."""

    def __init__(self, response: Response, reason: str) -> None:
        super().__init__(reason)
        self.response = response
        self.reason = reason
        self.status = response.status_code


def refuse(status: int, code: str, detail: str | None = None, **extra: Any) -> Refused:
    return Refused(problem(status, code, detail, **extra), code)


def _invalid(*problems: str) -> Refused:
    return Refused(invalid_body(list(problems), status=422), "invalid_body")


@dataclass
class Outcome:
    """What a write made: the record answered, and its stored document before (kept if nothing was rewritten)."""

    record: BaseModel | None = None
    document: str | None = None
    activations: list[str] = field(default_factory=list)
    added: str | None = None  # the path of what a write added to the record (a secret), when it added one


# --- reading a request -------------------------------------------------------------------------------------------


async def read_object(request: Request) -> dict[str, Any]:
    try:
        data = strict_json.loads(await request.body())
    except strict_json.NotStrictJson as exc:
        raise _invalid(f"body: {exc}") from None
    except (ValueError, RecursionError):
        raise _invalid("body: must be a JSON object") from None
    if not isinstance(data, dict):
        raise _invalid("body: must be a JSON object")
    return data


def _same(data: dict[str, Any], name: str, expected: str) -> None:
    # The path names the record; a body naming another one is a mistake, never a move.
    if name in data and data[name] != expected:
        raise _invalid(f"{name}: must be {expected!r}, as in the path, or left out")


def _validated(kind: str, data: dict[str, Any]) -> BaseModel:
    try:
        record = RECORD_TYPES[kind].model_validate(data)
    except ValidationError as exc:
        # Names and messages only: pydantic's default text would echo the input, secrets included.
        raise _invalid(*(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors())) from None
    masked = list(_masked(record))
    if masked:
        # A mask stored as a secret would be a secret nobody knows; where it means "keep", it was taken out before.
        raise _invalid(*(f"{where}: {views.MASK!r} is how a secret was shown, never a secret" for where in masked))
    return record


def _masked(value: Any, where: str = "") -> Iterator[str]:
    """Where a record holds the mask as a secret's value."""
    if isinstance(value, SecretStr):
        if value.get_secret_value() == views.MASK:
            yield where or "body"
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _masked(getattr(value, name), f"{where}.{name}" if where else name)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _masked(item, f"{where}.{key}")
    elif isinstance(value, list | tuple):
        for n, item in enumerate(value):
            yield from _masked(item, f"{where}.{n}")


def _unshown(kind: str, data: dict[str, Any], current: BaseModel | None) -> dict[str, Any]:
    """A body as a record: the members only an answer has (counts, ids, ``*_set``) taken out, and a write-only
    member sent back as shown (the mask) or as ``*_set`` left out, so the stored value is kept; the mask with no
    stored value to keep is a 422 (the writer believes a secret is set that is not)."""
    model = RECORD_TYPES[kind]
    view = views.VIEWS[kind]
    shown_only = set(view.model_fields) - set(model.model_fields) - {"activations"}
    out = {name: value for name, value in data.items() if name not in shown_only}
    for name, member in NESTED_KEPT_WHEN_OMITTED.get(model, ()):
        inner = out.get(name)
        if isinstance(inner, dict):
            inner = {k: v for k, v in inner.items() if k != f"{member}_set"}
            if inner.get(member) == views.MASK:
                if getattr(getattr(current, name, None), member, None) is None:
                    raise _invalid(f"{name}.{member}: {views.MASK!r} keeps a stored value, and none is stored")
                del inner[member]
            out[name] = inner
    return out


def _precondition(if_match: str | None, document: str | None) -> None:
    if if_match is None:
        return
    tags = {tag.strip() for tag in if_match.split(",")}
    if document is not None and ("*" in tags or views.etag(document) in tags):
        return
    raise refuse(412, "precondition_failed", "If-Match does not match the record's ETag")


# --- what apply checks, over the project as it would be ----------------------------------------------------------

_ERROR = re.compile(r"^(?P<label>[a-z_ ]+) '(?P<id>[^']*)': (?P<rest>.*)$", re.DOTALL)
_HINTS = ("trigger", "verification", "public_url")


def _key(kind: str, record: BaseModel) -> tuple[str, str]:
    return kind, str(record.model_dump()["id"])


def _project_records(stored: Stored, project: str) -> dict[tuple[str, str], BaseModel]:
    return {_key(kind, r): r for kind, rs in stored.items() for r in rs if project_of(r) == project}


def _problems(
    request: Request, stored: Stored, project: str, puts: list[BaseModel], deletes: list[tuple[str, str]]
) -> list[str]:
    """apply's cross-record problems the change brings in (a project already broken elsewhere does not block it)."""
    public_url = app_state(request)["settings"].public_url
    before = _project_records(stored, project)
    after = dict(before)
    for record in puts:
        after[_key(_registry_kind(record), record)] = record
    for key in deletes:
        after.pop(key, None)
    old = set(check(list(before.values()), public_url=public_url))
    new = [e for e in check(list(after.values()), public_url=public_url) if e not in old]
    return new + record_refusals(puts, app_state(request)["egress"])


def _registry_kind(record: BaseModel) -> str:
    return next(kind for kind, model in RECORD_TYPES.items() if type(record) is model)


def _field(kind: str, error: str) -> str:
    """An apply problem (``<kind> '<id>': ...``) as ``<field>: <message>`` for the record a request writes."""
    match = _ERROR.match(error)
    if match is None:
        return f"body: {error}"
    rest = match["rest"].replace("in this file", "in this project")
    label = match["label"].replace(" ", "_")
    if kind == "workflow" and label == "activation":  # one the workflow's body lists
        return f"activations: {match['id']!r}: {rest}"
    if label != kind:
        return f"body: {match['label']} {match['id']!r}: {rest}"
    named = re.match(r"([A-Za-z_][\w.]*):? ", rest)
    hint = next((h for h in _HINTS if h in rest), None)
    fields = RECORD_TYPES[kind].model_fields
    if hint is None and named and named[1].split(".")[0] in fields:
        hint = named[1]
    return f"{hint or 'body'}: {rest}"


def _checked(request: Request, stored: Stored, project: str, kind: str, puts: list[BaseModel]) -> None:
    problems = _problems(request, stored, project, puts, [])
    if problems:
        raise _invalid(*(_field(kind, p) for p in problems))


# --- the steps every write shares -----------------------------------------------------------------------------


async def _current(
    registry: Registry, kind: str, project: str, record_id: str, *, hidden: bool
) -> tuple[BaseModel | None, str | None]:
    """The stored record and document; another project's record is absent (``hidden``) or a taken id (409)."""
    found = await registry.read(kind, record_id)
    if found is None:
        return None, None
    if project_of(found[0]) != project:
        if hidden:
            return None, None
        raise refuse(409, "already_exists", "the id is taken by a record of another project")
    return found


def _need_project(stored: Stored, project: str) -> None:
    if not any(p.model_dump()["id"] == project for p in stored.get("project", [])):
        raise refuse(404, "unknown_project", "no such project")


def _activations_of(stored: Stored, workflow: str) -> list[Activation]:
    return [a for a in stored.get("activation", []) if isinstance(a, Activation) and a.workflow == workflow]


def _with_activations(stored: Stored, workflow: Workflow, users: Any, outcome: Outcome) -> list[BaseModel]:
    """The workflow and the activations it is to have: those named (authoritative, as in a file), else its own."""
    if users is None:
        own = [a for a in _activations_of(stored, workflow.id) if a.project == workflow.project]
        outcome.activations = sorted(a.user for a in own)
        return [workflow, *own]
    if not isinstance(users, list) or not all(isinstance(u, str) for u in users):
        raise _invalid("activations: must be a list of user ids")
    records: list[BaseModel] = [workflow]
    taken = {a.id: a for a in stored.get("activation", []) if isinstance(a, Activation)}
    for n, user in enumerate(dict.fromkeys(users)):
        data = {"id": activation_id(workflow.id, user), "project": workflow.project, "workflow": workflow.id}
        activation = _validated("activation", {**data, "user": user})
        assert isinstance(activation, Activation)  # noqa: S101  # what RECORD_TYPES["activation"] builds
        _unclashed(activation, taken, f"activations.{n}")
        records.append(activation)
    outcome.activations = sorted(dict.fromkeys(users))
    return records


def _unclashed(activation: Activation, taken: Mapping[str, BaseModel], where: str) -> None:
    # The id joins workflow and user with ':': two pairs may share it, and one would silently replace the other.
    other = taken.get(activation.id)
    if isinstance(other, Activation) and (other.workflow, other.user) != (activation.workflow, activation.user):
        raise _invalid(f"{where}: its id {activation.id!r} is taken by the activation of another workflow and user")


Make = Callable[[BaseModel | None, Stored, Outcome], Awaitable[list[BaseModel]]]


@dataclass(frozen=True)
class Where:
    kind: str
    project: str
    record_id: str

    def location(self, request: Request) -> str:
        root = request.scope.get("root_path", "")
        if self.kind == "project":
            return f"{root}/projects/{self.record_id}"
        segment = next(s for s, k in SEGMENTS.items() if k == self.kind)
        return f"{root}/projects/{self.project}/{segment}/{self.record_id}"


async def write(
    request: Request, where: Where, make: Make, *, if_match: str | None, create: bool = False, exists: bool = False
) -> Response:
    """Build the records from what is stored, check them as apply does, write them: the answer is the record."""
    state = app_state(request)
    registry: Registry = state["registry"]
    outcome = Outcome()

    async def build(stored: Stored) -> tuple[list[BaseModel], list[tuple[str, str]]]:
        if where.kind != "project":
            _need_project(stored, where.project)
        current, document = await _current(registry, where.kind, where.project, where.record_id, hidden=exists)
        if current is not None and create:
            raise refuse(409, "already_exists", f"{where.record_id!r} exists; PUT or PATCH it")
        if current is None and exists:
            raise refuse(404, "not_found")
        _precondition(if_match, document)
        records = [kept(r, stored) for r in await make(current, stored, outcome)]
        _checked(request, stored, where.project, where.kind, records)
        outcome.record, outcome.document = records[0], document
        return records, []

    try:
        steps = await apply_built(registry, build)
    except Refused as refused:
        return refused.response
    except RegistryChanged:
        return problem(409, "registry_changed", "the registry kept changing; nothing was written: try again")
    written = next(w for w in steps.writes if (w.kind, w.id) == (where.kind, where.record_id))
    document = written.encoded or outcome.document or ""
    assert outcome.record is not None  # noqa: S101  # set by the build that was committed
    headers = {"ETag": views.etag(document)}
    status = 201 if written.action == "created" else 200
    if status == 201:
        headers["Location"] = where.location(request)
    elif outcome.added is not None and written.action == "updated":
        status, headers["Location"] = 201, outcome.added
    body = views.show(where.kind, outcome.record, registry.box, activations=outcome.activations)
    return JSONResponse(body, status_code=status, headers=headers)


async def delete(request: Request, where: Where, if_match: str | None) -> Response:
    registry: Registry = app_state(request)["registry"]

    async def build(stored: Stored) -> tuple[list[BaseModel], list[tuple[str, str]]]:
        current, document = await _current(registry, where.kind, where.project, where.record_id, hidden=True)
        if current is None:
            raise refuse(404, "not_found")
        _precondition(if_match, document)
        deletes = [(where.kind, where.record_id), *_cascade(stored, where)]
        if where.kind == "project":
            _empty(stored, where.project)
        problems = _problems(request, stored, where.project, [], deletes)
        if problems:
            detail = "other records name it: change or delete them first"
            raise refuse(409, "in_use", detail, problems=problems, errors=_named(problems))
        return [], deletes

    try:
        await apply_built(registry, build)
    except Refused as refused:
        return refused.response
    except RegistryChanged:
        return problem(409, "registry_changed", "the registry kept changing; nothing was written: try again")
    return Response(status_code=204)


def _named(problems: list[str]) -> list[dict[str, str]]:
    return [{"field": "body", "message": p} for p in problems]


def _cascade(stored: Stored, where: Where) -> list[tuple[str, str]]:
    out = []
    for kind, attr in CASCADES.get(where.kind, ()):
        for record in stored.get(kind, []):
            if getattr(record, attr, None) == where.record_id and project_of(record) == where.project:
                out.append(_key(kind, record))
    return out


def _empty(stored: Stored, project: str) -> None:
    left = sorted(f"{k}/{i}" for k, i in _project_records(stored, project) if k != "project")
    if left:
        detail = f"the project still has {len(left)} records: delete them first"
        raise refuse(409, "in_use", detail, problems=left[:100], errors=_named(left[:100]))


# --- record bodies -----------------------------------------------------------------------------------------------


def _record(where: Where, data: dict[str, Any]) -> dict[str, Any]:
    _same(data, "id", where.record_id)
    if where.kind == "project":
        return {**data, "id": where.record_id}
    _same(data, "project", where.project)
    return {**data, "id": where.record_id, "project": where.project}


def replacing(where: Where, body: dict[str, Any]) -> Make:
    """PUT and POST: the body is the whole record (apply's rules for what it omits)."""

    async def make(current: BaseModel | None, stored: Stored, outcome: Outcome) -> list[BaseModel]:
        data = _unshown(where.kind, body, current)
        users = data.pop("activations", None) if where.kind == "workflow" else None
        return _built(where, data, users, stored, outcome)

    return make


def _built(where: Where, data: dict[str, Any], users: Any, stored: Stored, outcome: Outcome) -> list[BaseModel]:
    """The records a write of ``data`` makes: the record, and for a workflow the activations it names."""
    record = _validated(where.kind, _record(where, data))
    if isinstance(record, Activation):
        _checked_activation(record, stored)
    if isinstance(record, Workflow):
        return _with_activations(stored, record, users, outcome)
    return [record]


def _checked_activation(activation: Activation, stored: Stored) -> None:
    if activation.id != activation_id(activation.workflow, activation.user):
        raise _invalid(f"id: an activation's id is '<workflow>:<user>': {activation_id(activation.workflow, '<user>')}")
    _unclashed(activation, {str(a.model_dump()["id"]): a for a in stored.get("activation", [])}, "id")


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396: an object merges member by member, ``null`` removes a member, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for name, value in patch.items():
        if value is None:
            out.pop(name, None)
        else:
            out[name] = merge_patch(out.get(name), value)
    return out


def patching(where: Where, patch: dict[str, Any]) -> Make:
    """PATCH: the patch merged into the stored record (secrets included, unseen), validated as a whole."""

    async def make(current: BaseModel | None, stored: Stored, outcome: Outcome) -> list[BaseModel]:
        if current is None:  # the caller checked it exists at this same version; a bug otherwise
            raise RuntimeError("PATCH built for a record that does not exist")
        data = _unshown(where.kind, patch, current)
        users = data.pop("activations", None) if where.kind == "workflow" else None
        return _built(where, _removing(merge_patch(_revealed(current), data), data, where.kind), users, stored, outcome)

    return make


def _removing(merged: dict[str, Any], patch: dict[str, Any], kind: str) -> dict[str, Any]:
    # A write-only member a patch nulls is removed, not kept as an omitted one would be: written as an explicit null.
    for name, member in NESTED_KEPT_WHEN_OMITTED.get(RECORD_TYPES[kind], ()):
        inner = patch.get(name)
        if isinstance(inner, dict) and member in inner and inner[member] is None:
            merged[name] = {**merged.get(name, {}), member: None}
    return merged


def _revealed(record: BaseModel) -> dict[str, Any]:
    # JSON-mode data with each secret in clear, so the merged whole validates as the record it was.
    def reveal(value: Any) -> Any:
        if isinstance(value, SecretStr):
            return value.get_secret_value()
        if isinstance(value, BaseModel):
            return {n: reveal(getattr(value, n)) for n in type(value).model_fields}
        if isinstance(value, dict):
            return {k: reveal(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [reveal(v) for v in value]
        return value

    return dict(reveal(record))


# --- an integration's signing secrets, one at a time -------------------------------------------------------------


def adding_secret(box: SecretBox, secret: str, location: str) -> Make:
    """Add a signing secret; the others stay active, so the provider can switch over while both verify."""

    async def make(current: BaseModel | None, stored: Stored, outcome: Outcome) -> list[BaseModel]:
        assert isinstance(current, Integration)  # noqa: S101  # built only for an integration that exists
        if any(s.get_secret_value() == secret for s in current.secrets):
            return [current]
        data = {**_revealed(current), "secrets": [*(s.get_secret_value() for s in current.secrets), secret]}
        record = _validated("integration", data)
        assert isinstance(record, Integration)  # noqa: S101  # what RECORD_TYPES["integration"] builds
        added = views.secret_id(box, record, SecretStr(secret))
        outcome.added = f"{location}/{added}"
        return [record]

    return make


def removing_secret(box: SecretBox, secret_id: str) -> Make:
    """Remove one signing secret by its id; the last one stays (an integration without one verifies nothing:
    replace its secrets with a PUT or PATCH if that is really meant)."""

    async def make(current: BaseModel | None, stored: Stored, outcome: Outcome) -> list[BaseModel]:
        assert isinstance(current, Integration)  # noqa: S101  # built only for an integration that exists
        left = [s for s in current.secrets if views.secret_id(box, current, s) != secret_id]
        if len(left) == len(current.secrets):
            raise refuse(404, "not_found", "no such secret")
        if not left:
            raise refuse(409, "last_secret", "the integration's last secret: add its successor first")
        return [_validated("integration", {**_revealed(current), "secrets": [s.get_secret_value() for s in left]})]

    return make
