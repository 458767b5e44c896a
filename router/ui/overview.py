"""The overview: traffic over the last hours as an inline SVG chart, and what waits or failed right now.

Every figure comes from an admin API operation: event counts are the ``total`` of ``GET /api/events`` over each
hour, failed verifications the integrations' recent rejections, the rest their own lists.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from router.ui.api_calls import AdminApi, segment
from router.ui.context import Page, open_page

HOURS = 12
SERIES = ("received", "stored", "routed", "failed verification")


@dataclass(frozen=True, slots=True)
class Bucket:
    start_ms: int
    end_ms: int


def buckets(now_ms: int, hours: int = HOURS) -> list[Bucket]:
    top = now_ms - now_ms % 3_600_000 + 3_600_000  # the end of the current hour
    return [Bucket(top - (hours - i) * 3_600_000, top - (hours - i - 1) * 3_600_000) for i in range(hours)]


async def _total(api: AdminApi, bucket: Bucket, project: str | None, status: str | None = None) -> int:
    answer = await api.get(
        "/events",
        project=project,
        status=status,
        afterDate=_iso(bucket.start_ms),
        beforeDate=_iso(bucket.end_ms),
        limit=1,
    )
    return int(answer.data["total"]) if answer.ok else 0


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))


async def _series(page: Page, hours: list[Bucket], project: str | None) -> dict[str, list[int]]:
    api = page.api
    stored = await asyncio.gather(*(_total(api, b, project) for b in hours))
    unmatched = await asyncio.gather(*(_total(api, b, project, "unmatched") for b in hours))
    waiting = await asyncio.gather(*(_total(api, b, project, "received") for b in hours))
    failures = await _verification_failures(page)
    rejected = [sum(1 for at in failures if b.start_ms <= at < b.end_ms) for b in hours]
    return {
        "received": [s + r for s, r in zip(stored, rejected, strict=True)],
        "stored": list(stored),
        "routed": [max(0, s - u - w) for s, u, w in zip(stored, unmatched, waiting, strict=True)],
        "failed verification": rejected,
    }


async def _verification_failures(page: Page) -> list[int]:
    """When each recent rejected webhook arrived (epoch ms), over every integration the key may read."""
    ats: list[int] = []
    for integration in await integrations(page):
        answer = await page.api.get(f"/integrations/{segment(integration['id'])}/verification-failures")
        if answer.ok:
            ats += [int(f.get("at", 0)) for f in answer.data["data"]]
    return ats


async def integrations(page: Page) -> list[dict[str, Any]]:
    if page.operator:
        answer = await page.api.get("/integrations")
        return list(answer.data["data"]) if answer.ok else []
    found: list[dict[str, Any]] = []
    for project in page.projects_in_scope():
        answer = await page.api.get(f"/projects/{segment(project)}/integrations", limit=1000)
        if answer.ok:
            found += answer.data["data"]
    return found


def chart(series: dict[str, list[int]], hours: list[Bucket], width: int = 720, height: int = 200) -> dict[str, Any]:
    """Polyline points for each series, scaled into the chart's box (a plain SVG: no script, no library)."""
    top = max([1, *(v for values in series.values() for v in values)])
    step = width / max(1, len(hours) - 1)
    lines = {
        name: " ".join(f"{i * step:.1f},{height - v / top * height:.1f}" for i, v in enumerate(values))
        for name, values in series.items()
    }
    return {"lines": lines, "top": top, "width": width, "height": height, "step": step}


async def _counts(page: Page, project: str | None) -> dict[str, Any]:
    api = page.api
    backlog = await api.get("/events", project=project, status="received", limit=1)
    counts: dict[str, Any] = {"backlog": backlog.data["total"] if backlog.ok else None}
    if page.operator:  # the retry queue and dead letters span projects: operator operations
        delayed = await api.get("/executions", status="DELAYED", limit=1)
        dead = await api.get("/dead-letters", limit=1000)
        counts["retrying"] = delayed.data["total"] if delayed.ok else None
        counts["dead"] = len(dead.data["data"]) if dead.ok else None
        counts["dead_more"] = bool(dead.ok and dead.data["next"])
    destinations = await api.get("/destinations", project=project)
    counts["disabled_destinations"] = (
        [d for d in destinations.data["data"] if not d["enabled"] or d["auto_disabled"]] if destinations.ok else []
    )
    return counts


async def disabled_targets(page: Page) -> list[dict[str, Any]]:
    """Every HTTP target of a workflow the key may read, with its state (``GET /api/targets/{workflow}``)."""
    found = []
    for project in await page.projects():
        answer = await page.api.get(f"/projects/{segment(project)}/workflows", limit=1000)
        for workflow in answer.data["data"] if answer.ok else []:
            if (workflow.get("target") or {}).get("type") != "http":
                continue
            state = await page.api.get(f"/targets/{segment(workflow['id'])}")
            if state.ok:  # its state from the target route, its configured limits from the workflow record
                found.append({**state.data, "project": project, "name": workflow.get("name", ""), **_limits(workflow)})
    return found


def _limits(workflow: dict[str, Any]) -> dict[str, Any]:
    target = workflow["target"]
    return {
        "url": target.get("url", ""),
        "limits": {k: target.get(k) for k in ("rate_per_s", "burst", "max_concurrency", "breaker_failures")},
    }


async def overview(request: Request) -> Response:
    page = await open_page(request)
    if not isinstance(page, Page):
        return page
    scoped = page.projects_in_scope()
    project = None if page.operator or not scoped else scoped[0]
    hours = buckets(int(time.time() * 1000))
    series = await _series(page, hours, project)
    counts = await _counts(page, project)
    targets = [t for t in await disabled_targets(page) if t["disabled"] or t["breaker"]["state"] == "open"]
    return page.render(
        "overview.html",
        title="Overview",
        series=series,
        chart=chart(series, hours),
        hours=hours,
        counts=counts,
        targets=targets,
        project=project,
    )
