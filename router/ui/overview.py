"""The overview: traffic over the last hours as an inline SVG chart, and what waits or failed right now.

Every figure comes from an admin API operation: the hourly counts from one ``GET /api/stats``, the rest from their
own lists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from router.ui.api_calls import segment
from router.ui.context import Page, open_page

HOURS = 12
SERIES = ("received", "stored", "routed", "failed verification")


@dataclass(frozen=True, slots=True)
class Bucket:
    start_ms: int
    end_ms: int


async def _series(page: Page, project: str | None) -> tuple[dict[str, list[int]], list[Bucket], str]:
    """Each series per hour over the last ``HOURS`` hours, from one ``GET /api/stats``; an error's reason when the
    key may not read them."""
    answer = await page.api.get("/stats", project=project, bucket="1h")
    if not answer.ok:
        return {name: [] for name in SERIES}, [], answer.problem
    rows = answer.data["buckets"][-HOURS:]
    hours = [Bucket(int(r["start"]), int(r["end"])) for r in rows]
    series = {name: [int(r[name.replace(" ", "_")]) for r in rows] for name in SERIES}
    return series, hours, ""


async def integrations(page: Page) -> list[dict[str, Any]]:
    """The integrations of the chosen project, else of every project the key reads."""
    if page.operator and page.project is None:
        answer = await page.api.get("/integrations")
        return list(answer.data["data"]) if answer.ok else []
    found: list[dict[str, Any]] = []
    for project in [page.project] if page.project else page.projects_in_scope():
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
    for project in [page.project] if page.project else await page.projects():
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
    project = page.project
    series, hours, refused = await _series(page, project)
    if refused:
        page.flash.append(("error", f"Traffic counts: {refused}"))
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
