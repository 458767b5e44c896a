"""Load shedding: beyond ``limit`` requests in progress, answer 503 at once instead of queueing.

A pure ASGI middleware (no body access, so nothing is read twice): when Redis stalls, requests that wait on
it pile up; past the limit, newcomers get 503 with Retry-After before their body is read, so memory and open
work stay bounded and providers retry later. ``/healthz`` is never refused: an overloaded process is alive.
"""

from __future__ import annotations

import json
import logging

from starlette.types import ASGIApp, Receive, Scope, Send

logger = logging.getLogger(__name__)

_EXEMPT = frozenset({"/healthz"})
_BODY = json.dumps({"error": "overloaded"}).encode()


class LoadShedding:
    def __init__(self, app: ASGIApp, *, limit: int, retry_after_s: int = 1) -> None:
        self.app = app
        self.limit = limit
        self.in_flight = 0
        self.refused = 0  # since start, for the logs and readiness
        self._retry_after = str(retry_after_s).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in _EXEMPT:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            self.refused += 1
            if self.refused == 1 or self.refused % 1000 == 0:
                logger.warning(
                    "overloaded: request refused", extra={"in_flight": self.in_flight, "refused": self.refused}
                )
            await _refuse(send, self._retry_after)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


async def _refuse(send: Send, retry_after: bytes) -> None:
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(_BODY)).encode()),
        (b"retry-after", retry_after),
    ]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": _BODY})
