"""Admin API for replays: queue one (202 with the job), read its progress, replay one event.

The workers run queued replays (router/history/replay.py ``ReplayRunner``); these endpoints only create and read the
job records, so a request returns at once whatever the number of events.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Body, Path
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_validator
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from router.admin import scopes as at
from router.admin.guard import admin, admin_router
from router.admin.problems import problem, responses
from router.history.indexes import EventFilter
from router.history.replay_jobs import REQUEST_ID, ReplayJobs, ReplayRequest, parse_when
from router.runtime.state import State, app_state
from router.storage.stream_id import StreamId

# A body without a Content-Type is read as JSON, as these routes always read it.
router = admin_router(tags=["replay"])

Mode = Literal["reroute", "redeliver"]  # replay_jobs.MODES
_MODE = "`reroute` routes the stored event again against today's registry; `redeliver` re-sends its trigger jobs"
_DRY_RUN = "Count what would be replayed, replaying nothing"


class _Options(BaseModel):
    mode: Mode = Field(default="reroute", description=_MODE)
    dry_run: StrictBool = Field(default=False, description=_DRY_RUN)


class ReplayBody(_Options):
    """One stored event (``event_id``) or every event the filter members select (none: every stored event)."""

    request_id: str = Field(
        pattern=REQUEST_ID.pattern,
        description="Chosen by the client: the same id again replays nothing twice; under other parameters, 409",
    )
    event_id: str | None = Field(default=None, description="One stored event (the filter members are then ignored)")
    project: str | None = None
    integration: str | None = None
    credential: str | None = None
    user: str | None = None
    provider_id: str | None = None
    event_type: str | None = None
    status: str | None = Field(default=None, description="received, routed, unmatched, delivered, failed or dead")
    after_ms: StrictInt | None = Field(default=None, description="Received at or after, in epoch milliseconds")
    before_ms: StrictInt | None = Field(default=None, description="Received before, in epoch milliseconds")
    afterDate: str | None = Field(
        default=None, description="`after_ms` as an ISO 8601 date or time, or 30m, 2h, 3d ago (if it is not given)"
    )
    beforeDate: str | None = Field(
        default=None, description="`before_ms` as an ISO 8601 date or time, or 30m, 2h, 3d ago (if it is not given)"
    )

    @field_validator("afterDate", "beforeDate")
    @classmethod
    def _when(cls, value: str | None) -> str | None:
        if value is not None:
            parse_when(value)  # its ValueError names the forms it takes
        return value

    def selection(self) -> EventFilter:
        after, before = self.after_ms, self.before_ms
        if after is None and self.afterDate is not None:
            after = parse_when(self.afterDate)
        if before is None and self.beforeDate is not None:
            before = parse_when(self.beforeDate)
        return EventFilter(
            project=self.project,
            integration=self.integration,
            credential=self.credential,
            user=self.user,
            provider_id=self.provider_id,
            event_type=self.event_type,
            status=self.status,
            after_ms=after,
            before_ms=before,
        )


class EventReplayBody(_Options):
    request_id: str | None = Field(
        default=None, pattern=REQUEST_ID.pattern, description="Default: `event:<id>:<mode>` (`event:<id>:dry:<mode>`)"
    )


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReplayFilter(_Answer):
    """The filter members that were given."""

    project: str | None = None
    integration: str | None = None
    credential: str | None = None
    user: str | None = None
    provider_id: str | None = None
    event_type: str | None = None
    status: str | None = None
    after_ms: int | None = None
    before_ms: int | None = None


class ReplayCounts(_Answer):
    matched: int = Field(description="Events the request selected")
    replayed: int = Field(description="Events copied (reroute) or whose jobs were re-created (redeliver)")
    skipped: int = Field(description="Deliberately not replayed (see `reasons`)")
    failed: int = Field(description="Selected but no longer stored")


class ReplayJob(_Answer):
    id: str = Field(description="The request id")
    status: Literal["pending", "running", "done", "failed"]
    mode: Mode
    dry_run: bool
    event_id: str | None
    filter: ReplayFilter | None
    counts: ReplayCounts
    jobs: int = Field(description="Trigger jobs re-created (redeliver)")
    reasons: dict[str, int] = Field(description="Why events were skipped or failed: reason → count")
    total: int | None = Field(description="Events the filter matched when the replay started")
    progress: float = Field(description="0 to 1")
    waiting_backlog: int = Field(description="The live backlog the replay is paused on; 0 when not paused")
    error: str | None
    created_at: str = Field(description="ISO 8601 UTC")
    updated_at: str = Field(description="ISO 8601 UTC")
    started_at: str | None = Field(description="ISO 8601 UTC")
    finished_at: str | None = Field(description="ISO 8601 UTC")


_CREATED = {
    200: {"model": ReplayJob, "description": "The same request came before: its job, and nothing replayed again"},
    **responses(s409="This `request_id` belongs to a replay with other parameters (`replay_conflict`)"),
}


def _jobs(state: State) -> ReplayJobs:
    return ReplayJobs.of(state["store"], state["keys"], record_ttl_s=state["settings"].retention_days * 86_400)


async def _create(state: State, replay: ReplayRequest) -> Response:
    if replay.event_id is not None and await state["store"].get_event(state["keys"], replay.event_id) is None:
        return problem(404, "not_found")
    job, created = await _jobs(state).create(replay)  # ReplayConflict: 409
    # 202 when queued now; 200 with the existing job when the same request came before (nothing replayed twice).
    return JSONResponse(job.to_json(), status_code=202 if created else 200)


@router.post(
    "/replays",
    response_model=ReplayJob,
    status_code=202,
    responses=_CREATED,
    summary="Queue a replay of one event or of every event a filter selects",
)
@admin(at.OPERATOR_ONLY)
async def create_replay(request: Request, body: ReplayBody) -> Response:
    flt = None if body.event_id is not None else body.selection()
    replay = ReplayRequest(body.request_id, mode=body.mode, dry_run=body.dry_run, event_id=body.event_id, filter=flt)
    return await _create(app_state(request), replay)


@router.get("/replays/{request_id}", response_model=ReplayJob, summary="A replay's progress")
@admin(at.OPERATOR_ONLY)
async def get_replay(
    request: Request, request_id: Annotated[str, Path(description="The replay's request id")]
) -> Response:
    job = await _jobs(app_state(request)).get(request_id)
    if job is None:
        return problem(404, "not_found")
    return JSONResponse(job.to_json())


@router.post(
    "/events/{event_id}/replay",
    response_model=ReplayJob,
    status_code=202,
    responses=_CREATED,
    summary="Queue a replay of one stored event",
)
@admin(at.OPERATOR_ONLY)
async def replay_event(
    request: Request,
    event_id: Annotated[str, Path(description="The stored event's id")],
    body: Annotated[EventReplayBody | None, Body(description="Optional: the replay's options")] = None,
) -> Response:
    if not StreamId.is_valid(event_id, event=True):
        return problem(404, "not_found")
    options = body or EventReplayBody()
    dry = "dry:" if options.dry_run else ""
    request_id = options.request_id or f"event:{event_id}:{dry}{options.mode}"
    replay = ReplayRequest(request_id, mode=options.mode, dry_run=options.dry_run, event_id=event_id)
    return await _create(app_state(request), replay)
