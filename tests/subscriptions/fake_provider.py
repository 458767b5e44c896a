"""A provider API on a real loopback socket: Microsoft Graph subscriptions, ClickUp and Asana webhooks.

Records every call; ``fail`` queues statuses answered instead of the next calls (500, 429, 401, ...);
``delay_s`` slows every answer (to hold two workers in a race). ``handshake``, run on the test's event loop
``loop``, plays Asana's handshake: sent to the target while the create call waits for its answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

CLICKUP_SECRET = "clickup-returned-secret-0123456789"


@dataclass
class Call:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeProvider:
    calls: list[Call] = field(default_factory=list)
    failures: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    live: dict[str, Any] = field(default_factory=dict)
    delay_s: float = 0.0
    base: str = ""
    handshake: Callable[[str], Coroutine[Any, Any, int]] | None = None
    loop: asyncio.AbstractEventLoop | None = None

    def fail(self, status: int, **headers: str) -> None:
        self.failures.append((status, headers))

    def on(self, method: str, path_prefix: str = "") -> list[Call]:
        return [c for c in self.calls if c.method == method and c.path.startswith(path_prefix)]

    async def _record(self, request: Request) -> Response | None:
        raw = await request.body()
        body = json.loads(raw) if raw else None
        self.calls.append(Call(request.method, request.url.path, dict(request.headers), body))
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.failures:
            status, headers = self.failures.pop(0)
            return JSONResponse({"error": {"code": "failure"}}, status_code=status, headers=headers)
        return None

    async def graph_create(self, request: Request) -> Response:
        if (failed := await self._record(request)) is not None:
            return failed
        body = self.calls[-1].body
        sub_id = f"sub-{len(self.live) + 1}"
        self.live[sub_id] = body
        return JSONResponse({"id": sub_id, **body}, status_code=201)

    async def graph_one(self, request: Request) -> Response:
        if (failed := await self._record(request)) is not None:
            return failed
        sub_id = request.path_params["id"]
        if sub_id not in self.live:
            return JSONResponse({"error": {"code": "ResourceNotFound"}}, status_code=404)
        if request.method == "DELETE":
            del self.live[sub_id]
            return Response(status_code=204)
        self.live[sub_id] = {**self.live[sub_id], **self.calls[-1].body}
        return JSONResponse({"id": sub_id, **self.live[sub_id]})

    async def clickup_create(self, request: Request) -> Response:
        if (failed := await self._record(request)) is not None:
            return failed
        webhook_id = f"wh-{len(self.live) + 1}"
        self.live[webhook_id] = self.calls[-1].body
        return JSONResponse({"id": webhook_id, "webhook": {"id": webhook_id, "secret": CLICKUP_SECRET}})

    async def clickup_delete(self, request: Request) -> Response:
        if (failed := await self._record(request)) is not None:
            return failed
        self.live.pop(request.path_params["id"], None)
        return JSONResponse({})

    async def asana_create(self, request: Request) -> Response:
        if (failed := await self._record(request)) is not None:
            return failed
        target = self.calls[-1].body["data"]["target"]
        if self.handshake is not None and self.loop is not None:
            status = await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self.handshake(target), self.loop))
            if status != 200:  # Asana creates nothing when the target does not answer its handshake
                return JSONResponse({"errors": [{"message": "handshake failed"}]}, status_code=400)
        gid = f"as-{len(self.live) + 1}"
        self.live[gid] = target
        return JSONResponse({"data": {"gid": gid, "target": target}}, status_code=201)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/graph/subscriptions", self.graph_create, methods=["POST"]),
                Route("/graph/subscriptions/{id}", self.graph_one, methods=["PATCH", "DELETE"]),
                Route("/clickup/team/{team}/webhook", self.clickup_create, methods=["POST"]),
                Route("/clickup/webhook/{id}", self.clickup_delete, methods=["DELETE"]),
                Route("/asana/webhooks", self.asana_create, methods=["POST"]),
            ]
        )

    @property
    def api_bases(self) -> dict[str, str]:
        return {"graph": f"{self.base}/graph", "clickup": f"{self.base}/clickup"}


class Served(Protocol):
    base: str

    def app(self) -> Starlette: ...


ServedT = TypeVar("ServedT", bound=Served)


@contextlib.contextmanager
def serve_in_thread(provider: ServedT) -> Iterator[ServedT]:
    """uvicorn in a thread on 127.0.0.1, port chosen by the OS (STYLE 3.11)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(provider.app(), lifespan="off", log_level="warning", ws="none"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("loopback provider did not start")
        time.sleep(0.01)
    provider.base = f"http://127.0.0.1:{port}"
    try:
        yield provider
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        sock.close()
