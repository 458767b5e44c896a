"""HTTP targets (breaker, 410-disabled state, re-enable) and dead letters (re-drive one, or a target's all)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from router.ui.api_calls import segment
from router.ui.context import Page, open_form, open_page
from router.ui.overview import disabled_targets


async def deliveries(request: Request) -> Response:
    page = await open_page(request)
    if not isinstance(page, Page):
        return page
    targets = await disabled_targets(page)
    dead = await page.api.get("/dead-letters", limit=200) if page.operator else None
    done = request.query_params.get("done")
    if done:
        page.flash.append(("ok", done))
    return page.render(
        "deliveries.html",
        title="Deliveries",
        targets=targets,
        dead=dead.data["data"] if dead is not None and dead.ok else [],
        dead_shown=dead is not None and dead.ok,
    )


async def enable_target(request: Request) -> Response:
    page = await open_form(request)
    if not isinstance(page, Page):
        return page
    workflow = request.path_params["workflow_id"]
    answer = await page.api.post(f"/targets/{segment(workflow)}/enable")
    if not answer.ok:
        return page.render("error.html", status=answer.status, title="Enable refused", message=answer.problem)
    return RedirectResponse(f"/ui/deliveries?done=Target+{segment(workflow)}+enabled", status_code=303)


async def redrive(request: Request) -> Response:
    page = await open_form(request)
    if not isinstance(page, Page):
        return page
    form = await request.form()
    one, workflow = form.get("id"), form.get("workflow")
    body = {"id": one} if isinstance(one, str) and one else {"workflow": workflow}
    answer = await page.api.post("/dead-letters/redrive", body)
    if not answer.ok:
        return page.render("error.html", status=answer.status, title="Re-drive refused", message=answer.problem)
    return RedirectResponse(f"/ui/deliveries?done={answer.data['redriven']}+re-driven", status_code=303)
