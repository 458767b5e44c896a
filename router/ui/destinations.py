"""Destinations: list, create or edit from a template, send a test, enable or disable, and the notification log."""

from __future__ import annotations

import re
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from router.ui.api_calls import Answer, segment
from router.ui.context import Page, confirmed, open_form, open_page

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


FORM_FIELDS = ("id", "project", "name", "template", "header_name", "option", "to", "event_types")
SECRET_FIELDS = ("url", "header_value")  # never written back into a page
# The admin API's member (first part of an error's field) → the form field to show its reason beside.
API_FIELDS = {
    "url": "url",
    "headers": "header_value",
    "options": "option",
    "to": "to",
    "event_types": "event_types",
    "project": "project",
    "name": "name",
    "template": "template",
    "type": "template",
    "id": "id",
}


def form_of(view: dict[str, Any]) -> dict[str, Any]:
    """The form's values for a destination as the admin API shows it (its secrets it cannot show)."""
    webhook = view.get("type") == "webhook"
    headers = list(view.get("headers") or {})
    return {
        "id": view["id"],
        "project": view.get("project", ""),
        "name": view.get("name", ""),
        "template": view.get("template", "webhook") if webhook else "email",
        "header_name": headers[0] if webhook and view.get("template") == "webhook" and headers else "",
        "option": next(iter((view.get("options") or {}).values()), ""),
        "to": ", ".join(view.get("to") or []),
        "event_types": ", ".join(view.get("event_types") or []),
        "enabled": bool(view.get("enabled")),
        "existing": True,
        "url_set": bool(view.get("url")),
        "header_set": bool(headers),
    }


def entered(form: FormData) -> dict[str, Any]:
    """What was typed into the form, to show it again; the secrets left out."""
    values: dict[str, Any] = {k: str(form.get(k) or "").strip() for k in FORM_FIELDS}
    existing = form.get("existing") == "1"
    return {
        **values,
        "enabled": form.get("enabled") == "on",
        "existing": existing,
        "url_set": existing,
        "header_set": existing,
    }


def field_errors(answer: Answer) -> dict[str, str]:
    """The API's reasons by form field ("" for one that belongs to no field): its ``errors`` when it lists them,
    else its ``field: message; ...`` detail."""
    data = answer.data if isinstance(answer.data, dict) else {}
    listed = data.get("errors")
    pairs: list[tuple[str, str]] = []
    if isinstance(listed, list) and listed:
        pairs = [(str(e.get("field", "")), str(e.get("message", ""))) for e in listed if isinstance(e, dict)]
    else:  # "member: message; member: message", a message itself perhaps holding "; "
        for part in _MEMBER.split(answer.problem):
            name, sep, message = part.partition(": ")
            pairs.append((name, message) if sep and " " not in name else ("", part))
    out: dict[str, str] = {}
    for name, raw in pairs:
        message = raw.removeprefix("Value error, ")
        target = API_FIELDS.get(name.split(".")[0], "") or _named_in(message)
        out[target] = f"{out[target]}; {message}" if target in out else message
    return out


# Where the next error starts: a member the API names (``url: ``, ``headers.X-Key: ``) or the record's own (``: ``).
_MEMBER = re.compile(r"; (?=(?:(?:{})(?:\.[^:;]*)?)?: )".format("|".join(API_FIELDS)))
# A whole-record check names its member in its message ("a slack destination needs 'url'").
_MENTIONS = {"'url'": "url", "'to'": "to", "event types": "event_types", "payload": ""}


def _named_in(message: str) -> str:
    return next((field for mention, field in _MENTIONS.items() if mention in message), "")


async def _page(
    page: Page, *, form: dict[str, Any] | None = None, errors: dict[str, str] | None = None, status: int = 200
) -> Response:
    listed = await page.api.get("/destinations", project=page.project)
    log = await page.api.get("/notifications", limit=50) if page.operator else None
    return page.render(
        "destinations.html",
        status=status,
        title="Destinations",
        destinations=listed.data["data"] if listed.ok else [],
        log=log.data["data"] if log is not None and log.ok else [],
        log_shown=log is not None and log.ok,
        templates=TEMPLATES,
        form=form,
        errors=errors or {},
        projects=await page.projects(),
    )


async def destinations_page(request: Request) -> Response:
    page = await open_page(request)
    if not isinstance(page, Page):
        return page
    form = None
    edit_id = request.query_params.get("edit")
    if edit_id:
        found = await page.api.get(f"/destinations/{segment(edit_id)}")
        if found.ok:
            form = form_of(found.data)
        else:
            page.flash.append(("error", f"Destination {edit_id}: {found.problem}"))
    for kind in ("done", "tested"):
        if request.query_params.get(kind):
            page.flash.append(("ok", request.query_params[kind]))
    if request.query_params.get("failed"):
        page.flash.append(("error", request.query_params["failed"]))
    return await _page(page, form=form)


async def save_destination(request: Request) -> Response:
    page = await open_form(request)
    if not isinstance(page, Page):
        return page
    form = await request.form()
    values = entered(form)
    if not values["id"]:
        return await _page(page, form=values, errors={"id": "Give the destination an id."}, status=400)
    if values["template"] not in TEMPLATES:
        return await _page(page, form=values, errors={"template": "Unknown template."}, status=400)
    answer = await page.api.put(f"/destinations/{segment(values['id'])}", body_from(form))
    if not answer.ok:
        # The form again, as typed, with the API's reason beside each field it names (not an error page).
        errors = field_errors(answer)
        beside = "" if set(errors) <= {""} else ": the reasons are beside the fields"
        page.flash.append(("error", f"Not saved{beside}."))
        return await _page(page, form=values, errors=errors, status=answer.status)
    return RedirectResponse(f"/ui/destinations?done=Destination+{answer.data['change']}", status_code=303)


async def destination_action(request: Request) -> Response:
    page = await open_form(request)
    if not isinstance(page, Page):
        return page
    destination, action = request.path_params["destination_id"], request.path_params["action"]
    if action == "delete":
        ask = await confirmed(
            page,
            question=f"Delete destination {destination}?",
            detail="Failure events stop going there at once. Its record is removed; this cannot be undone.",
            button="Delete destination",
            back="/ui/destinations",
        )
        if ask is not None:
            return ask
        answer = await page.api.delete(f"/destinations/{segment(destination)}")
        if not answer.ok:
            return page.render("error.html", status=answer.status, title="Delete refused", message=answer.problem)
        return RedirectResponse(f"/ui/destinations?done={segment(destination)}+deleted", status_code=303)
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
