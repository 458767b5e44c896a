"""The dashboard's session: the signed-in API key, sealed into an HttpOnly cookie.

The cookie holds the key AES-GCM-sealed with the master key (``subscriptions.crypto``), its expiry and the
session's CSRF token; a browser script can read none of it, a stolen copy stops working at its expiry, and the
server keeps no session state. Every request re-checks the key with the admin API, so a revoked key signs the
session out at once.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from router.runtime.state import app_state
from subscriptions.errors import SecretError

COOKIE = "hr_ui_session"
LIFETIME_S = 8 * 3600  # a working day; then the operator signs in again
_CONTEXT = ("ui", "session")


@dataclass(frozen=True, slots=True)
class Session:
    key: str  # the admin API key (or the admin token) the pages call the API with
    csrf: str  # the token every form of this session carries back
    expires_at: float


def start(request: Request, key: str, *, now: float | None = None) -> tuple[Session, str]:
    """A new session for ``key`` and the sealed cookie value that carries it."""
    session = Session(key, secrets.token_urlsafe(32), (time.time() if now is None else now) + LIFETIME_S)
    payload = json.dumps({"key": session.key, "csrf": session.csrf, "exp": session.expires_at})
    return session, app_state(request)["registry"].box.seal(payload, context=_CONTEXT)


def current(request: Request, *, now: float | None = None) -> Session | None:
    """The request's session, or None when it has none, or one that is forged, damaged or expired."""
    sealed = request.cookies.get(COOKIE)
    if not sealed:
        return None
    try:
        data = json.loads(app_state(request)["registry"].box.open(sealed, context=_CONTEXT))
        session = Session(str(data["key"]), str(data["csrf"]), float(data["exp"]))
    except (SecretError, ValueError, KeyError, TypeError):
        return None
    if session.expires_at <= (time.time() if now is None else now):
        return None
    return session


def secure(request: Request) -> bool:
    # Secure whenever the browser reached us over TLS (directly, or through a configured proxy uvicorn trusts).
    return request.url.scheme == "https"


def set_cookie(response: Response, request: Request, sealed: str) -> None:
    response.set_cookie(
        COOKIE,
        sealed,
        max_age=LIFETIME_S,
        path="/ui",
        httponly=True,
        samesite="strict",
        secure=secure(request),
    )


def clear_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(COOKIE, path="/ui", httponly=True, samesite="strict", secure=secure(request))
