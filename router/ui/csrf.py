"""CSRF protection for every form: the session cookie is already ``SameSite=Strict``; each form also carries a
token the server compares in constant time, so a request forged from another site (or an older browser that
ignores SameSite) is refused with 403.

Signed-in forms carry the session's own token; the sign-in form, before there is a session, a random token
also set in a short-lived cookie (double submit).
"""

from __future__ import annotations

import hmac
import secrets

from starlette.requests import Request
from starlette.responses import Response

from router.ui.session import Session, secure

FIELD = "csrf"
SIGN_IN_COOKIE = "hr_ui_signin"


def matches(expected: str, given: object) -> bool:
    return isinstance(given, str) and bool(expected) and hmac.compare_digest(expected.encode(), given.encode())


async def check(request: Request, session: Session) -> bool:
    """Whether a signed-in form's token is the session's."""
    form = await request.form()
    return matches(session.csrf, form.get(FIELD))


def sign_in_token(request: Request) -> str:
    return request.cookies.get(SIGN_IN_COOKIE) or secrets.token_urlsafe(32)


def set_sign_in_cookie(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        SIGN_IN_COOKIE, token, max_age=3600, path="/ui", httponly=True, samesite="strict", secure=secure(request)
    )


async def check_sign_in(request: Request) -> bool:
    form = await request.form()
    return matches(request.cookies.get(SIGN_IN_COOKIE, ""), form.get(FIELD))
