"""Stored events: the filtered, paged list with its live tail, one event's page, and replaying it."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qs, urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from router.ui.api_calls import segment
from router.ui.context import Page, open_form, open_page

FILTERS = (
    "project",
    "integration",
    "credential",
    "user",
    "provider_id",
    "event_type",
    "status",
    "afterDate",
    "beforeDate",
)
STATUSES = ("received", "routed", "unmatched", "delivered", "failed", "dead")
PAGE_SIZE = 25
HEX_BYTES = 4096  # a body that is not text is shown as hex, up to this much
TEXT_CHARS = 256 * 1024  # a text body is shown up to this much (the API's body_base64 has all of it)


def _filters(page: Page) -> dict[str, str]:
    given = {name: page.request.query_params.get(name, "").strip() for name in FILTERS}
    if not given["project"] or not page.operator:
        given["project"] = page.project or ""  # the picker's project; a project key's own, never another's
    return given


async def _search(page: Page, filters: dict[str, str], cursor: str | None) -> tuple[dict[str, Any] | None, str]:
    answer = await page.api.get("/events", **filters, limit=PAGE_SIZE, cursor=cursor)
    return (answer.data, "") if answer.ok else (None, answer.problem)


def _cursor(next_link: str | None) -> str | None:
    if not next_link:
        return None
    return parse_qs(urlsplit(next_link).query).get("cursor", [None])[0]


async def list_events(request: Request) -> Response:
    page = await open_page(request)
    if not isinstance(page, Page):
        return page
    filters = _filters(page)
    cursor = request.query_params.get("cursor") or None
    found, error = await _search(page, filters, cursor)
    template = "events_rows.html" if request.query_params.get("fragment") == "rows" else "events.html"
    return page.render(
        template,
        title="Events",
        filters=filters,
        statuses=STATUSES,
        found=found,
        error=error,
        cursor=cursor,
        next_cursor=_cursor(found["next"]) if found else None,
        status=400 if error else 200,
    )


def _body_view(detail: dict[str, Any]) -> dict[str, str]:
    if detail.get("body") is not None:
        text = detail["body"]
        if len(text) > TEXT_CHARS:
            return {"kind": "cut", "text": text[:TEXT_CHARS], "truncated": "True"}
        return {"kind": "text", "text": text}
    raw = base64.b64decode(detail.get("body_base64", ""))
    return {"kind": "hex", "text": raw[:HEX_BYTES].hex(" ", 2), "truncated": str(len(raw) > HEX_BYTES)}


async def event_page(request: Request) -> Response:
    page = await open_page(request)
    if not isinstance(page, Page):
        return page
    event_id = request.path_params["event_id"]
    answer = await page.api.get(f"/events/{segment(event_id)}")
    if not answer.ok:
        return page.render("error.html", status=answer.status, title="Event", message=answer.problem)
    detail = answer.data
    flash = request.query_params.get("replayed")
    if flash:
        page.flash.append(("ok", f"Replay queued: {flash}"))
    return page.render("event.html", title=f"Event {event_id}", event=detail, body=_body_view(detail))


async def replay_event(request: Request) -> Response:
    page = await open_form(request)
    if not isinstance(page, Page):
        return page
    event_id = request.path_params["event_id"]
    form = await request.form()
    mode = form.get("mode")
    if mode not in ("reroute", "redeliver"):
        return page.render("error.html", status=400, title="Replay", message="mode must be reroute or redeliver")
    answer = await page.api.post(f"/events/{segment(event_id)}/replay", {"mode": mode})
    if not answer.ok:
        return page.render("error.html", status=answer.status, title="Replay refused", message=answer.problem)
    return RedirectResponse(f"/ui/events/{segment(event_id)}?replayed={segment(answer.data['id'])}", status_code=303)
