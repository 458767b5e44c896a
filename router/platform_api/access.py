"""Who may call the platform's API: an admin API key holding the project's scope (``project:<id>:read``, or
``:write`` for a replay) or ``operator``, within its rate limit. The same keys and the same refusals as the admin
API (401, 403 naming the scope), plus 429 with ``Retry-After`` once a key has made its window's requests.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from router.admin import scopes
from router.admin.guard import Caller, authenticate, refusal
from router.admin.problems import problem
from router.platform_api.rate_limit import LIMIT, WINDOW_S, RateLimit
from router.runtime.state import app_state

READ = scopes.read(scopes.path("project_id"))
WRITE = scopes.write(scopes.path("project_id"))


async def admit(request: Request, rule: scopes.Rule) -> Caller | Response:
    """The caller, or the answer that refuses it."""
    caller = await authenticate(request)
    if isinstance(caller, str):
        return problem(401, caller, headers={"www-authenticate": "Bearer"})
    # Counted before the scope check: a key probing projects it may not read spends its requests doing so.
    state = app_state(request)
    wait_s = await RateLimit(state["store"], state["keys"]).take(caller.actor)
    if wait_s:
        detail = f"at most {LIMIT} requests per {WINDOW_S / 60:g} minutes per key; retry in {wait_s} s"
        return problem(429, "rate_limited", detail, headers={"retry-after": str(wait_s)})
    request.state.caller = caller  # for the audit record of a write
    return await refusal(request, rule, caller.scopes) or caller
