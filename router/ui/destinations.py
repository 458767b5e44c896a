"""Destinations: list, create or edit from a template, send a test, enable or disable, and the notification log."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from router.ui.api_calls import segment
from router.ui.context import Page, open_form, open_page

# Each template's secret header and option, as subscriptions.destinations documents them.
TEMPLATES: dict[str, dict[str, str]] = {
    "slack": {"url": "Incoming-webhook URL (https://hooks.slack.com/services/…)"},
    "datadog": {"header": "DD-API-KEY", "option": "site", "url": ""},
    "newrelic": {"header": "Api-Key", "option": "region", "url": ""},
    "sentry": {"url": "DSN (https://<key>@o0.ingest.sentry.io/<project>)", "option": "endpoint"},
    "webhook": {"url": "URL it posts to", "header": ""},
    "email": {"to": "Addresses, comma-separated"},
}


def body_from(form: FormData) -> dict[str, Any]:
    """The admin API's destination body from the form's fields (a secret left empty is sent as absent)."""
    template = str(form.get("template") or "webhook")
    value = {k: str(form.get(k) or "").strip() for k in ("project", "name", "url", "header_value", "option", "to")}
    body: dict[str, Any] = {
        "project": value["project"],
        "name": value["name"],
        "enabled": form.get("enabled") == "on",
        "event_types": [t.strip() for t in str(form.get("event_types") or "").split(",") if t.strip()],
    }
    if template == "email":
        return {**body, "type": "email", "to": [a.strip() for a in value["to"].split(",") if a.strip()]}
    body.update(type="webhook", template=template)
    if value["url"]:
        body["url"] = value["url"]
    header = TEMPLATES[template].get("header") or str(form.get("header_name") or "").strip()
    if header and value["header_value"]:
        body["headers"] = {header: value["header_value"]}
    option = TEMPLATES[template].get("option")
    if option and value["option"]:
        body["options"] = {option: value["option"]}
    return body


async def destinations_page(request: Request) -> Response:
    page = await open_page(request)
    if not isinstance(page, Page):
        return page
    listed = await page.api.get("/destinations", project=page.project)
    log = await page.api.get("/notifications", limit=50) if page.operator else None
    editing = None
    edit_id = request.query_params.get("edit")
    if edit_id:
        found = await page.api.get(f"/destinations/{segment(edit_id)}")
        editing = found.data if found.ok else None
    for kind in ("done", "tested"):
        if request.query_params.get(kind):
            page.flash.append(("ok", request.query_params[kind]))
    if request.query_params.get("failed"):
        page.flash.append(("error", request.query_params["failed"]))
    return page.render(
        "destinations.html",
        title="Destinations",
        destinations=listed.data["data"] if listed.ok else [],
        log=log.data["data"] if log is not None and log.ok else [],
        log_shown=log is not None and log.ok,
        templates=TEMPLATES,
        editing=editing,
        projects=await page.projects(),
    )


async def save_destination(request: Request) -> Response:
    page = await open_form(request)
    if not isinstance(page, Page):
        return page
    form = await request.form()
    destination = str(form.get("id") or "").strip()
    if not destination:
        return page.render("error.html", status=400, title="Destination", message="Give the destination an id.")
    if str(form.get("template") or "webhook") not in TEMPLATES:
        return page.render("error.html", status=400, title="Destination", message="Unknown template.")
    answer = await page.api.put(f"/destinations/{segment(destination)}", body_from(form))
    if not answer.ok:
        return page.render("error.html", status=answer.status, title="Destination refused", message=answer.problem)
    return RedirectResponse(f"/ui/destinations?done=Destination+{answer.data['change']}", status_code=303)


async def destination_action(request: Request) -> Response:
    page = await open_form(request)
    if not isinstance(page, Page):
        return page
    destination, action = request.path_params["destination_id"], request.path_params["action"]
    if action not in ("test", "enable", "disable"):
        return page.render("error.html", status=404, title="Destination", message="No such action.")
    answer = await page.api.post(f"/destinations/{segment(destination)}/{action}")
    if not answer.ok:
        return page.render("error.html", status=answer.status, title="Destination refused", message=answer.problem)
    if action != "test":
        return RedirectResponse(f"/ui/destinations?done={segment(destination)}+{action}d", status_code=303)
    result = answer.data
    outcome = "accepted" if result["ok"] else f"failed ({result['error']})"
    note = f"Test to {destination}: {outcome}, status {result['status']}, {result['latency_ms'] or 0:.0f} ms"
    kind = "tested" if result["ok"] else "failed"
    return RedirectResponse(f"/ui/destinations?{kind}={segment(note)}", status_code=303)
