"""create_ui(): the dashboard's Starlette application, mounted at ``/ui`` next to the admin API it calls."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from router.ui import csrf, deliveries, destinations, events, integrations, overview, replays, session
from router.ui.context import HERE, caller_of, templates

# Pages are never cached or framed, and load nothing from elsewhere: scripts and styles are the package's own.
SECURITY_HEADERS = {
    "cache-control": "no-store",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "content-security-policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
}


def _sign_in_form(request: Request, *, status: int = 200, message: str = "") -> Response:
    token = csrf.sign_in_token(request)
    nxt = request.query_params.get("next", "/ui/")
    if request.query_params.get("expired"):
        message = message or "Your session ended or its key is no longer valid: sign in again."
    context = {"csrf_field": csrf.FIELD, "csrf_token": token, "message": message, "next": nxt, "page": None}
    response: Response = templates.TemplateResponse(request, "login.html", context, status_code=status)
    csrf.set_sign_in_cookie(response, request, token)
    return response


async def sign_in(request: Request) -> Response:
    if request.method == "GET":
        return _sign_in_form(request)
    if not await csrf.check_sign_in(request):
        return _sign_in_form(request, status=403, message="The form expired: try again.")
    form = await request.form()
    key = str(form.get("key") or "").strip()
    if not key or await caller_of(request, key) is None:
        return _sign_in_form(request, status=401, message="That key is not valid (or was revoked).")
    nxt = str(form.get("next") or "/ui/")
    target = nxt if nxt.startswith("/ui/") and "//" not in nxt else "/ui/"  # only our own pages: no open redirect
    _, sealed = session.start(request, key)
    response = RedirectResponse(target, status_code=303)
    session.set_cookie(response, request, sealed)
    response.delete_cookie(csrf.SIGN_IN_COOKIE, path="/ui")
    return response


async def sign_out(request: Request) -> Response:
    current = session.current(request)
    form = await request.form()
    if current is not None and not csrf.matches(current.csrf, form.get(csrf.FIELD)):
        return Response("Form expired", status_code=403)
    response = RedirectResponse("/ui/login", status_code=303)
    session.clear_cookie(response, request)
    return response


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items() if k.encode() not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, with_headers)


def create_ui(admin_api: ASGIApp) -> ASGIApp:
    """The dashboard; ``admin_api`` is the application mounted at ``/api``, the only one it calls."""
    routes = [
        Route("/", overview.overview),
        Route("/login", sign_in, methods=["GET", "POST"]),
        Route("/logout", sign_out, methods=["POST"]),
        Route("/events", events.list_events),
        Route("/events/{event_id}", events.event_page),
        Route("/events/{event_id}/replay", events.replay_event, methods=["POST"]),
        Route("/replays", replays.replays_page),
        Route("/replays", replays.start_replay, methods=["POST"]),
        Route("/deliveries", deliveries.deliveries),
        Route("/deliveries/redrive", deliveries.redrive, methods=["POST"]),
        Route("/targets/{workflow_id}/enable", deliveries.enable_target, methods=["POST"]),
        Route("/integrations", integrations.integrations_page),
        Route("/integrations/{integration_id}/captures/clear", integrations.clear_captures, methods=["POST"]),
        Route(
            "/integrations/{integration_id}/captures/{capture_id}/activate",
            integrations.activate_capture,
            methods=["POST"],
        ),
        Route("/destinations", destinations.destinations_page),
        Route("/destinations", destinations.save_destination, methods=["POST"]),
        Route("/destinations/{destination_id}/{action}", destinations.destination_action, methods=["POST"]),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    ui = Starlette(routes=routes)
    ui.state.admin_api = admin_api
    return SecurityHeaders(ui)
