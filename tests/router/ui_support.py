"""Signing in to the dashboard from a test client: the sign-in form's CSRF token, then the session cookie."""

from __future__ import annotations

import re

import httpx

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


async def sign_in(http: httpx.AsyncClient, key: str) -> str:
    """Sign in with ``key``; the session's CSRF token (read from the overview's sign-out form)."""
    form = await http.get("/ui/login")
    answer = await http.post("/ui/login", data={"key": key, "csrf": csrf_of(form.text), "next": "/ui/"})
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/ui/"
    page = await http.get("/ui/events")
    assert page.status_code == 200, page.text
    return csrf_of(page.text)
