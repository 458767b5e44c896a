"""The webhook routes answered directly, below Starlette's router and exception middleware.

Providers' webhooks are nearly all of a receiver's traffic, and per request Starlette's routing stack
(matching against every route of the application, the exception middleware, the request/response wrapper
and its send wrappers) cost more CPU than verifying and storing the event. ``FastRoutes`` sits inside
``RequestObserver`` and ``LoadShedding``, so request ids, the access log line, request metrics and shedding
see these requests exactly as before, and answers the few routes it is given itself:

- a route matched fully (path and method) runs its endpoint here, with the path parameters and the matched
  route in the scope as the router would have put them (the access log and metrics read the route's template);
- an exception the endpoint raises is answered by the same handler the application registers for it
  (``router.answers.HANDLERS``); one with no handler propagates, answered 500 by Starlette's outermost handler;
- anything else, a wrong method included, goes on to the application, whose router answers it (405 and all).

The routes stay in the application's route table too, so the application describes them as before.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from starlette.requests import Request
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from router.answers import Handler


class FastRoutes:
    def __init__(
        self, app: ASGIApp, *, routes: Sequence[Route], handlers: Mapping[type[Exception] | int, Handler]
    ) -> None:
        self.app = app
        self.routes = tuple(routes)
        self.handlers = {key: handler for key, handler in handlers.items() if isinstance(key, type)}
        # A cheap first test before any route's regex: every path these routes match starts with one of these.
        # (A path under a root_path misses it and goes the router's way, answered the same, only slower.)
        self._prefixes = tuple({route.path.split("{", 1)[0] for route in self.routes})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and str(scope["path"]).startswith(self._prefixes):
            for route in self.routes:
                match, child = route.matches(scope)
                if match is Match.FULL:
                    scope["route"] = route
                    scope.update(child)
                    await self._answer(route, scope, receive, send)
                    return
        await self.app(scope, receive, send)

    async def _answer(self, route: Route, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive, send)
        try:
            response = await route.endpoint(request)
        except Exception as exc:
            handler = self._handler(exc)
            if handler is None:
                raise  # a bug: Starlette's 500, with the traceback in the log
            response = await handler(request, exc)
            exc.__traceback__ = None  # as Starlette does: a reused exception instance must not grow its traceback
        # Sending and a response's background task (diagnostics of a rejection) fail only as bugs do: 500 and
        # the traceback, as under Starlette's router, which refuses to answer twice.
        await response(scope, receive, send)

    def _handler(self, exc: Exception) -> Any:
        for cls in type(exc).__mro__:
            if cls in self.handlers:
                return self.handlers[cls]
        return None
