"""What each admin route needs: read or write on one project, found from the request, or ``operator``.

Every route passes a ``Rule`` to ``@admin`` (it has no default, so a new route cannot forget one). A project found
through a record (an integration's, a workflow's) that the key may not see answers 404, as an unknown record
does, so a key learns nothing about other projects; a project named by the caller answers 403.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from starlette.requests import Request

from router import strict_json
from router.runtime.state import app_state
from router.storage.entries import IngestEvent
from subscriptions.api_keys import OPERATOR, project_scope
from subscriptions.models import Record
from subscriptions.snapshot import Snapshot


@dataclass(frozen=True, slots=True)
class Place:
    """The project a request touches. None: several projects, or a record that does not exist."""

    project: str | None
    by_record: bool


Locate = Callable[[Request], Awaitable[Place]]


@dataclass(frozen=True, slots=True)
class Rule:
    access: Literal["read", "write", "operator"]
    locate: Locate | None = None

    async def required(self, request: Request) -> tuple[str, str]:
        """The scope this request needs and, when the project came from a record, the scope without which a
        refusal looks like a missing record (404): a key that may read the record is told what it lacks (403)."""
        if self.locate is None:
            return OPERATOR, ""
        place = await self.locate(request)
        if place.project is None:
            return OPERATOR, OPERATOR if place.by_record else ""
        required = project_scope(place.project, self.access)
        return required, project_scope(place.project, "read") if place.by_record else ""


OPERATOR_ONLY = Rule("operator")


def read(locate: Locate) -> Rule:
    return Rule("read", locate)


def write(locate: Locate) -> Rule:
    return Rule("write", locate)


def query(name: str) -> Locate:
    """The project named by a query parameter; absent or empty, the route spans every project."""

    async def locate(request: Request) -> Place:
        # The same reading the endpoints make (query_params.get, empty meaning no filter).
        return Place(request.query_params.get(name) or None, by_record=False)

    return locate


def path(name: str) -> Locate:
    """The project named by a path parameter (``/projects/{project_id}/...``)."""

    async def locate(request: Request) -> Place:
        return Place(request.path_params.get(name) or None, by_record=False)

    return locate


def _cached(table: Callable[[Snapshot], Mapping[str, Record]], param: str) -> Locate:
    """The project of the cached record a path parameter names."""

    async def locate(request: Request) -> Place:
        found = table(app_state(request)["cache"].current).get(request.path_params[param])
        return Place(found.project if found else None, by_record=True)

    return locate


def integration(param: str = "integration_id") -> Locate:
    return _cached(lambda snapshot: snapshot.integrations, param)


def workflow(param: str = "workflow_id") -> Locate:
    return _cached(lambda snapshot: snapshot.workflows, param)


def destination(param: str = "destination_id") -> Locate:
    return _cached(lambda snapshot: snapshot.destinations, param)


def event(param: str = "event_id") -> Locate:
    """A stored event's project (``""`` for an event stored without one: then only the operator sees it)."""

    async def locate(request: Request) -> Place:
        state, event_id = app_state(request), request.path_params[param]
        stored = await state["store"].get_event(state["keys"], event_id)
        project = IngestEvent.lenient(stored.fields, stored.id).project if stored else ""
        return Place(project or None, by_record=True)

    return locate


def credential(param: str = "credential_id") -> Locate:
    async def locate(request: Request) -> Place:
        # The registry, not the snapshot: the endpoint reads it there too, so both see the same record.
        found = await app_state(request)["registry"].get("credential", request.path_params[param])
        project = getattr(found, "project", None)
        return Place(project if isinstance(project, str) else None, by_record=True)

    return locate


async def _body_field(request: Request, name: str) -> str | None:
    # Starlette keeps the body on the Request, so the endpoint reads the same bytes again.
    try:
        data = strict_json.loads(await request.body())
    except (ValueError, RecursionError):
        return None
    value = data.get(name) if isinstance(data, dict) else None
    return value if isinstance(value, str) and value else None


def destination_put(param: str = "destination_id") -> Locate:
    """An existing destination's project; a new one's from the body. Moving one between projects: operator."""

    async def locate(request: Request) -> Place:
        found = app_state(request)["cache"].current.destinations.get(request.path_params[param])
        named = await _body_field(request, "project")
        if found is None:
            return Place(named, by_record=False)
        if named is not None and named != found.project:
            return Place(None, by_record=False)
        return Place(found.project, by_record=True)

    return locate


def body_workflow() -> Locate:
    """The project of the workflow a runner's report names in its body."""

    async def locate(request: Request) -> Place:
        workflow_id = await _body_field(request, "workflow")
        # Refreshed, as the endpoint does: a workflow applied a moment ago is known.
        snapshot = await app_state(request)["cache"].refresh()
        found = snapshot.workflows.get(workflow_id) if workflow_id else None
        return Place(found.project if found else None, by_record=workflow_id is not None)

    return locate
