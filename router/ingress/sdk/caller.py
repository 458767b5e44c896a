"""What the SDK endpoints (App Events, Request triggers, the user-state endpoints) share at the edge: who is
calling, for which project, with which credential, and how a refusal is answered.

Checks run in an order that leaks nothing to a stranger: the project (404), then the user token
(401/403); only an authenticated caller learns about event names, workflows and credentials.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from starlette.requests import Request

from router.errors import RouterError
from router.ingress.sdk.users import ensure_user
from router.ingress.sdk.usertoken import TokenRejected, admit, bearer, subject
from router.runtime.state import State
from subscriptions.models import ConnectedUser, Credential, Project

logger = logging.getLogger(__name__)

# The platform's header, and ours: either names the connected account to act for.
CREDENTIAL_HEADERS = ("x-hook-credential", "x-paragon-credential")


class Refused(RouterError):
    """A request the SDK endpoints turn down: ``status`` and a stable ``code``, plus extra JSON fields."""

    def __init__(self, status: int, code: str, **extra: object) -> None:
        super().__init__(code)
        self.status = status
        self.code = self.reason = code
        self.extra = extra

    def answer(self) -> tuple[dict[str, object], dict[str, str] | None]:
        headers = {"www-authenticate": f'Bearer error="invalid_token", error_description="{self.code}"'}
        return {"error": self.code, **self.extra}, headers if self.status == 401 else None


@dataclass(frozen=True, slots=True)
class Caller:
    project: Project
    user: ConnectedUser
    credential: Credential | None  # named by a credential header; None: the user's own choice applies


async def identify(request: Request, state: State) -> Caller:
    """The authenticated caller of an SDK endpoint, or Refused. A valid token for a user the registry does not
    know yet creates that user (``router.ingress.sdk.users``)."""
    snapshot = state["cache"].current
    project = snapshot.projects.get(request.path_params["project_id"])
    if project is None:
        raise Refused(404, "unknown_project")
    try:
        token = bearer(request.headers.get("authorization"))
        settings = state["settings"]
        sub = subject(
            token, project, leeway_s=settings.user_token_leeway_s, max_lifetime_s=settings.user_token_max_lifetime_s
        )
        known = snapshot.users.get(sub)
        user = admit(known if known is not None else await ensure_user(state, project, sub), project)
    except TokenRejected as exc:
        logger.info("rejected user token", extra={"project": project.id, "reason": exc.reason})
        raise Refused(exc.status, exc.reason) from None
    named = next((v for h in CREDENTIAL_HEADERS if (v := request.headers.get(h))), "")
    credential = None
    if named:
        credential = state["cache"].current.credentials.get(named)
        # Someone else's credential is "unknown" too: its existence is none of this caller's business.
        if credential is None or credential.user != user.id or credential.project != project.id:
            raise Refused(404, "unknown_credential", message=f"no credential {named!r} for this user")
    return Caller(project, user, credential)
