"""Admin API for traffic counts: ``GET /api/stats``, what arrived, was stored, routed or refused, per time bucket.

The counts are written as each event happens (``router/history/stats.py``), so one request answers a whole chart
without reading any stored event.
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import Query
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from router.admin import scopes as at
from router.admin.guard import admin, admin_router
from router.admin.paging import with_iso
from router.admin.problems import bad_parameter
from router.history.executions import parse_date
from router.history.indexes import BadFilter
from router.history.stats import BUCKETS, HOURS, Stats
from router.runtime.state import app_state

router = admin_router(tags=["history"])


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StatsBucket(_Answer):
    start: int = Field(description="The bucket's start, epoch milliseconds (inclusive)")
    start_iso: str | None = Field(description="`start`, ISO 8601 UTC")
    end: int = Field(description="The bucket's end, epoch milliseconds (exclusive; the last one ends now)")
    end_iso: str | None = Field(description="`end`, ISO 8601 UTC")
    received: int = Field(description="stored + duplicate + failed_verification")
    stored: int = Field(
        description="Events stored (webhooks, custom webhooks, App Events, Request triggers, polls, "
        "Scheduler ticks, lifecycle events, replayed copies), by when they were stored"
    )
    duplicate: int = Field(description="Provider deliveries answered without storing: repeats of a stored one")
    routed: int = Field(description="Of the events stored in this bucket, those routing made trigger jobs for")
    failed_verification: int = Field(description="Webhooks refused with 401 (signature, timestamp, ...)")


class StatsAnswer(_Answer):
    project: str | None = Field(description="The project counted; null: every project")
    bucket: str = Field(description="The bucket width asked for")
    since: int = Field(description="The first bucket's start, epoch ms (`since` rounded down to a minute)")
    since_iso: str | None
    until: int = Field(description="The last bucket's end: now, epoch ms")
    until_iso: str | None
    # Not `data`: that member name means a paged list (`next`) everywhere else in the API; this one is whole.
    buckets: list[StatsBucket] = Field(description="Oldest first, one per bucket, empty buckets included")


Bucket = Annotated[
    str | None,
    WithJsonSchema({"type": "string", "enum": list(BUCKETS)}),
    Query(description="Bucket width (default 1h)"),
]
Since = Annotated[
    str | None,
    Query(
        description=f"The first bucket's start: an ISO 8601 date or datetime (no zone means UTC), at most {HOURS} "
        "hours ago (default: 12 hours ago, rounded down to the bucket)"
    ),
]


@router.get(
    "/stats",
    response_model=StatsAnswer,
    summary="Traffic counts per time bucket: received, stored, duplicate, routed, failed verification",
    description=f"Counts are kept {HOURS} hours. A project key must name its project.",
)
@admin(at.read(at.query("project")))
async def get_stats(
    request: Request,
    project: Annotated[str | None, Query(description="Only this project's counts (a project key must name it)")] = None,
    since: Since = None,
    bucket: Bucket = None,
) -> Response:
    width = BUCKETS.get(bucket or "1h")
    if width is None:
        return bad_parameter("bucket", f"bucket must be one of {', '.join(BUCKETS)}")
    now_ms = int(time.time() * 1000)
    oldest = now_ms - HOURS * 3_600_000
    if since:
        try:
            start = parse_date("since", since)
        except BadFilter as exc:
            return bad_parameter("since", str(exc))
        if not oldest - 60_000 <= start <= now_ms:
            return bad_parameter("since", f"since must be within the last {HOURS} hours")
    else:  # twelve buckets' worth back, capped at what is kept, whole buckets on the wall clock
        start = max(now_ms - now_ms % (width * 1000) - 11 * width * 1000, oldest)
    start -= start % 60_000
    state = app_state(request)
    found = await Stats(state["store"], state["keys"]).buckets(start, now_ms + 1, width, project or None)
    data = [
        with_iso(
            {
                "start": b.start_ms,
                "end": b.end_ms,
                "received": b.received,
                "stored": b.stored,
                "duplicate": b.duplicate,
                "routed": b.routed,
                "failed_verification": b.failed_verification,
            },
            ms=["start", "end"],
        )
        for b in found
    ]
    answer = {
        "project": project or None,
        "bucket": bucket or "1h",
        "since": start,
        "until": now_ms + 1,
        "buckets": data,
    }
    return JSONResponse(with_iso(answer, ms=["since", "until"]))
