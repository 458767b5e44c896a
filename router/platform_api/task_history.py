"""The Task History API, at the platform's documented paths and in its documented shapes:

- ``GET /projects/{project_id}/task-history/workflow-executions``: ``{workflowExecutions, nextLink, total}``,
  100 a page, filtered by ``userId``, ``workflowId``, ``integration`` (the integration's type, ``salesforce``),
  ``status``, ``afterDate`` (inclusive) and ``beforeDate`` (exclusive), ordered by ``sortBy``, paged by
  ``offset``; ``nextLink`` is the absolute URL of the next page, null on the last.
- ``GET .../workflow-executions/{executionId}``: one execution with its ``stepExecutions``.
- ``GET .../workflow-executions/{executionId}/step-executions/{stepExecutionId}``: one step's input and output.
- ``POST .../workflow-executions/{executionId}/replay``: 201, its trigger delivered again (a replay job that
  redelivers this one trigger job, run by the workers as every replay is).

An execution is a trigger job: it starts when its event is stored and ends when its delivery does (HTTP
targets). Its id is the trigger job's, which a Request trigger's 202 or 542 answers before routing: such an
execution is found (``EXECUTING``) as soon as its call is answered. What its workflow runner reported
(``router.history.runs``: its end, task count and step executions) is shown as reported; what nobody reported
stays empty rather than invented: no steps, ``stepExecutions`` is ``[]``; no end (a stream target's runner that
reported none), ``dateEnded`` and ``runDuration`` stay null (docs/platform-conformance.md lists every such gap).
"""

from __future__ import annotations

import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from router.admin.guard import Caller
from router.admin.problems import problem
from router.admin.scopes import Rule
from router.history.executions import Execution, executions
from router.history.indexes import EventIndex, Page
from router.history.replay_jobs import ReplayJobs, ReplayRequest
from router.history.runs import StepExecution
from router.ingress.sdk.responses import iso_ms
from router.platform_api.access import READ, WRITE, admit
from router.platform_api.filters import PAGE, next_link, parse
from router.runtime.state import app_state

BASE = "/projects/{project_id}/task-history"


def _summary(run: Execution) -> dict[str, Any]:
    """The documented members, in the documented order."""
    ended = run.ended_ms
    reported = run.report.task_count if run.report else None
    return {
        "id": run.id,
        "userId": run.user,
        # What the runner reported; else the router's own work is one task: the trigger it delivered (its attempts
        # count once, as the platform counts a retried step).
        "taskCount": reported if reported is not None else 1 if run.status == "SUCCEEDED" else 0,
        "runDuration": run.run_duration_ms,
        "workflowId": run.workflow,
        "status": run.status,
        "dateEnded": None if ended is None else iso_ms(ended),
        "dateStarted": iso_ms(run.started_ms),
    }


def _base_url(request: Request) -> str:
    # The configured public URL when there is one: the links then name the host clients were given.
    configured = app_state(request)["settings"].public_url
    return configured.rstrip("/") if configured else f"{request.url.scheme}://{request.url.netloc}"


async def list_executions(request: Request) -> Response:
    caller = await admit(request, READ)
    if isinstance(caller, Response):
        return caller
    state = app_state(request)
    query = parse(request, request.path_params["project_id"])
    page = Page([], None, 0)
    if not query.matches_none:
        index = EventIndex.of(state["store"], state["keys"])
        page = await index.jobs_at(query.filter, offset=query.offset, limit=PAGE, newest_first=not query.ascending)
    runs = await executions(state["store"], state["keys"], page.ids)
    more = page.next_cursor is not None
    return JSONResponse(
        {
            "workflowExecutions": [_summary(r) for r in runs],
            "nextLink": next_link(request, _base_url(request), query) if more else None,
            "total": page.total,
        }
    )


async def _one(request: Request, rule: Rule = READ) -> Execution | Response:
    """The execution the path names, in the path's project; a 404 for any other (unknown, trimmed, elsewhere)."""
    caller = await admit(request, rule)
    if isinstance(caller, Response):
        return caller
    state = app_state(request)
    project = request.path_params["project_id"]
    found = await executions(state["store"], state["keys"], [request.path_params["execution_id"]])
    # The project is the job's event's: read from the index (or, not routed yet, from the event), so an execution
    # of another project is not found.
    if found and (
        found[0].project == project
        or await EventIndex.of(state["store"], state["keys"]).job_in_project(found[0].id, project)
    ):
        return found[0]
    return problem(404, "not_found", "no such workflow execution in this project")


def _iso(ms: int | None) -> str | None:
    return None if ms is None else iso_ms(ms)


def _step(run: Execution, step: StepExecution) -> dict[str, Any]:
    """The documented members (L2247–2276), in the documented order; sizes are strings there."""
    return {
        "id": step.id,
        "stepId": step.step_id,
        "workflowExecutionId": run.id,
        "status": step.status,
        "type": step.type,
        "start": _iso(step.start_ms),
        "end": _iso(step.end_ms),
        "next": list(step.next),
        "prev": step.prev,
        "inputSize": str(step.input_size),
        "outputSize": str(step.output_size),
    }


async def get_execution(request: Request) -> Response:
    run = await _one(request)
    if isinstance(run, Response):
        return run
    # The steps its runner reported; none reported, an empty list rather than made-up steps.
    steps = [_step(run, s) for s in run.report.steps] if run.report else []
    return JSONResponse({**_summary(run), "stepExecutions": steps})


async def get_step_execution(request: Request) -> Response:
    run = await _one(request)
    if isinstance(run, Response):
        return run
    step = run.report.step(request.path_params["step_id"]) if run.report else None
    if step is None:
        return problem(404, "not_found", "no such step execution: its runner did not report it")
    return JSONResponse(
        {
            "isLargeInput": step.large_input,
            "isLargeOutput": step.large_output,
            "input": step.input,
            "output": step.output,
        }
    )


async def replay_execution(request: Request) -> Response:
    run = await _one(request, WRITE)
    if isinstance(run, Response):
        await _audit(request, run.status_code)  # a known caller's refusal is recorded, as the admin API's are
        return run
    state = app_state(request)
    # A fresh request id each time: every call replays again, as the platform's does.
    replay = ReplayRequest(f"execution:{uuid.uuid4().hex}", mode="redeliver", event_id=run.event_id, job_id=run.id)
    jobs = ReplayJobs.of(state["store"], state["keys"], record_ttl_s=state["settings"].retention_days * 86_400)
    await jobs.create(replay)
    await _audit(request, 201)
    return Response(status_code=201)  # the documented answer: "201: Created", no body


async def _audit(request: Request, status: int) -> None:
    caller = getattr(request.state, "caller", None)  # none when the key was unknown or over its rate limit
    if isinstance(caller, Caller):
        await app_state(request)["audit"].record(caller.actor, "replay_execution", request.url.path, status)


EXECUTION = f"{BASE}/workflow-executions/{{execution_id:path}}"
routes = [
    Route(f"{BASE}/workflow-executions", list_executions, methods=["GET"]),
    # Execution ids may hold percent-escapes a client sends encoded; the path converter keeps them whole, and
    # the routes with a suffix come first so that no execution id swallows it.
    Route(f"{EXECUTION}/step-executions/{{step_id}}", get_step_execution, methods=["GET"]),
    Route(f"{EXECUTION}/replay", replay_execution, methods=["POST"]),
    Route(EXECUTION, get_execution, methods=["GET"]),
]
