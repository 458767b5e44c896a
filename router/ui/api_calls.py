"""Calling the admin API in-process: the dashboard's only way to read or change anything.

Each call runs the mounted ``/api`` application with the signed-in key as its Bearer token, so authentication,
the scope check, the audit record and every answer are the API's own; no socket, no second HTTP client.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlencode

from starlette.requests import Request
from starlette.types import ASGIApp, Message

JSON = Any


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    data: JSON  # the parsed JSON body (a problem document when status >= 400); None when it is not JSON

    @property
    def ok(self) -> bool:
        return self.status < 400

    @property
    def problem(self) -> str:
        """A problem document's detail (or title), for a page to show."""
        if isinstance(self.data, dict):
            return str(self.data.get("detail") or self.data.get("title") or self.data.get("code") or self.status)
        return str(self.status)


def segment(value: str) -> str:
    """One path segment of an id, percent-encoded (ids may hold `/` or `:`)."""
    return quote(value, safe="")


class AdminApi:
    """The admin API as the signed-in key sees it."""

    def __init__(self, api: ASGIApp, request: Request, key: str) -> None:
        self._api, self._request, self._key = api, request, key

    async def get(self, path: str, **query: str | int | None) -> Answer:
        return await self.call("GET", path, query=query)

    async def post(self, path: str, body: JSON = None) -> Answer:
        return await self.call("POST", path, body=body)

    async def put(self, path: str, body: JSON) -> Answer:
        return await self.call("PUT", path, body=body)

    async def delete(self, path: str) -> Answer:
        return await self.call("DELETE", path)

    async def call(
        self, method: str, path: str, *, query: dict[str, str | int | None] | None = None, body: JSON = None
    ) -> Answer:
        raw = b"" if body is None else json.dumps(body).encode()
        headers = [(b"authorization", f"Bearer {self._key}".encode()), (b"accept", b"application/json")]
        if body is not None:
            headers += [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
        pairs = {k: str(v) for k, v in (query or {}).items() if v not in (None, "")}
        outer = self._request.scope
        scope = {
            "type": "http",
            "asgi": outer.get("asgi", {"version": "3.0"}),
            "http_version": "1.1",
            "method": method,
            "scheme": outer.get("scheme", "http"),
            "server": outer.get("server"),
            "client": outer.get("client"),
            "root_path": "/api",
            # The full path and the mount's root_path, as a Mount hands them on; `path` comes percent-encoded.
            "path": "/api" + unquote(path),
            "raw_path": ("/api" + path).encode(),
            "query_string": urlencode(pairs).encode(),
            "headers": headers,
            "state": outer["state"],  # the lifespan's state: the same store, registry and cache the API reads
        }
        return await _run(self._api, scope, raw)


async def _run(app: ASGIApp, scope: dict[str, Any], body: bytes) -> Answer:
    sent = False
    status, chunks = 500, []

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    raw = b"".join(chunks)
    try:
        data = json.loads(raw) if raw else None
    except ValueError:
        data = None
    return Answer(status, data)
