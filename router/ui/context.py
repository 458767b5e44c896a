"""What every page handler starts from: the signed-in session, the admin API as its key sees it, and rendering."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import jinja2
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp

from router.admin.guard import Caller, authenticate
from router.ui import csrf
from router.ui.api_calls import AdminApi
from router.ui.session import Session, current
from subscriptions.api_keys import OPERATOR
from verifiers._core import escape_surrogates

HERE = Path(__file__).parent
# Every value is escaped, whatever the template's name: pages show provider-controlled text (bodies, headers).
templates = Jinja2Templates(env=jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True))


def _iso(value: float | int | str | None, *, ms: bool = False) -> str:
    if value in (None, ""):
        return ""
    seconds = float(value) / (1000 if ms else 1)
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _pretty(body: str | None) -> str:
    try:
        text = json.dumps(json.loads(body or ""), indent=2, ensure_ascii=False)
    except (ValueError, RecursionError):  # not JSON, or nested deeper than the parser goes: shown as it came
        return body or ""
    # A provider's body may escape a lone UTF-16 surrogate ("\ud800"): parsed, it is a character no page can be
    # encoded with, so it is shown as the escape it came as (inside a JSON string, where it stands).
    return escape_surrogates(text)


templates.env.filters["iso_ms"] = lambda v: _iso(v, ms=True)
templates.env.filters["iso_s"] = _iso
templates.env.filters["pretty"] = _pretty
templates.env.filters["urlencode_query"] = lambda d: urlencode({k: v for k, v in d.items() if v})


@dataclass(slots=True)
class Page:
    request: Request
    session: Session
    caller: Caller
    api: AdminApi
    flash: list[tuple[str, str]] = field(default_factory=list)  # (kind, message) shown above the page
    picker: list[str] = field(default_factory=list)  # the projects the header's picker offers (several, or none)
    project: str | None = None  # the project chosen in the picker; None: every project (the operator's default)

    @property
    def operator(self) -> bool:
        return OPERATOR in self.caller.scopes

    @property
    def can_write(self) -> bool:
        """Whether to show write controls: the API still checks each write against the key's scopes."""
        return self.operator or any(s.endswith(":write") for s in self.caller.scopes)

    def projects_in_scope(self) -> list[str]:
        return sorted({s.split(":")[1] for s in self.caller.scopes if s.startswith("project:")})

    async def choose_project(self) -> None:
        """The project the pages show, from ``?project=``: any for the operator (none chosen: every project), one of
        its own for a project key (none chosen: its first). A project the key cannot read is said so, not a 403."""
        asked = self.request.query_params.get("project", "").strip() or None
        reachable = await self.projects()
        self.picker = reachable if self.operator or len(reachable) > 1 else []
        if self.operator:
            self.project = asked
            return
        if asked is not None and asked not in reachable:
            shown = ", ".join(reachable) or "none"
            self.flash.append(("error", f"This key cannot read project {asked} (it reads: {shown})."))
        self.project = asked if asked in reachable else (reachable[0] if reachable else None)

    async def projects(self) -> list[str]:
        """The projects this key may read: every project for the operator, else those its scopes name."""
        if not self.operator:
            return self.projects_in_scope()
        answer = await self.api.get("/projects", limit=1000)
        return [p["id"] for p in answer.data["data"]] if answer.ok else []

    def with_project(self, href: str) -> str:
        """A link to another page that keeps the chosen project."""
        if self.project is None or not self.picker:
            return href
        return f"{href}{'&' if '?' in href else '?'}project={quote(self.project, safe='')}"

    def render(self, template: str, *, status: int = 200, **values: Any) -> Response:
        context = {
            "page": self,
            "csrf_field": csrf.FIELD,
            "csrf_token": self.session.csrf,
            "path": self.request.url.path,
            "with_project": self.with_project,
            **values,
        }
        response: Response = templates.TemplateResponse(self.request, template, context, status_code=status)
        return response


def api_app(request: Request) -> ASGIApp:
    app: ASGIApp = request.app.state.admin_api
    return app


async def open_page(request: Request) -> Page | Response:
    """The signed-in page, or the redirect to sign in (no session, or its key no longer valid)."""
    session = current(request)
    if session is None:
        return RedirectResponse(f"/ui/login?next={request.url.path}", status_code=303)
    caller = await caller_of(request, session.key)
    if caller is None:
        return RedirectResponse("/ui/login?expired=1", status_code=303)
    page = Page(request, session, caller, AdminApi(api_app(request), request, session.key))
    if request.method == "GET":
        await page.choose_project()
    return page


async def caller_of(request: Request, key: str) -> Caller | None:
    # The API's own authentication, on a request carrying the key as a Bearer token.
    scope = {**request.scope, "headers": [(b"authorization", f"Bearer {key}".encode())]}
    found = await authenticate(Request(scope))
    return None if isinstance(found, str) else found


async def confirmed(page: Page, *, question: str, detail: str, button: str, back: str) -> Response | None:
    """None when the form says it was confirmed; else the page asking to confirm it (the same form again, with
    ``confirm=yes``): nothing is destroyed by one click, and no script is needed to ask."""
    form = await page.request.form()
    if form.get("confirm") == "yes":
        return None
    return page.render(
        "confirm.html",
        title=question,
        question=question,
        detail=detail,
        button=button,
        back=back,
        action=page.request.scope.get("raw_path", b"").decode("latin-1") or page.request.url.path,
    )


async def open_form(request: Request) -> Page | Response:
    """A signed-in page for a form post: 403 unless the form carries the session's CSRF token."""
    page = await open_page(request)
    if isinstance(page, Page) and not await csrf.check(request, page.session):
        return page.render("error.html", status=403, title="Form expired", message="Reload the page and try again.")
    return page
