"""Integrations: the webhook URL to paste into each provider, recent verification failures, handshake captures."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from router.runtime.state import app_state
from router.ui.api_calls import segment
from router.ui.context import Page, confirmed, open_form, open_page
from router.ui.overview import integrations as listed


def webhook_url(request: Request, integration: dict[str, Any]) -> str:
    # The configured public URL (what URL-signing providers sign), else the address this page was reached at.
    public = app_state(request)["settings"].public_url
    base = str(public).rstrip("/") if public else str(request.base_url).rstrip("/").removesuffix("/ui")
    return f"{base}/webhook/triggers/connect/{segment(integration['type'])}/{segment(integration['id'])}"


async def integrations_page(request: Request) -> Response:
    page = await open_page(request)
    if not isinstance(page, Page):
        return page
    rows = []
    for integration in await listed(page):
        path = f"/integrations/{segment(integration['id'])}"
        failures = await page.api.get(f"{path}/verification-failures")
        captures = await page.api.get(f"{path}/handshakes")
        rows.append(
            {
                "integration": integration,
                "url": webhook_url(request, integration),
                "failures": failures.data["data"][:20] if failures.ok else [],
                "captures": captures.data["data"] if captures.ok else [],
            }
        )
    done = request.query_params.get("done")
    if done:
        page.flash.append(("ok", done))
    return page.render("integrations.html", title="Integrations", rows=rows)


async def clear_captures(request: Request) -> Response:
    page = await open_form(request)
    if not isinstance(page, Page):
        return page
    integration = request.path_params["integration_id"]
    ask = await confirmed(
        page,
        question=f"Clear the handshake captures of {integration}?",
        detail="The captured values are forgotten (an active signing secret stays active); the next handshake the "
        "provider sends is kept again.",
        button="Clear captures",
        back=f"/ui/integrations#integration-{segment(integration)}",
    )
    if ask is not None:
        return ask
    answer = await page.api.delete(f"/integrations/{segment(integration)}/handshakes")
    if not answer.ok:
        return page.render("error.html", status=answer.status, title="Clear refused", message=answer.problem)
    note = f"{answer.data['deleted']} captures of {integration} cleared"
    return RedirectResponse(f"/ui/integrations?done={segment(note)}", status_code=303)


async def activate_capture(request: Request) -> Response:
    page = await open_form(request)
    if not isinstance(page, Page):
        return page
    integration, capture = request.path_params["integration_id"], request.path_params["capture_id"]
    answer = await page.api.post(f"/integrations/{segment(integration)}/handshakes/{segment(capture)}/activate")
    if not answer.ok:
        return page.render("error.html", status=answer.status, title="Activate refused", message=answer.problem)
    note = f"Secret {answer.data['change']}: {answer.data['secrets_count']} active"
    return RedirectResponse(f"/ui/integrations?done={segment(note)}", status_code=303)
