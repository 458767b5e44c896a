"""Loopback HTTP targets for delivery tests: real sockets on 127.0.0.1, ports chosen by the OS (STYLE 3.11).

- ``http_sink(...)``: uvicorn + Starlette in a thread. Each request gets the next scripted ``Reply``
  (status, headers, body, a stall before answering, a drip between body bytes), or the default once
  the script runs out. Every request is recorded (method, path, headers, body) on arrival, so a
  request the client gave up on still counts.
- ``raw_server(handler)``: a bare TCP listener for what HTTP frameworks won't do on purpose: close
  without answering, or drip the status line itself.
- ``refused_url()``: a URL on a port nothing listens on.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

__all__ = ["HttpSink", "Received", "Reply", "http_sink", "raw_server", "read_request_head", "refused_url"]

_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


@dataclass(frozen=True, slots=True)
class Reply:
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay_s: float = 0.0  # stall before sending the status line
    drip_s: float = 0.0  # after the headers, pause this long before each body byte


@dataclass(frozen=True, slots=True)
class Received:
    method: str
    path: str
    query: str
    headers: dict[str, str]  # lower-cased names
    body: bytes
    at: float  # time.time() on arrival


class HttpSink:
    """A scripted HTTP target. Thread-safe: the server runs in its own thread and event loop."""

    def __init__(self, default: Reply | None = None) -> None:
        self.default = default or Reply()
        self.base = ""  # set once listening: http://127.0.0.1:<port>
        self._script: deque[Reply] = deque()
        self._received: list[Received] = []
        self._cond = threading.Condition()
        self._closing = threading.Event()

    def url(self, path: str = "/hook") -> str:
        return self.base + path

    def script(self, *replies: Reply | int) -> None:
        """Queue replies for the next requests, in order; a bare int is ``Reply(status)``."""
        with self._cond:
            self._script.extend(r if isinstance(r, Reply) else Reply(r) for r in replies)

    def reset(self, default: Reply | None = None) -> None:
        """Forget the script and what was received, so one running sink can serve many tests."""
        with self._cond:
            self.default = default or Reply()
            self._script.clear()
            self._received.clear()

    @property
    def received(self) -> list[Received]:
        with self._cond:
            return list(self._received)

    def wait_received(self, count: int, timeout_s: float = 5.0) -> list[Received]:
        """Block until ``count`` requests arrived (from sync code or another thread)."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._received) >= count, timeout=timeout_s):
                raise TimeoutError(f"{len(self._received)} of {count} requests within {timeout_s}s")
            return list(self._received)

    async def received_async(self, count: int, timeout_s: float = 5.0) -> list[Received]:
        """``wait_received`` for async tests: polls, so the test's event loop keeps running."""
        deadline = time.monotonic() + timeout_s
        while len(got := self.received) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(got)} of {count} requests within {timeout_s}s")
            await asyncio.sleep(0.01)
        return got

    async def _sleep(self, seconds: float) -> None:
        # Short steps, so closing the sink ends a stalled handler at once instead of after its delay.
        end = time.monotonic() + seconds
        while not self._closing.is_set() and (left := end - time.monotonic()) > 0:
            await asyncio.sleep(min(left, 0.02))

    async def _handle(self, request: Request) -> Response:
        body = await request.body()
        received = Received(
            request.method,
            request.url.path,
            request.url.query,
            {k.lower(): v for k, v in request.headers.items()},
            body,
            time.time(),
        )
        with self._cond:
            self._received.append(received)
            self._cond.notify_all()
            reply = self._script.popleft() if self._script else self.default
        await self._sleep(reply.delay_s)
        if reply.drip_s <= 0:
            return Response(reply.body, status_code=reply.status, headers=dict(reply.headers))

        async def drip() -> AsyncIterator[bytes]:
            for i in range(len(reply.body)):
                await self._sleep(reply.drip_s)
                yield reply.body[i : i + 1]

        return StreamingResponse(drip(), status_code=reply.status, headers=dict(reply.headers))

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{path:path}", self._handle, methods=_METHODS)])


def _listening_socket() -> tuple[socket.socket, int]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    return sock, port


@contextlib.contextmanager
def http_sink(*replies: Reply | int, default: Reply | None = None) -> Iterator[HttpSink]:
    """A running ``HttpSink`` with ``replies`` already scripted."""
    sink = HttpSink(default)
    sink.script(*replies)
    sock, port = _listening_socket()
    config = uvicorn.Config(sink.app(), lifespan="off", log_level="warning", ws="none", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("loopback sink did not start")
        time.sleep(0.01)
    sink.base = f"http://127.0.0.1:{port}"
    try:
        yield sink
    finally:
        sink._closing.set()
        server.should_exit = True
        thread.join(timeout=5)
        sock.close()


@contextlib.contextmanager
def raw_server(handler: Callable[[socket.socket], object]) -> Iterator[str]:
    """A TCP listener calling ``handler(conn)`` per connection in a thread; yields its base URL.

    The handler owns the connection's bytes; the server closes it when the handler returns.
    """
    sock, port = _listening_socket()
    sock.listen()
    sock.settimeout(0.05)
    stop = threading.Event()
    workers: list[threading.Thread] = []

    def serve(conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            handler(conn)

    def accept_loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(5)
            worker = threading.Thread(target=serve, args=(conn,), daemon=True)
            workers.append(worker)
            worker.start()

    acceptor = threading.Thread(target=accept_loop, daemon=True)
    acceptor.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop.set()
        acceptor.join(timeout=5)
        for worker in workers:
            worker.join(timeout=5)
        sock.close()


def read_request_head(conn: socket.socket) -> bytes:
    """Read up to the end of the request headers (enough for ``raw_server`` handlers to reply)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def refused_url(path: str = "/hook") -> str:
    """A URL on a loopback port that was just free: connecting is refused."""
    sock, port = _listening_socket()
    sock.close()  # never listened: connections get RST at once
    return f"http://127.0.0.1:{port}{path}"
