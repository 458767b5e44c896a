"""Filtered replays: count first (a dry run), then start, then watch the progress bar."""

from __future__ import annotations

import re
import secrets
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from router.ui.api_calls import segment
from router.ui.context import Page, open_form, open_page
from router.ui.events import STATUSES

COUNTED = re.compile(r"ui-dry-[0-9a-f]{16}")
FIELDS = (
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


def request_id(form: Any, *, dry_run: bool) -> str:
    """A new id for a count; for a start, the id its count's id names, so the same form posted twice (a double
    click, a reload) is one replay: the admin API answers the second with the first's job, replaying nothing."""
    counted = str(form.get("counted") or "")
    if not dry_run and COUNTED.fullmatch(counted):
        return "ui-run-" + counted.removeprefix("ui-dry-")
    return f"ui-{'dry' if dry_run else 'run'}-{secrets.token_hex(8)}"


def _body(form: Any, *, dry_run: bool) -> dict[str, Any]:
    body: dict[str, Any] = {k: str(form.get(k) or "").strip() for k in FIELDS}
    body = {k: v for k, v in body.items() if v}
    mode = form.get("mode") if form.get("mode") in ("reroute", "redeliver") else "reroute"
    return {**body, "mode": mode, "dry_run": dry_run, "request_id": request_id(form, dry_run=dry_run)}


async def replays_page(request: Request) -> Response:
    page = await open_page(request)
    if not isinstance(page, Page):
        return page
    job, counted = None, None
    if request.query_params.get("job"):
        answer = await page.api.get(f"/replays/{segment(request.query_params['job'])}")
        job = answer.data if answer.ok else None
    if request.query_params.get("counted"):
        answer = await page.api.get(f"/replays/{segment(request.query_params['counted'])}")
        counted = answer.data if answer.ok else None
    template = "replay_progress.html" if request.query_params.get("fragment") else "replays.html"
    return page.render(
        template,
        title="Replays",
        job=job,
        counted=counted,
        fields=FIELDS,
        statuses=STATUSES,
        query=request.query_params,
    )


async def start_replay(request: Request) -> Response:
    page = await open_form(request)
    if not isinstance(page, Page):
        return page
    form = await request.form()
    dry_run = form.get("action") != "start"
    answer = await page.api.post("/replays", _body(form, dry_run=dry_run))
    if not answer.ok:
        return page.render("error.html", status=answer.status, title="Replay refused", message=answer.problem)
    chosen = {k: str(form.get(k) or "") for k in (*FIELDS, "mode") if form.get(k)}
    key = "counted" if dry_run else "job"
    return RedirectResponse(f"/ui/replays?{urlencode({**chosen, key: answer.data['id']})}", status_code=303)
